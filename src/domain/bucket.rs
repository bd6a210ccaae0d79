//! Sticky bucketing: a user's place in every split of a flag is `murmur3_x86_32(salt "/" targetingKey)`
//! mod 10 000, in basis points. It depends only on the flag's salt and the key, so the same user gets
//! the same answer on every machine and in every process, and because splits are cumulative ranges
//! starting at 0, a user inside at 5 % stays inside at 25 %.

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

/// Salt and key usually fit here; longer ones take the allocating path.
const STACK: usize = 128;

/// The bucket, 0..10 000, of `targeting_key` in a flag salted with `salt`.
pub fn bucket(salt: &str, targeting_key: &str) -> u16 {
    let len = salt.len() + 1 + targeting_key.len();
    // Hash one contiguous buffer without allocating for the common short keys.
    let hash = if len <= STACK {
        let mut buf = [0u8; STACK];
        buf[..salt.len()].copy_from_slice(salt.as_bytes());
        buf[salt.len()] = b'/';
        buf[salt.len() + 1..len].copy_from_slice(targeting_key.as_bytes());
        mur3::murmurhash3_x86_32(&buf[..len], 0)
    } else {
        let joined = format!("{salt}/{targeting_key}");
        mur3::murmurhash3_x86_32(joined.as_bytes(), 0)
    };
    (hash % 10_000) as u16
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

    #[test]
    fn long_keys_hash_like_short_ones_would() {
        let long = "u".repeat(400);
        let expect =
            (mur3::murmurhash3_x86_32(format!("salt/{long}").as_bytes(), 0) % 10_000) as u16;
        assert_eq!(bucket("salt", &long), expect);
    }
}
