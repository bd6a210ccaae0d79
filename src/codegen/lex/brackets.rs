//! Brackets on the masked lines: walking them with a stack (to find what a range leaves open or
//! closes without opening) and finding the bracket that closes a given one.

use super::Line;

pub(in crate::codegen) fn opener(c: char) -> Option<char> {
    match c {
        ')' => Some('('),
        ']' => Some('['),
        '}' => Some('{'),
        _ => None,
    }
}

/// An open bracket: its char, line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::codegen) struct Open {
    pub bracket: char,
    pub line: usize,
    pub col: usize,
}

/// What happened while walking lines `from..to` with a bracket stack.
pub(in crate::codegen) enum Walk {
    /// The brackets still open at the end, innermost last.
    Open(Vec<Open>),
    /// A closing bracket on a line with nothing open to close, or the wrong kind.
    Unopened(usize, char),
}

/// Walks the masked lines `from..to`, starting with `stack` open.
pub(in crate::codegen) fn walk(
    lines: &[Line],
    from: usize,
    to: usize,
    mut stack: Vec<Open>,
) -> Walk {
    for (n, line) in lines.iter().enumerate().take(to).skip(from) {
        for (col, &c) in line.masked.iter().enumerate() {
            match c {
                '(' | '[' | '{' => stack.push(Open {
                    bracket: c,
                    line: n,
                    col,
                }),
                ')' | ']' | '}' => match stack.last() {
                    Some(open) if Some(open.bracket) == opener(c) => {
                        stack.pop();
                    }
                    _ => return Walk::Unopened(n, c),
                },
                _ => {}
            }
        }
    }
    Walk::Open(stack)
}

/// The (line, col) closing the bracket opened at `open`, if any.
pub(in crate::codegen) fn closing(lines: &[Line], open: Open) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (n, line) in lines.iter().enumerate().skip(open.line) {
        let from = if n == open.line { open.col } else { 0 };
        for (col, &c) in line.masked.iter().enumerate().skip(from) {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Some((n, col));
                    }
                }
                _ => {}
            }
        }
    }
    None
}
