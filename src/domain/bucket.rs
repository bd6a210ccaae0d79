//! Sticky bucketing: a user's place in every split of a flag is the slot of the bucketing value
//! `salt "/" targetingKey` among 10 000 (basis points), hashed exactly as flagd's `fractional` hashes
//! it: murmur3 x86_32 over the value's canonical CBOR encoding, slot `(u64(hash) * 10 000) >> 32`. So
//! flagwarden, OFREP, MCP and every engine that follows flagd's spec put each user in the same bucket.
//! It depends only on the flag's salt and the key, so the same user gets the same answer on every
//! machine and in every process, and because splits are cumulative ranges starting at 0, a user
//! inside at 5 % stays inside at 25 %.
//!
//! This changed once, before any deployment: until issue 17 the bucket was `murmur3(salt "/" key)
//! mod 10 000` over the raw string. `tests/data/bucketing-vectors.json` pins the current form.

/// A share of users in basis points (0..=10 000; 100 bp = 1 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(u16);

impl Percent {
    pub const ZERO: Percent = Percent(0);
    pub const FULL: Percent = Percent(10_000);

    pub fn from_basis_points(bp: u16) -> Option<Percent> {
        (bp <= 10_000).then_some(Percent(bp))
    }

    /// From a percentage with at most two decimals, e.g. 12.5. The message names the rule.
    pub fn from_percent(p: f64) -> Result<Percent, String> {
        if !p.is_finite() || !(0.0..=100.0).contains(&p) {
            return Err(format!("a percentage must be between 0 and 100, got {p}"));
        }
        let bp = (p * 100.0).round();
        if (bp - p * 100.0).abs() > 1e-6 {
            return Err(format!(
                "a percentage may have at most two decimals, got {p}"
            ));
        }
        Ok(Percent(bp as u16))
    }

    pub fn basis_points(self) -> u16 {
        self.0
    }
    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 100.0
    }
}

impl serde::Serialize for Percent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}%", self.as_f64())
    }
}

/// The bucketing value and its CBOR header usually fit here; longer ones take the allocating path.
const STACK: usize = 160;

/// The shares of a split or rollout are basis points: a total weight of 10 000.
pub const TOTAL_WEIGHT: u64 = 10_000;

/// The canonical CBOR header of a text string of `len` bytes (major type 3, shortest length form),
/// written into `out`; returns how many bytes it took. RFC 8949 section 3: lengths up to 23 sit in the
/// initial byte, then one, two, four or eight length bytes follow, big-endian.
fn cbor_text_header(len: usize, out: &mut [u8; 9]) -> usize {
    const TEXT: u8 = 0x60;
    let len = len as u64;
    match len {
        0..=23 => {
            out[0] = TEXT | len as u8;
            1
        }
        24..=0xff => {
            out[0] = TEXT | 24;
            out[1] = len as u8;
            2
        }
        0x100..=0xffff => {
            out[0] = TEXT | 25;
            out[1..3].copy_from_slice(&(len as u16).to_be_bytes());
            3
        }
        0x1_0000..=0xffff_ffff => {
            out[0] = TEXT | 26;
            out[1..5].copy_from_slice(&(len as u32).to_be_bytes());
            5
        }
        _ => {
            out[0] = TEXT | 27;
            out[1..9].copy_from_slice(&len.to_be_bytes());
            9
        }
    }
}

/// flagd's hash of a string bucketing value: murmur3 x86_32 (seed 0) over the value's canonical CBOR
/// encoding, as flagd's `fractional` specifies it (the ADR on hashing) and its Python core does.
pub fn bucketing_hash(parts: &[&str]) -> u32 {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut header = [0u8; 9];
    let h = cbor_text_header(len, &mut header);
    // Hash one contiguous buffer without allocating for the common short keys.
    if h + len <= STACK {
        let mut buf = [0u8; STACK];
        buf[..h].copy_from_slice(&header[..h]);
        let mut at = h;
        for p in parts {
            buf[at..at + p.len()].copy_from_slice(p.as_bytes());
            at += p.len();
        }
        mur3::murmurhash3_x86_32(&buf[..at], 0)
    } else {
        let mut buf = Vec::with_capacity(h + len);
        buf.extend_from_slice(&header[..h]);
        for p in parts {
            buf.extend_from_slice(p.as_bytes());
        }
        mur3::murmurhash3_x86_32(&buf, 0)
    }
}

/// Where `hash` falls among `total_weight` equal slots: `(u64(hash) * total_weight) >> 32`, flagd's
/// mapping, so a weight of w covers w slots exactly.
pub fn slot(hash: u32, total_weight: u64) -> u64 {
    (u64::from(hash) * total_weight) >> 32
}

/// The bucket, 0..10 000, of `targeting_key` in a flag salted with `salt`: the slot of the bucketing
/// value `salt + "/" + targetingKey` among 10 000. flagd's `fractional` with that value (JSONLogic
/// `{"cat": [salt + "/", {"var": "targetingKey"}]}`) and weights in basis points puts every user in
/// the same bucket (`domain::flagd` writes it so).
pub fn bucket(salt: &str, targeting_key: &str) -> u16 {
    slot(bucketing_hash(&[salt, "/", targeting_key]), TOTAL_WEIGHT) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_parsing() {
        assert_eq!(Percent::from_percent(12.5).unwrap().basis_points(), 1250);
        assert_eq!(Percent::from_percent(100.0).unwrap(), Percent::FULL);
        assert!(Percent::from_percent(100.01).is_err());
        assert!(Percent::from_percent(-1.0).is_err());
        assert!(Percent::from_percent(f64::NAN).is_err());
        assert!(
            Percent::from_percent(1.234)
                .unwrap_err()
                .contains("two decimals")
        );
    }

    /// The spec's hash by its definition, allocating: CBOR header, then the bytes.
    fn spec_hash(value: &str) -> u32 {
        let mut header = [0u8; 9];
        let h = cbor_text_header(value.len(), &mut header);
        let mut bytes = header[..h].to_vec();
        bytes.extend_from_slice(value.as_bytes());
        mur3::murmurhash3_x86_32(&bytes, 0)
    }

    #[test]
    fn cbor_headers_take_the_shortest_length_form() {
        let mut out = [0u8; 9];
        assert_eq!((cbor_text_header(0, &mut out), out[0]), (1, 0x60));
        assert_eq!((cbor_text_header(23, &mut out), out[0]), (1, 0x77));
        assert_eq!(cbor_text_header(24, &mut out), 2);
        assert_eq!(out[..2], [0x78, 24]);
        assert_eq!(cbor_text_header(255, &mut out), 2);
        assert_eq!(cbor_text_header(256, &mut out), 3);
        assert_eq!(out[..3], [0x79, 1, 0]);
        assert_eq!(cbor_text_header(65_536, &mut out), 5);
        assert_eq!(out[..5], [0x7a, 0, 1, 0, 0]);
    }

    #[test]
    fn long_keys_hash_like_short_ones_would() {
        for n in [1, 100, 150, 400, 70_000] {
            let long = "u".repeat(n);
            let expect = ((u64::from(spec_hash(&format!("salt/{long}"))) * 10_000) >> 32) as u16;
            assert_eq!(bucket("salt", &long), expect, "{n}");
        }
    }

    /// A regression to hashing the raw string (the form before issue 17, and the JavaScript core's
    /// today) would move most users: this catches it on a known key.
    #[test]
    fn the_hash_is_over_cbor_not_the_raw_string() {
        let raw = mur3::murmurhash3_x86_32(b"new-checkout/user-1", 0);
        let spec = bucketing_hash(&["new-checkout", "/", "user-1"]);
        assert_eq!(spec, spec_hash("new-checkout/user-1"));
        assert_ne!(spec, raw);
        assert_ne!(
            bucket("new-checkout", "user-1"),
            slot(raw, TOTAL_WEIGHT) as u16
        );
        assert_ne!(
            bucket("new-checkout", "user-1"),
            (raw % 10_000) as u16,
            "the old mod-10 000 form"
        );
    }
}
