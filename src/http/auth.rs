//! The Host and Origin checks that stop a web page from reaching a server on loopback (DNS
//! rebinding). Who a bearer token names is `app::Tokens`; the guard in `mod.rs` asks it.

/// The host part of a Host header value or authority: `example.com:80` → `example.com`,
/// `[::1]:7070` → `::1`.
fn host_only(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

/// The hosts a request may name: loopback names plus the operator's own.
#[derive(Debug, Clone)]
pub struct HostRules {
    allowed: Vec<String>,
}

impl HostRules {
    pub fn new(extra: &[String]) -> HostRules {
        let mut allowed: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .map(String::from)
            .collect();
        allowed.extend(extra.iter().map(|h| host_only(h).to_ascii_lowercase()));
        HostRules { allowed }
    }

    pub fn hosts(&self) -> &[String] {
        &self.allowed
    }

    fn allows(&self, host: &str) -> bool {
        let h = host_only(host);
        self.allowed.iter().any(|a| a.eq_ignore_ascii_case(h))
    }

    pub fn check_host(&self, host: Option<&str>) -> Result<(), String> {
        match host {
            Some(h) if self.allows(h) => Ok(()),
            Some(h) => Err(format!(
                "Host {h:?} is not served here; allowed hosts: {} (add one with --allowed-host)",
                self.allowed.join(", ")
            )),
            None => Err("the Host header is required".into()),
        }
    }

    /// A browser's Origin must name an allowed host over http or https; `null` and other schemes are
    /// refused. A request without Origin (any non-browser client) passes.
    pub fn check_origin(&self, origin: Option<&str>) -> Result<(), String> {
        let Some(origin) = origin else { return Ok(()) };
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        match authority {
            Some(a) if !a.contains('/') && self.allows(a) => Ok(()),
            _ => Err(format!(
                "Origin {origin:?} may not call this server; allowed hosts: {}",
                self.allowed.join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_origin_checks() {
        let rules = HostRules::new(&["flags.example.com".into()]);
        for ok in [
            "127.0.0.1:7070",
            "localhost",
            "[::1]:7070",
            "flags.example.com:443",
        ] {
            assert!(rules.check_host(Some(ok)).is_ok(), "{ok}");
        }
        for bad in ["evil.example:7070", "127.0.0.1.evil.example", "[::2]:80"] {
            assert!(rules.check_host(Some(bad)).is_err(), "{bad}");
        }
        assert!(rules.check_host(None).is_err());
        assert!(rules.check_origin(None).is_ok());
        assert!(rules.check_origin(Some("http://localhost:3000")).is_ok());
        for bad in [
            "null",
            "http://evil.example",
            "file://x",
            "http://localhost.evil.example",
        ] {
            assert!(rules.check_origin(Some(bad)).is_err(), "{bad}");
        }
    }
}
