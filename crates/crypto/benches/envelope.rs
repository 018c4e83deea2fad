//! Envelope and KDF throughput, printed as machine-readable lines for
//! `scripts/bench-crypto` (which measures OpenSSL in the same run and
//! reports ratios). Run: `cargo bench -p zenalyze-crypto --bench envelope`.
//!
//! Output lines: `seal|open|seal_into|open_into <bytes> <MB/s>`
//! `kdf_v1 <iterations> <ms>` — medians of several timed rounds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use zenalyze_crypto::{envelope, kdf, UserKey};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `f` repeatedly for about `budget`, returning bytes per second.
fn rate(bytes: usize, budget: Duration, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    (bytes as f64 * n as f64) / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let key = UserKey::from_bytes([0x42; 32]);
    let iv = [7u8; 12];
    let rounds = 5;
    let budget = Duration::from_millis(300);
    for &size in &[1024usize, 64 * 1024, 1024 * 1024, 16 * 1024 * 1024] {
        let pt = vec![0xA5u8; size];
        let env = envelope::seal_v1(&key, &iv, &pt, None).unwrap();
        let seal: Vec<f64> = (0..rounds)
            .map(|_| {
                rate(size, budget, || {
                    black_box(envelope::seal_v1(&key, &iv, black_box(&pt), None).unwrap());
                })
            })
            .collect();
        let open: Vec<f64> = (0..rounds)
            .map(|_| {
                rate(size, budget, || {
                    black_box(envelope::open_v1(&key, black_box(&env), None).unwrap());
                })
            })
            .collect();
        let mut out = Vec::new();
        let seal_into: Vec<f64> = (0..rounds)
            .map(|_| {
                rate(size, budget, || {
                    envelope::seal_v1_into(&key, &iv, black_box(&pt), None, &mut out).unwrap();
                    black_box(&out);
                })
            })
            .collect();
        let mut plain = envelope::Plaintext::new();
        let open_into: Vec<f64> = (0..rounds)
            .map(|_| {
                rate(size, budget, || {
                    envelope::open_v1_into(&key, black_box(&env), None, &mut plain).unwrap();
                    black_box(&plain);
                })
            })
            .collect();
        println!("seal {size} {:.1}", median(seal) / 1e6);
        println!("open {size} {:.1}", median(open) / 1e6);
        println!("seal_into {size} {:.1}", median(seal_into) / 1e6);
        println!("open_into {size} {:.1}", median(open_into) / 1e6);
    }
    let times: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            black_box(kdf::derive_key_v1(
                black_box("bench@example.com"),
                black_box("password"),
            ));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    println!("kdf_v1 {} {:.2}", kdf::PBKDF2_ITERATIONS_V1, median(times));
}
