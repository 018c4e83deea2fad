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
        assert!(serde_json::from_str::<Operation>("\"health\"").is_err());
    }
}
