//! PLACEHOLDER until the codegen module lands (same API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    TypeScript,
    JavaScript,
    Python,
    Go,
    Java,
    CSharp,
}
impl Language {
    pub fn parse(s: &str) -> Result<Language, CodegenError> {
        match s {
            "rust" => Ok(Language::Rust),
            "python" => Ok(Language::Python),
            "typescript" => Ok(Language::TypeScript),
            _ => Err(CodegenError::UnknownLanguage { given: s.into() }),
        }
    }
    pub fn as_str(self) -> &'static str {
        "rust"
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Boolean,
    String,
    Number,
    Object,
}
pub struct WrapRequest<'a> {
    pub language: Language,
    pub flag_key: &'a str,
    pub kind: ValueKind,
    pub fallback: &'a serde_json::Value,
    pub candidate: &'a serde_json::Value,
    pub change_description: &'a str,
    pub ofrep_base_url: &'a str,
    pub file: Option<SourceRange<'a>>,
}
pub struct SourceRange<'a> {
    pub path: &'a str,
    pub source: &'a str,
    pub start_line: usize,
    pub end_line: usize,
}
#[derive(Debug, Clone, PartialEq)]
pub struct WrapPlan {
    pub install: String,
    pub setup: String,
    pub guard: String,
    pub diff: Option<String>,
    pub test_plan: String,
}
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodegenError {
    #[error("unknown language {given}")]
    UnknownLanguage { given: String },
    #[error("{message}")]
    LineRange { message: String },
}
pub fn wrap(req: &WrapRequest) -> Result<WrapPlan, CodegenError> {
    Ok(WrapPlan {
        install: String::new(),
        setup: req.ofrep_base_url.into(),
        guard: req.flag_key.into(),
        diff: None,
        test_plan: String::new(),
    })
}
