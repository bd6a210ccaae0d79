//! Why a piece of flag input was refused (`InvalidFlag`), and the one name check that flag keys,
//! variant names and environment names share. Flags, variants, rules and versions all report through
//! it, so it sits below all of them and imports none of them.

/// Why a piece of flag input was refused. `field` names the input field so an agent can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidFlag {
    pub field: String,
    pub message: String,
}

impl InvalidFlag {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidFlag {
            field: field.into(),
            message: message.into(),
        }
    }
}

const MAX_KEY_LEN: usize = 100;

/// Checks a key-like name (`what`, carried by input `field`): 1 to 100 letters, digits, `-`, `_`, `.`,
/// starting alphanumeric.
pub(super) fn check_name(field: &str, what: &str, s: &str) -> Result<(), InvalidFlag> {
    let ok_first = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if s.is_empty() || s.len() > MAX_KEY_LEN || !ok_first || !ok_rest {
        return Err(InvalidFlag::new(
            field,
            format!(
                "{what} {s:?} is not valid: use 1 to {MAX_KEY_LEN} characters of letters, digits, '-', '_' or '.', starting with a letter or digit (e.g. \"new-checkout\")"
            ),
        ));
    }
    Ok(())
}
