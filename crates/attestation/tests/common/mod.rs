//! Shared helpers: locating the real AWS fixtures.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::PathBuf;

use zenalyze_attestation::{MeasurementSet, Policy};

/// `<workspace root>/../shared/fixtures`, or `$ZENALYZE_FIXTURES`.
pub fn fixtures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ZENALYZE_FIXTURES") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

/// One fixture document with its index.json entry.
pub struct Fixture {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub module_id: String,
    pub timestamp_ms: u64,
    pub leaf_not_before: u64,
    pub leaf_not_after: u64,
    pub pcrs: [String; 4],
    pub nonce: Option<Vec<u8>>,
}

impl Fixture {
    /// The measurement set of the document.
    pub fn measurements(&self) -> MeasurementSet {
        MeasurementSet::from_hex(&self.pcrs[0], &self.pcrs[1], &self.pcrs[2], &self.pcrs[3])
            .expect("index.json PCRs")
    }

    /// A time inside the leaf window, just after the document timestamp.
    pub fn good_time_ms(&self) -> u64 {
        self.timestamp_ms + 30_000
    }

    /// Production policy with this document's measurements and a freshness
    /// window as long as the leaf's validity, so that any time in the leaf
    /// window is fresh.
    pub fn wide_policy(&self) -> Policy {
        Policy::production(vec![self.measurements()])
            .with_max_age_ms((self.leaf_not_after - self.leaf_not_before + 60) * 1000)
    }
}

fn rfc3339_to_unix(s: &str) -> u64 {
    // Format: YYYY-MM-DDTHH:MM:SS+00:00 (as index.json writes it).
    let num = |r: std::ops::Range<usize>| -> i64 { s[r].parse().expect("digits") };
    assert!(s.ends_with("+00:00"), "index.json time in UTC: {s}");
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let (hh, mm, ss) = (num(11..13), num(14..16), num(17..19));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + hh * 3600 + mm * 60 + ss) as u64
}

/// Load the three fixtures, or print a loud SKIPPED line and return `None`.
pub fn load(test: &str) -> Option<Vec<Fixture>> {
    let dir = fixtures_dir().join("nitro");
    let index_path = dir.join("index.json");
    let Ok(index) = std::fs::read_to_string(&index_path) else {
        // Written to the real stderr (not the captured test output) so that
        // the skip is visible in every `cargo test` run.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {test}: AWS Nitro fixtures not found at {} (set ZENALYZE_FIXTURES)",
            dir.display()
        );
        return None;
    };
    let index: serde_json::Value = serde_json::from_str(&index).expect("index.json is JSON");
    let mut out = Vec::new();
    for name in ["prod-2022-10-13", "debug-2022-10-12", "debug-2023-09-18"] {
        let e = &index[name];
        let bytes = std::fs::read(dir.join(format!("{name}.cose"))).expect("fixture file");
        let pcr = |i: &str| e["pcrs"][i].as_str().expect("pcr hex").to_string();
        out.push(Fixture {
            name,
            bytes,
            module_id: e["module_id"].as_str().expect("module_id").to_string(),
            timestamp_ms: e["timestamp_ms"].as_u64().expect("timestamp"),
            leaf_not_before: rfc3339_to_unix(e["leaf_not_before"].as_str().expect("nb")),
            leaf_not_after: rfc3339_to_unix(e["leaf_not_after"].as_str().expect("na")),
            pcrs: [pcr("0"), pcr("1"), pcr("2"), pcr("8")],
            nonce: e["nonce_hex"]
                .as_str()
                .map(|h| hex::decode(h).expect("nonce hex")),
        });
    }
    Some(out)
}
