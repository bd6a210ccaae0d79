//! Who is calling, as an edge established it: HTTP builds a `Caller` from the bearer token (or its
//! absence, on loopback) and hands it to the handlers and, through the request's extensions, to the
//! MCP tools. The role is part of who the caller is, so it lives here rather than with the tokens.

use std::fmt;

use serde::Deserialize;

/// What a token may do. MCP sessions act as agents whatever their token says: only the CLI and the
/// human-token approval endpoints count as a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Agent,
    Human,
    Sdk,
    Ingest,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "agent" => Role::Agent,
            "human" => Role::Human,
            "sdk" => Role::Sdk,
            "ingest" => Role::Ingest,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Human => "human",
            Role::Sdk => "sdk",
            Role::Ingest => "ingest",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The caller of one request, as the token (or its absence, on loopback) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    /// `None` in loopback mode without tokens: the caller may use every endpoint but the human ones.
    pub role: Option<Role>,
    /// The environment an sdk or ingest token is bound to.
    pub environment: Option<String>,
}

impl Caller {
    pub fn anonymous() -> Caller {
        Caller {
            name: "loopback".into(),
            role: None,
            environment: None,
        }
    }

    /// Whether this caller may use an endpoint open to `roles`. Without tokens every role but
    /// human is open: a person is never inferred from the absence of a token.
    pub fn may(&self, roles: &[Role]) -> bool {
        match self.role {
            Some(r) => roles.contains(&r),
            None => roles.iter().any(|r| *r != Role::Human),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_tokens_nobody_is_human() {
        let p = Caller::anonymous();
        assert!(p.may(&[Role::Sdk, Role::Agent]));
        assert!(!p.may(&[Role::Human]));
    }
}
