//! Who may call what over HTTP: bearer tokens with roles, kept only as SHA-256 hashes, and the Host and
//! Origin checks that stop a web page from reaching a server on loopback (DNS rebinding).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::app::{Caller, Role};

#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct TokenError {
    pub source_name: String,
    pub message: String,
}

fn token_error(source_name: &str, message: impl Into<String>) -> TokenError {
    TokenError {
        source_name: source_name.into(),
        message: message.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    #[serde(default)]
    token: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    role: Role,
    sha256: String,
    #[serde(default)]
    environment: Option<String>,
}

/// The configured tokens, keyed by the SHA-256 of the secret. Secrets are never kept.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    by_hash: HashMap<[u8; 32], Caller>,
}

pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl Tokens {
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Who presents `secret`, if anyone.
    pub fn lookup(&self, secret: &str) -> Option<&Caller> {
        self.by_hash.get(&hash(secret))
    }

    fn add(&mut self, origin: &str, digest: [u8; 32], p: Caller) -> Result<(), TokenError> {
        if p.name.is_empty() || p.name.len() > 64 {
            return Err(token_error(origin, "a token name is 1 to 64 characters"));
        }
        if let Some(env) = &p.environment
            && matches!(p.role, Some(Role::Agent | Role::Human))
        {
            return Err(token_error(
                origin,
                format!(
                    "token {:?}: environment {env:?} applies to sdk and ingest tokens only",
                    p.name
                ),
            ));
        }
        if self.by_hash.insert(digest, p.clone()).is_some() {
            return Err(token_error(
                origin,
                format!("token {:?} repeats a secret already configured", p.name),
            ));
        }
        Ok(())
    }

    /// `role:name[@environment]=secret`, comma-separated: the FLAGWARDEN_TOKENS form.
    pub fn parse_env(&mut self, value: &str) -> Result<(), TokenError> {
        const SRC: &str = "FLAGWARDEN_TOKENS";
        for (i, item) in value.split(',').map(str::trim).enumerate() {
            if item.is_empty() {
                continue;
            }
            let at = |m: String| token_error(SRC, format!("entry {}: {m}", i + 1));
            let (who, secret) = item.split_once('=').ok_or_else(|| {
                at(
                    "expected role:name[@environment]=secret, e.g. sdk:web@production=<secret>"
                        .into(),
                )
            })?;
            let (role, name) = who
                .split_once(':')
                .ok_or_else(|| at("expected role:name before '='".into()))?;
            let role = Role::parse(role).ok_or_else(|| {
                at(format!(
                    "unknown role {role:?}: use agent, human, sdk or ingest"
                ))
            })?;
            let (name, environment) = match name.split_once('@') {
                Some((n, e)) => (n, Some(e.to_owned())),
                None => (name, None),
            };
            if secret.len() < 16 {
                return Err(at(format!(
                    "the secret of {name:?} is shorter than 16 characters; `flagwarden token new` makes one"
                )));
            }
            self.add(
                SRC,
                hash(secret),
                Caller {
                    name: name.into(),
                    role: Some(role),
                    environment,
                },
            )?;
        }
        Ok(())
    }

    /// A TOML file of `[[token]]` entries with `name`, `role`, `sha256` and optional `environment`.
    pub fn parse_file(&mut self, path: &Path, source: &str) -> Result<(), TokenError> {
        let src = path.display().to_string();
        let file: TokenFile = toml::from_str(source).map_err(|e| {
            token_error(
                &src,
                e.to_string()
                    .lines()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .trim()
                    .to_owned(),
            )
        })?;
        for (i, t) in file.token.into_iter().enumerate() {
            let mut digest = [0u8; 32];
            hex::decode_to_slice(&t.sha256, &mut digest).map_err(|_| {
                token_error(
                    &src,
                    format!(
                        "token[{i}].sha256: expected 64 hex digits (the SHA-256 of the secret)"
                    ),
                )
            })?;
            self.add(
                &src,
                digest,
                Caller {
                    name: t.name,
                    role: Some(t.role),
                    environment: t.environment,
                },
            )?;
        }
        Ok(())
    }
}

/// A new random secret: `fw_` and 32 random bytes in hex.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("fw_{}", hex::encode(bytes)))
}

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
    fn env_tokens_parse_with_roles_and_environments() {
        let mut t = Tokens::default();
        t.parse_env("agent:claude=aaaaaaaaaaaaaaaaaaaa, sdk:web@production=bbbbbbbbbbbbbbbbbbbb")
            .unwrap();
        assert_eq!(t.len(), 2);
        let web = t.lookup("bbbbbbbbbbbbbbbbbbbb").unwrap();
        assert_eq!(web.role, Some(Role::Sdk));
        assert_eq!(web.environment.as_deref(), Some("production"));
        assert!(t.lookup("cccccccccccccccccccc").is_none());
    }

    #[test]
    fn bad_token_config_names_the_problem() {
        for (input, needle) in [
            ("boss:x=aaaaaaaaaaaaaaaaaaaa", "unknown role \"boss\""),
            ("agent:x=short", "shorter than 16"),
            ("agent-x-aaaaaaaaaaaaaaaaaaaa", "expected role:name"),
            (
                "agent:x@production=aaaaaaaaaaaaaaaaaaaa",
                "sdk and ingest tokens only",
            ),
            (
                "sdk:a=aaaaaaaaaaaaaaaaaaaa,sdk:b=aaaaaaaaaaaaaaaaaaaa",
                "repeats a secret",
            ),
        ] {
            let err = Tokens::default().parse_env(input).unwrap_err().to_string();
            assert!(err.contains(needle), "{input}: {err}");
        }
    }

    #[test]
    fn token_file_holds_hashes_only() {
        let secret = "fw_0123456789abcdef";
        let file = format!(
            "[[token]]\nname = \"ci\"\nrole = \"ingest\"\nsha256 = \"{}\"\nenvironment = \"staging\"\n",
            hex::encode(hash(secret))
        );
        let mut t = Tokens::default();
        t.parse_file(Path::new("tokens.toml"), &file).unwrap();
        assert_eq!(t.lookup(secret).unwrap().name, "ci");
        let err = Tokens::default()
            .parse_file(
                Path::new("tokens.toml"),
                "[[token]]\nname=\"x\"\nrole=\"sdk\"\nsha256=\"zz\"\n",
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("token[0].sha256"), "{err}");
    }

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
