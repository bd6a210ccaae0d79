//! The fuzz targets' own code on every test run: each committed corpus input of fuzz/corpus/<target>,
//! then a bounded number of deterministic mutations of them (bit flips, byte changes, truncations,
//! splices, interesting bytes), through the same `run` functions libFuzzer drives in scripts/fuzz.sh.
//! Not coverage-guided like the real fuzzer, but it catches a regression on any input the corpus
//! (and every crash it ever found, once added there) already holds, in seconds.
//!
//! `FLAGWARDEN_FUZZ_MUTATIONS` sets mutations per target (default 2000).

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz_world;

use std::path::Path;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn mutate(rng: &mut StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..4) {
        let len = data.len();
        match rng.random_range(0..6) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                data[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                data[i] = *[
                    b'"', b'{', b'}', b'[', b']', b',', b':', b'0', b'-', b'\\', 0, 0xff, b'\n',
                    b'=',
                ]
                .get(rng.random_range(0..14))
                .unwrap();
            }
            2 if len > 0 => data.truncate(rng.random_range(0..len)),
            3 => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                if !other.is_empty() {
                    let from = rng.random_range(0..other.len());
                    let at = rng.random_range(0..=len);
                    let piece =
                        other[from..(from + rng.random_range(1..64)).min(other.len())].to_vec();
                    data.splice(at..at, piece);
                }
            }
            4 if len > 0 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..16).min(len - i);
                data.drain(i..i + n);
            }
            _ => {
                let at = rng.random_range(0..=len);
                let number: &[u8] = [
                    b"-1".as_slice(),
                    b"1e308",
                    b"18446744073709551616",
                    b"0.0000001",
                    b"null",
                    b"NaN",
                ][rng.random_range(0..6)];
                data.splice(at..at, number.iter().copied());
            }
        }
        data.truncate(4096);
    }
    data
}

fn replay(target: &str, run: fn(&[u8])) {
    let seeds = corpus(target);
    assert!(!seeds.is_empty(), "fuzz/corpus/{target} is empty");
    for (i, input) in seeds.iter().enumerate() {
        let outcome = std::panic::catch_unwind(|| run(input));
        assert!(
            outcome.is_ok(),
            "{target}: corpus input {i} broke an invariant: {:?}",
            String::from_utf8_lossy(input)
        );
    }
    let mutations: usize = std::env::var("FLAGWARDEN_FUZZ_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let mut rng = StdRng::seed_from_u64(target.len() as u64 * 7919);
    for n in 0..mutations {
        let input = mutate(&mut rng, &seeds);
        let outcome = std::panic::catch_unwind(|| run(&input));
        assert!(
            outcome.is_ok(),
            "{target}: mutation {n} broke an invariant: {:?}",
            String::from_utf8_lossy(&input)
        );
    }
}

#[test]
fn policy() {
    replay("policy", fuzz_world::targets::policy::run);
}

#[test]
fn eval() {
    replay("eval", fuzz_world::targets::eval::run);
}

#[test]
fn ofrep() {
    replay("ofrep", fuzz_world::targets::ofrep::run);
}

#[test]
fn signals() {
    replay("signals", fuzz_world::targets::signals::run);
}

#[test]
fn tools() {
    replay("tools", fuzz_world::targets::tools::run);
}

#[test]
fn otlp() {
    replay("otlp", fuzz_world::targets::otlp::run);
}
