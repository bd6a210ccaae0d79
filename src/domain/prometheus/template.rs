//! PromQL templates: a query written once in the policy with `{{arm}}`, `{{flag}}`, `{{env}}` and
//! `{{window}}` (the window's length as a PromQL duration, e.g. `60s`) filled in per rollout, arm and
//! window. A template is checked when the policy is read, so an unknown variable or an unclosed
//! `{{` is refused at start rather than sent to Prometheus at the first query.

use serde::Serialize;

/// The names a template may use.
pub const VARIABLES: [&str; 4] = ["arm", "flag", "env", "window"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(usize),
}

impl From<Template> for String {
    fn from(t: Template) -> String {
        t.text
    }
}

/// The values a template is filled with, in the order of `VARIABLES`.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    pub arm: &'a str,
    pub flag: &'a str,
    pub env: &'a str,
    pub window: &'a str,
}

impl Template {
    /// Checks a template: every `{{name}}` names a known variable (spaces inside the braces are
    /// allowed), and every `{{` is closed. The error says what to write instead.
    pub fn parse(text: &str) -> Result<Template, String> {
        if text.trim().is_empty() {
            return Err("write a PromQL query, e.g. sum(increase(http_requests_total{arm=\"{{arm}}\"}[{{window}}]))".into());
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| {
                format!(
                    "a `{{{{` is not closed: write a variable as {{{{name}}}}, one of {}",
                    names()
                )
            })?;
            let name = after[..close].trim();
            let i = VARIABLES.iter().position(|v| *v == name).ok_or_else(|| {
                format!(
                    "unknown template variable {{{{{name}}}}}: the variables are {}",
                    names()
                )
            })?;
            parts.push(Part::Var(i));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template {
            text: text.to_owned(),
            parts,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the template names `{{name}}`.
    pub fn uses(&self, name: &str) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Var(i) if VARIABLES[*i] == name))
    }

    /// The query with the variables filled in.
    pub fn render(&self, vars: &Vars) -> String {
        let values = [vars.arm, vars.flag, vars.env, vars.window];
        let mut out = String::with_capacity(self.text.len() + 32);
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Var(i) => out.push_str(values[*i]),
            }
        }
        out
    }
}

fn names() -> String {
    VARIABLES.map(|v| format!("{{{{{v}}}}}")).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: Vars = Vars {
        arm: "canary",
        flag: "new-checkout",
        env: "production",
        window: "60s",
    };

    #[test]
    fn fills_every_variable_and_keeps_promql_braces() {
        let t = Template::parse(
            r#"sum(increase(http_requests_total{flag="{{flag}}",arm="{{ arm }}",env="{{env}}"}[{{window}}]))"#,
        )
        .unwrap();
        assert_eq!(
            t.render(&VARS),
            r#"sum(increase(http_requests_total{flag="new-checkout",arm="canary",env="production"}[60s]))"#
        );
        assert!(t.uses("arm") && t.uses("window"));
        let plain = Template::parse("sum(rate(x[5m]))").unwrap();
        assert_eq!(plain.render(&VARS), "sum(rate(x[5m]))");
        assert!(!plain.uses("arm"));
    }

    #[test]
    fn refuses_unknown_variables_unclosed_braces_and_empty_queries() {
        let e = Template::parse("x{arm=\"{{variant}}\"}").unwrap_err();
        assert!(e.contains("{{variant}}") && e.contains("{{arm}}"), "{e}");
        let e = Template::parse("x{arm=\"{{arm\"}").unwrap_err();
        assert!(e.contains("not closed"), "{e}");
        assert!(Template::parse("  ").is_err());
    }
}
