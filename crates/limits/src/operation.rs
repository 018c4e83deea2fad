//! Metered operations.

use std::fmt;
use std::str::FromStr;

/// A metered API operation. Its [`Operation::as_str`] name is stable: it is
/// stored in the usage table, returned by `GET /v1/usage` and used as a
/// Prometheus label value.
///
/// Not metered (and so not listed): health, usage, OpenAPI, `/.well-known`,
/// metrics and admin operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// `POST /v1/records`.
    RecordsCreate,
    /// `GET /v1/records/{id}`.
    RecordsGet,
    /// `GET /v1/records`.
    RecordsList,
    /// `DELETE /v1/records/{id}`.
    RecordsDelete,
    /// `POST /v1/encrypt`.
    Encrypt,
    /// `POST /v1/decrypt`.
    Decrypt,
    /// `POST /v1/rewrap`.
    Rewrap,
    /// `POST /v1/blind-index`.
    BlindIndex,
    /// `POST /v1/ai/analyze`.
    AiAnalyze,
}

impl Operation {
    /// Every metered operation, in a stable order.
    pub const ALL: [Operation; 9] = [
        Operation::RecordsCreate,
        Operation::RecordsGet,
        Operation::RecordsList,
        Operation::RecordsDelete,
        Operation::Encrypt,
        Operation::Decrypt,
        Operation::Rewrap,
        Operation::BlindIndex,
        Operation::AiAnalyze,
    ];

    /// The stable snake_case name (`records_create`, `blind_index`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::RecordsCreate => "records_create",
            Operation::RecordsGet => "records_get",
            Operation::RecordsList => "records_list",
            Operation::RecordsDelete => "records_delete",
            Operation::Encrypt => "encrypt",
            Operation::Decrypt => "decrypt",
            Operation::Rewrap => "rewrap",
            Operation::BlindIndex => "blind_index",
            Operation::AiAnalyze => "ai_analyze",
        }
    }
}

impl Operation {
    /// The metered operation of a route, from its HTTP method and its route
    /// template (axum's `MatchedPath`, e.g. `/v1/records/{id}`); `None` for
    /// unmetered routes (health, usage, OpenAPI, `/.well-known`, metrics,
    /// admin, attestation, jobs…). Templates are compared segment by
    /// segment; any `{param}` segment matches a parameter.
    pub fn for_route(method: &axum::http::Method, route: &str) -> Option<Operation> {
        use axum::http::Method;
        let segments: Vec<&str> = route.trim_end_matches('/').split('/').collect();
        let is_param = |s: &str| s.starts_with('{') && s.ends_with('}') && s.len() > 2;
        match (method, segments.as_slice()) {
            (&Method::POST, ["", "v1", "records"]) => Some(Operation::RecordsCreate),
            (&Method::GET, ["", "v1", "records"]) => Some(Operation::RecordsList),
            (&Method::GET, ["", "v1", "records", id]) if is_param(id) => {
                Some(Operation::RecordsGet)
            }
            (&Method::DELETE, ["", "v1", "records", id]) if is_param(id) => {
                Some(Operation::RecordsDelete)
            }
            (&Method::POST, ["", "v1", "encrypt"]) => Some(Operation::Encrypt),
            (&Method::POST, ["", "v1", "decrypt"]) => Some(Operation::Decrypt),
            (&Method::POST, ["", "v1", "rewrap"]) => Some(Operation::Rewrap),
            (&Method::POST, ["", "v1", "blind-index"]) => Some(Operation::BlindIndex),
            (&Method::POST, ["", "v1", "ai", "analyze"]) => Some(Operation::AiAnalyze),
            _ => None,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of [`Operation::ALL`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown operation name")]
pub struct UnknownOperation;

impl FromStr for Operation {
    type Err = UnknownOperation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operation::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or(UnknownOperation)
    }
}

impl serde::Serialize for Operation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Operation {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom("unknown operation name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_snake_case() {
        for op in Operation::ALL {
            let name = op.as_str();
            assert!(name.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'));
            assert_eq!(name.parse::<Operation>(), Ok(op));
            let json = serde_json::to_string(&op).unwrap_or_default();
            assert_eq!(json, format!("\"{name}\""));
            let back: Operation = serde_json::from_str(&json).unwrap_or(Operation::Encrypt);
            assert_eq!(back, op);
        }
        assert_eq!("records.create".parse::<Operation>(), Err(UnknownOperation));
    }

    #[test]
    fn routes_map_to_operations() {
        use axum::http::Method;
        let cases = [
            (Method::POST, "/v1/records", Some(Operation::RecordsCreate)),
            (Method::GET, "/v1/records", Some(Operation::RecordsList)),
            (Method::GET, "/v1/records/{id}", Some(Operation::RecordsGet)),
            (
                Method::DELETE,
                "/v1/records/{record_id}",
                Some(Operation::RecordsDelete),
            ),
            (Method::POST, "/v1/encrypt", Some(Operation::Encrypt)),
            (Method::POST, "/v1/decrypt", Some(Operation::Decrypt)),
            (Method::POST, "/v1/rewrap", Some(Operation::Rewrap)),
            (Method::POST, "/v1/blind-index", Some(Operation::BlindIndex)),
            (Method::POST, "/v1/ai/analyze", Some(Operation::AiAnalyze)),
            (Method::GET, "/v1/health", None),
            (Method::GET, "/v1/usage", None),
            (Method::GET, "/v1/openapi.json", None),
            (Method::GET, "/.well-known/zenalyze", None),
            (Method::GET, "/metrics", None),
            (Method::GET, "/v1/encrypt", None),
            (Method::GET, "/v1/records/abc", None),
            (Method::GET, "/v1/records/{}", None),
            (Method::GET, "/v1/ai/jobs/{id}", None),
            (Method::GET, "/v1/ai/attestation", None),
            (Method::POST, "/v1/admin/tenants", None),
        ];
        for (m, route, op) in cases {
            assert_eq!(Operation::for_route(&m, route), op, "{m} {route}");
        }
        assert!(serde_json::from_str::<Operation>("\"health\"").is_err());
    }
}
