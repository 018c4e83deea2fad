//! The hash-chained audit log (SPEC §7, HIPAA §164.312(b)).
//!
//! # Event
//!
//! An [`AuditEvent`] has exactly these fields: `seq` (1, 2, 3… gap-free),
//! `time` (RFC 3339 UTC, always `YYYY-MM-DDTHH:MM:SS.ffffffZ`), `tenant_id`
//! (optional: e.g. a refused request whose key matched no tenant), `actor`
//! (an API key id `key_…`, or `admin`, `cli`, `system`, `anonymous`),
//! `subject` (optional opaque user id), `operation` (`[a-z0-9._:-]{1,64}`),
//! `resource_id` (optional opaque id), `result` (`success`, `denied`,
//! `not_found`, `invalid`, `conflict`, `rate_limited`, `error`),
//! `request_id`, `prev_hash` and `hash`.
//!
//! Events are written only from an [`AuditDraft`], whose fields are typed
//! identifiers and enumerations: there is no free-text field, so plaintext,
//! keys, tokens or PHI have no way in.
//!
//! # Canonical encoding (v1)
//!
//! `hash = SHA-256(prev_hash ‖ canonical(event))`, with the genesis
//! `prev_hash` = 32 zero bytes, and `canonical(event)` the concatenation of:
//!
//! 1. the 18 ASCII bytes `zenalyze.audit.v1\n` (domain separation);
//! 2. `seq` as an unsigned 64-bit big-endian integer;
//! 3. then, in this order, `time`, `tenant_id`, `actor`, `subject`,
//!    `operation`, `resource_id`, `result`, `request_id`, each encoded as
//!    * a required field (`time`, `actor`, `operation`, `result`,
//!      `request_id`): its UTF-8 length as an unsigned 32-bit big-endian
//!      integer, then its UTF-8 bytes;
//!    * an optional field (`tenant_id`, `subject`, `resource_id`): one byte
//!      `0x00` when absent; otherwise `0x01`, the 32-bit big-endian length
//!      and the UTF-8 bytes.
//!
//! The encoding is injective (length prefixes, presence bytes), so no two
//! distinct events share a canonical form. [`canonical_bytes`] implements
//! it and `docs/audit.md` carries a worked example.
//!
//! # Verification
//!
//! [`ChainVerifier`] is the pure core of `verify`: fed the events in `seq`
//! order it reports the first sequence number at which the chain breaks
//! (a missing, edited, inserted or reordered event), then checks the stored
//! chain head against the last event (which catches a truncated tail).

use crate::error::StoreError;
use crate::ids::{ApiKeyId, OpaqueId, TenantId, UserId};
use std::fmt;
use time::OffsetDateTime;

/// The genesis `prev_hash`: 32 zero bytes.
pub const GENESIS_HASH: [u8; 32] = [0u8; 32];

/// The domain-separation tag that starts every canonical event.
pub const CANONICAL_TAG: &[u8; 18] = b"zenalyze.audit.v1\n";

/// Who performed an audited operation.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A tenant's API key (by id; never the secret).
    ApiKey(ApiKeyId),
    /// A platform administrator through the admin API.
    Admin,
    /// The operator's command line (`zenalyze …`).
    Cli,
    /// The platform itself (background jobs, retention).
    System,
    /// An unauthenticated caller (e.g. a refused request without a valid key).
    Anonymous,
}

impl Actor {
    /// The actor as stored: the key id, or `admin|cli|system|anonymous`.
    pub fn as_str(&self) -> &str {
        match self {
            Actor::ApiKey(id) => id.as_str(),
            Actor::Admin => "admin",
            Actor::Cli => "cli",
            Actor::System => "system",
            Actor::Anonymous => "anonymous",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "admin" => Ok(Actor::Admin),
            "cli" => Ok(Actor::Cli),
            "system" => Ok(Actor::System),
            "anonymous" => Ok(Actor::Anonymous),
            other => ApiKeyId::parse(other)
                .map(Actor::ApiKey)
                .map_err(|_| StoreError::InvalidInput("actor")),
        }
    }
}

impl fmt::Debug for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Actor({})", self.as_str())
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of an audited operation: 1 to 64 characters from
/// `[a-z0-9._:-]`, e.g. `records.create`, `api_keys.revoke`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Operation(String);

impl Operation {
    /// Parses an operation name.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        crate::model::validate_operation_name(s)?;
        Ok(Self(s.to_owned()))
    }

    /// The operation name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Operation({})", self.0)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The result of an audited operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditResult {
    /// It succeeded.
    Success,
    /// Authentication or authorisation refused it.
    Denied,
    /// The resource does not exist (or belongs to another tenant).
    NotFound,
    /// The request was malformed.
    Invalid,
    /// It conflicted with existing state (duplicate, idempotency clash).
    Conflict,
    /// A rate limit or quota refused it.
    RateLimited,
    /// It failed on the server side.
    Error,
}

impl AuditResult {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditResult::Success => "success",
            AuditResult::Denied => "denied",
            AuditResult::NotFound => "not_found",
            AuditResult::Invalid => "invalid",
            AuditResult::Conflict => "conflict",
            AuditResult::RateLimited => "rate_limited",
            AuditResult::Error => "error",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "success" => AuditResult::Success,
            "denied" => AuditResult::Denied,
            "not_found" => AuditResult::NotFound,
            "invalid" => AuditResult::Invalid,
            "conflict" => AuditResult::Conflict,
            "rate_limited" => AuditResult::RateLimited,
            "error" => AuditResult::Error,
            _ => return Err(StoreError::InvalidInput("audit result")),
        })
    }
}

impl fmt::Display for AuditResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An audit event before the store gives it a `seq`, a `time` and its place
/// in the chain. Only typed identifiers fit in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditDraft {
    /// The tenant whose data was touched (`None` when no tenant could be
    /// identified, e.g. an unknown API key).
    pub tenant_id: Option<TenantId>,
    /// Who did it.
    pub actor: Actor,
    /// The end user concerned, if any.
    pub subject: Option<UserId>,
    /// What was done.
    pub operation: Operation,
    /// The resource concerned, if any. For mutations that create a resource
    /// the store fills it in when left `None`.
    pub resource_id: Option<OpaqueId>,
    /// How it ended. For mutations the store may overwrite it with
    /// `not_found`/`conflict` when the mutation did not apply (see
    /// [`crate::Outcome`]).
    pub result: AuditResult,
    /// The request id (`X-Request-Id`).
    pub request_id: OpaqueId,
}

impl AuditDraft {
    /// A draft with the required fields; set the optional ones with the
    /// builder methods.
    pub fn new(
        actor: Actor,
        operation: Operation,
        result: AuditResult,
        request_id: OpaqueId,
    ) -> Self {
        Self {
            tenant_id: None,
            actor,
            subject: None,
            operation,
            resource_id: None,
            result,
            request_id,
        }
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant_id: TenantId) -> Self {
        self.tenant_id = Some(tenant_id);
        self
    }

    /// Sets the subject (end user).
    pub fn subject(mut self, subject: UserId) -> Self {
        self.subject = Some(subject);
        self
    }

    /// Sets the resource id.
    pub fn resource(mut self, resource_id: impl Into<OpaqueId>) -> Self {
        self.resource_id = Some(resource_id.into());
        self
    }

    /// Sets the result.
    pub fn result(mut self, result: AuditResult) -> Self {
        self.result = result;
        self
    }

    /// Seals the draft into the event at `seq` after `prev_hash`.
    pub fn seal(&self, seq: u64, time: OffsetDateTime, prev_hash: [u8; 32]) -> AuditEvent {
        let mut event = AuditEvent {
            seq,
            time: format_time(time),
            tenant_id: self.tenant_id.as_ref().map(|t| t.as_str().to_owned()),
            actor: self.actor.as_str().to_owned(),
            subject: self.subject.as_ref().map(|s| s.as_str().to_owned()),
            operation: self.operation.as_str().to_owned(),
            resource_id: self.resource_id.as_ref().map(|r| r.as_str().to_owned()),
            result: self.result.as_str().to_owned(),
            request_id: self.request_id.as_str().to_owned(),
            prev_hash,
            hash: [0u8; 32],
        };
        event.hash = event.compute_hash();
        event
    }
}

/// Formats a time the way events store it: RFC 3339, UTC, exactly six
/// fractional digits and `Z` (`2026-11-25T17:47:58.123456Z`).
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// A stored audit event, exactly as it sits in the database (strings as
/// stored, so verification hashes what is really there).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEvent {
    /// Position in the chain, from 1, gap-free.
    pub seq: u64,
    /// RFC 3339 UTC time.
    pub time: String,
    /// Tenant id, if any.
    pub tenant_id: Option<String>,
    /// Actor.
    pub actor: String,
    /// Subject (opaque user id), if any.
    pub subject: Option<String>,
    /// Operation.
    pub operation: String,
    /// Resource id, if any.
    pub resource_id: Option<String>,
    /// Result.
    pub result: String,
    /// Request id.
    pub request_id: String,
    /// Hash of the previous event (zeros for `seq` 1), hex in JSON.
    #[serde(with = "hex32")]
    pub prev_hash: [u8; 32],
    /// `SHA-256(prev_hash ‖ canonical(event))`, hex in JSON.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

fn put_required(out: &mut Vec<u8>, s: &str) {
    // Fields are bounded far below 4 GiB by validation; saturate anyway
    // rather than truncate silently.
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_optional(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_required(out, s);
        }
    }
}

/// The canonical encoding v1 of an event's content (see the module docs).
/// `prev_hash` and `hash` are not part of it.
pub fn canonical_bytes(event: &AuditEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(CANONICAL_TAG);
    out.extend_from_slice(&event.seq.to_be_bytes());
    put_required(&mut out, &event.time);
    put_optional(&mut out, event.tenant_id.as_deref());
    put_required(&mut out, &event.actor);
    put_optional(&mut out, event.subject.as_deref());
    put_required(&mut out, &event.operation);
    put_optional(&mut out, event.resource_id.as_deref());
    put_required(&mut out, &event.result);
    put_required(&mut out, &event.request_id);
    out
}

/// `SHA-256(prev_hash ‖ canonical)`.
pub fn chain_hash(prev_hash: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(prev_hash);
    ctx.update(canonical);
    let digest = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

impl AuditEvent {
    /// Recomputes this event's hash from its `prev_hash` and content.
    pub fn compute_hash(&self) -> [u8; 32] {
        chain_hash(&self.prev_hash, &canonical_bytes(self))
    }

    /// Parses `time`.
    pub fn parsed_time(&self) -> Result<OffsetDateTime, StoreError> {
        OffsetDateTime::parse(&self.time, &time::format_description::well_known::Rfc3339)
            .map_err(|_| StoreError::Corrupt("audit_events.time"))
    }

    /// The event as one JSON line (no trailing newline), the export format.
    pub fn to_json_line(&self) -> String {
        // Serialising plain strings, integers and hex cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Parses one line of a JSONL export back into an event (the inverse of
/// [`AuditEvent::to_json_line`]); hashes must be 64 hex digits.
pub fn parse_json_line(line: &str) -> Result<AuditEvent, StoreError> {
    serde_json::from_str(line).map_err(|_| StoreError::InvalidInput("audit JSON line"))
}

/// The head of the chain: the last event's `seq` and `hash` (0 and zeros
/// when the log is empty).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AuditHead {
    /// Last `seq` (0 when empty).
    pub seq: u64,
    /// Last `hash` ([`GENESIS_HASH`] when empty).
    pub hash: [u8; 32],
}

impl fmt::Debug for AuditHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AuditHead(seq={}, hash={})",
            self.seq,
            hex::encode(self.hash)
        )
    }
}

/// Why the chain is broken at [`ChainBreak::seq`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakReason {
    /// The event with this `seq` is missing (deleted, or renumbered away).
    Missing,
    /// The row cannot be decoded (bad hash length, negative seq…).
    Undecodable,
    /// `prev_hash` does not equal the previous event's hash.
    PrevHashMismatch,
    /// `hash` does not match the event's content (edited or reordered).
    HashMismatch,
    /// The row lies beyond the recorded chain head (appended outside the
    /// store).
    BeyondHead,
    /// The recorded chain head does not match the last event (events at
    /// the end were deleted, or the head was edited).
    HeadMismatch,
}

impl BreakReason {
    /// A short human description.
    pub fn describe(self) -> &'static str {
        match self {
            BreakReason::Missing => "event missing",
            BreakReason::Undecodable => "row cannot be decoded",
            BreakReason::PrevHashMismatch => "prev_hash does not match the previous event",
            BreakReason::HashMismatch => "hash does not match the event's content",
            BreakReason::BeyondHead => "event lies beyond the recorded chain head",
            BreakReason::HeadMismatch => "recorded chain head does not match the last event",
        }
    }
}

/// The first place where the chain is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first bad sequence number.
    pub seq: u64,
    /// Why.
    pub reason: BreakReason,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {}: {}", self.seq, self.reason.describe())
    }
}

/// The result of verifying a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events that were checked and found good (before any break).
    pub verified: u64,
    /// The last good event's `seq` and `hash`.
    pub last_good: AuditHead,
    /// The first break, `None` when the whole chain is intact.
    pub first_break: Option<ChainBreak>,
}

impl VerifyReport {
    /// True when the chain is intact.
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Pure, incremental chain verifier: feed events in ascending `seq` order
/// with [`ChainVerifier::push`], then call [`ChainVerifier::finish`].
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: u64,
    prev_hash: [u8; 32],
    verified: u64,
    first_break: Option<ChainBreak>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// A verifier for a chain starting at genesis.
    pub fn new() -> Self {
        Self::starting_after(AuditHead {
            seq: 0,
            hash: GENESIS_HASH,
        })
    }

    /// A verifier for the part of a chain after a trusted checkpoint (for
    /// example the last line of a previous export).
    pub fn starting_after(checkpoint: AuditHead) -> Self {
        Self {
            expected_seq: checkpoint.seq.saturating_add(1),
            prev_hash: checkpoint.hash,
            verified: 0,
            first_break: None,
        }
    }

    /// The sequence number the next event must have.
    pub fn next_seq(&self) -> u64 {
        self.expected_seq
    }

    /// The first break found so far.
    pub fn first_break(&self) -> Option<ChainBreak> {
        self.first_break
    }

    /// Feeds the next row: `Ok(event)`, or `Err(seq)` for a row that could
    /// not be decoded. Returns `false` once the chain is known broken
    /// (further rows are ignored, so callers may stop reading).
    pub fn push(&mut self, row: Result<&AuditEvent, u64>) -> bool {
        if self.first_break.is_some() {
            return false;
        }
        let event = match row {
            Ok(e) => e,
            Err(seq) => {
                // An undecodable row past the expected seq means the
                // expected one is missing first.
                let reason = if seq > self.expected_seq {
                    BreakReason::Missing
                } else {
                    BreakReason::Undecodable
                };
                self.fail(self.expected_seq, reason);
                return false;
            }
        };
        if event.seq != self.expected_seq {
            // Rows arrive in ascending seq order, so a larger seq means the
            // expected one is missing; a smaller one (duplicate) is a
            // reordering at the expected position.
            let reason = if event.seq > self.expected_seq {
                BreakReason::Missing
            } else {
                BreakReason::HashMismatch
            };
            self.fail(self.expected_seq, reason);
            return false;
        }
        if event.prev_hash != self.prev_hash {
            self.fail(event.seq, BreakReason::PrevHashMismatch);
            return false;
        }
        if event.compute_hash() != event.hash {
            self.fail(event.seq, BreakReason::HashMismatch);
            return false;
        }
        self.prev_hash = event.hash;
        self.expected_seq = self.expected_seq.saturating_add(1);
        self.verified += 1;
        true
    }

    fn fail(&mut self, seq: u64, reason: BreakReason) {
        self.first_break = Some(ChainBreak { seq, reason });
    }

    /// Finishes against the recorded head (`None` to skip the head check,
    /// e.g. for a partial export).
    pub fn finish(mut self, head: Option<AuditHead>) -> VerifyReport {
        let last_good = AuditHead {
            seq: self.expected_seq.saturating_sub(1),
            hash: self.prev_hash,
        };
        if self.first_break.is_none() {
            if let Some(head) = head {
                if head.seq > last_good.seq {
                    self.fail(last_good.seq.saturating_add(1), BreakReason::Missing);
                } else if head != last_good {
                    // Events past the recorded head: the first of them is bad.
                    let seq = if head.seq < last_good.seq {
                        head.seq.saturating_add(1)
                    } else {
                        last_good.seq
                    };
                    let reason = if head.seq < last_good.seq {
                        BreakReason::BeyondHead
                    } else {
                        BreakReason::HeadMismatch
                    };
                    self.fail(seq, reason);
                }
            }
        }
        VerifyReport {
            verified: self.verified,
            last_good,
            first_break: self.first_break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(n: u32) -> AuditDraft {
        AuditDraft::new(
            Actor::Cli,
            Operation::parse("records.create").unwrap(),
            AuditResult::Success,
            OpaqueId::parse(&format!("req-{n}")).unwrap(),
        )
    }

    fn chain(n: u32) -> Vec<AuditEvent> {
        let mut prev = GENESIS_HASH;
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        (1..=n)
            .map(|i| {
                let e = draft(i).seal(u64::from(i), t, prev);
                prev = e.hash;
                e
            })
            .collect()
    }

    fn verify(events: &[AuditEvent], head: Option<AuditHead>) -> VerifyReport {
        let mut v = ChainVerifier::new();
        for e in events {
            v.push(Ok(e));
        }
        v.finish(head)
    }

    fn head_of(events: &[AuditEvent]) -> AuditHead {
        let last = events.last().unwrap();
        AuditHead {
            seq: last.seq,
            hash: last.hash,
        }
    }

    #[test]
    fn time_format_is_fixed() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_764_092_878_123_456_789).unwrap();
        assert_eq!(format_time(t), "2025-11-25T17:47:58.123456Z");
        let t = OffsetDateTime::from_unix_timestamp(0).unwrap();
        assert_eq!(format_time(t), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn canonical_encoding_is_length_prefixed() {
        let e = draft(1).seal(
            7,
            OffsetDateTime::from_unix_timestamp(0).unwrap(),
            GENESIS_HASH,
        );
        let c = canonical_bytes(&e);
        let mut expected = Vec::new();
        expected.extend_from_slice(b"zenalyze.audit.v1\n");
        expected.extend_from_slice(&7u64.to_be_bytes());
        expected.extend_from_slice(&27u32.to_be_bytes());
        expected.extend_from_slice(b"1970-01-01T00:00:00.000000Z");
        expected.push(0);
        expected.extend_from_slice(&3u32.to_be_bytes());
        expected.extend_from_slice(b"cli");
        expected.push(0);
        expected.extend_from_slice(&14u32.to_be_bytes());
        expected.extend_from_slice(b"records.create");
        expected.push(0);
        expected.extend_from_slice(&7u32.to_be_bytes());
        expected.extend_from_slice(b"success");
        expected.extend_from_slice(&5u32.to_be_bytes());
        expected.extend_from_slice(b"req-1");
        assert_eq!(c, expected);
        // Known-answer: SHA-256 over zeros ‖ canonical, pinned so the
        // format cannot drift silently (value documented in docs/audit.md).
        assert_eq!(
            hex::encode(e.hash),
            hex::encode(chain_hash(&GENESIS_HASH, &expected))
        );
    }

    /// The worked example of docs/audit.md (independently computed with
    /// Python's hashlib).
    #[test]
    fn worked_example_matches_docs() {
        let e = AuditEvent {
            seq: 1,
            time: "2026-11-25T17:47:58.123456Z".into(),
            tenant_id: Some("ten_0123456789abcdef0123456789abcdef".into()),
            actor: "key_00112233445566778899aabbccddeeff".into(),
            subject: Some("usr-42".into()),
            operation: "records.create".into(),
            resource_id: Some("rec_ffeeddccbbaa99887766554433221100".into()),
            result: "success".into(),
            request_id: "req-7f3a".into(),
            prev_hash: GENESIS_HASH,
            hash: [0; 32],
        };
        assert_eq!(
            hex::encode(canonical_bytes(&e)),
            "7a656e616c797a652e61756469742e76310a00000000000000010000001b323032362d31312d32355431373a34373a35382e3132333435365a010000002474656e5f3031323334353637383961626364656630313233343536373839616263646566000000246b65795f303031313232333334343535363637373838393961616262636364646565666601000000067573722d34320000000e7265636f7264732e63726561746501000000247265635f66666565646463636262616139393838373736363535343433333232313130300000000773756363657373000000087265712d37663361"
        );
        assert_eq!(
            hex::encode(e.compute_hash()),
            "f51645885229f701de6696c97f683d10237cc82bd48d9c367199c096250f5a44"
        );
    }

    #[test]
    fn optional_fields_do_not_collide() {
        let t = OffsetDateTime::from_unix_timestamp(0).unwrap();
        let a = draft(1)
            .subject(UserId::parse("u1").unwrap())
            .seal(1, t, GENESIS_HASH);
        let b = draft(1)
            .resource(OpaqueId::parse("u1").unwrap())
            .seal(1, t, GENESIS_HASH);
        assert_ne!(canonical_bytes(&a), canonical_bytes(&b));
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn intact_chain_verifies() {
        let events = chain(5);
        let r = verify(&events, Some(head_of(&events)));
        assert!(r.is_intact());
        assert_eq!(r.verified, 5);
        assert_eq!(r.last_good, head_of(&events));
        assert!(verify(
            &[],
            Some(AuditHead {
                seq: 0,
                hash: GENESIS_HASH
            })
        )
        .is_intact());
    }

    #[test]
    fn edit_is_detected_at_its_seq() {
        let mut events = chain(5);
        events[2].result = "denied".into();
        let r = verify(&events, None);
        assert_eq!(
            r.first_break,
            Some(ChainBreak {
                seq: 3,
                reason: BreakReason::HashMismatch
            })
        );
        assert_eq!(r.verified, 2);
    }

    #[test]
    fn edit_with_recomputed_hash_breaks_the_next_link() {
        let mut events = chain(5);
        events[1].actor = "admin".into();
        events[1].hash = events[1].compute_hash();
        let r = verify(&events, None);
        assert_eq!(
            r.first_break,
            Some(ChainBreak {
                seq: 3,
                reason: BreakReason::PrevHashMismatch
            })
        );
    }

    #[test]
    fn deletion_is_detected() {
        let events = chain(5);
        let head = head_of(&events);
        let mut cut = events.clone();
        cut.remove(1);
        assert_eq!(
            verify(&cut, Some(head)).first_break,
            Some(ChainBreak {
                seq: 2,
                reason: BreakReason::Missing
            })
        );
        // Tail truncation is caught by the head.
        let tail = &events[..3];
        assert_eq!(
            verify(tail, Some(head)).first_break,
            Some(ChainBreak {
                seq: 4,
                reason: BreakReason::Missing
            })
        );
    }

    #[test]
    fn reordering_is_detected() {
        let mut events = chain(5);
        let (a, b) = (events[1].seq, events[3].seq);
        events[1].seq = b;
        events[3].seq = a;
        events.sort_by_key(|e| e.seq);
        assert_eq!(
            verify(&events, None).first_break,
            Some(ChainBreak {
                seq: 2,
                reason: BreakReason::PrevHashMismatch
            })
        );
    }

    #[test]
    fn appended_rows_beyond_head_are_detected() {
        let mut events = chain(4);
        let head = head_of(&events);
        let extra = draft(9).seal(
            5,
            OffsetDateTime::from_unix_timestamp(0).unwrap(),
            head.hash,
        );
        events.push(extra);
        assert_eq!(
            verify(&events, Some(head)).first_break,
            Some(ChainBreak {
                seq: 5,
                reason: BreakReason::BeyondHead
            })
        );
        let mut wrong = head;
        wrong.hash[0] ^= 1;
        assert_eq!(
            verify(&events[..4], Some(wrong)).first_break,
            Some(ChainBreak {
                seq: 4,
                reason: BreakReason::HeadMismatch
            })
        );
    }

    #[test]
    fn undecodable_row_is_reported() {
        let events = chain(3);
        let mut v = ChainVerifier::new();
        v.push(Ok(&events[0]));
        v.push(Err(2));
        let mut gap = ChainVerifier::new();
        gap.push(Ok(&events[0]));
        gap.push(Err(3));
        assert_eq!(
            gap.finish(None).first_break,
            Some(ChainBreak {
                seq: 2,
                reason: BreakReason::Missing
            })
        );
        assert_eq!(
            v.finish(None).first_break,
            Some(ChainBreak {
                seq: 2,
                reason: BreakReason::Undecodable
            })
        );
    }

    #[test]
    fn json_line_round_trips() {
        let e = chain(1).remove(0);
        let line = e.to_json_line();
        assert!(line.contains("\"prev_hash\":\"0000"));
        let back: AuditEvent = serde_json::from_str(&line).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn actor_round_trips() {
        for a in [
            Actor::Admin,
            Actor::Cli,
            Actor::System,
            Actor::Anonymous,
            Actor::ApiKey(ApiKeyId::generate()),
        ] {
            assert_eq!(Actor::parse(a.as_str()).unwrap(), a);
        }
        assert!(Actor::parse("root").is_err());
    }
}
