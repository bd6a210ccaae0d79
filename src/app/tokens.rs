//! The configured bearer tokens: each secret's SHA-256 and the `Caller` it names (a name, a role,
//! for sdk and ingest tokens an environment), read from a tokens file and `FLAGWARDEN_TOKENS`.
//! Secrets are never kept, only their hashes. HTTP looks callers up here; the CLI makes new secrets.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::caller::{Caller, Role};

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

impl Tokens {
    /// What the tokens file keeps of a secret: its SHA-256.
    pub fn hash(secret: &str) -> [u8; 32] {
        Sha256::digest(secret.as_bytes()).into()
    }

    /// A new random secret: `fw_` and 32 random bytes in hex.
    pub fn new_secret() -> Result<String, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(format!("fw_{}", hex::encode(bytes)))
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Who presents `secret`, if anyone.
    pub fn lookup(&self, secret: &str) -> Option<&Caller> {
        self.by_hash.get(&Tokens::hash(secret))
    }

    /// Who the secret with SHA-256 `digest` names, if it is still configured: how a console session,
    /// which keeps only the digest, checks that its token was not removed.
    pub fn lookup_hash(&self, digest: &[u8; 32]) -> Option<&Caller> {
        self.by_hash.get(digest)
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
                Tokens::hash(secret),
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
            hex::encode(Tokens::hash(secret))
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
}
