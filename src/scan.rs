//! Code references: finds every mention of every flag key in a source tree, the way ripgrep would.
//!
//! This is an edge module (it reads the file system). The walk is ripgrep's own (`ignore`: parallel,
//! honouring .gitignore, .ignore and hidden-file rules, so `.git`, `.flagwarden` and an ignored
//! `target` are skipped exactly as `rg` skips them) and so is the search (`grep`: a literal-optimised
//! regex over buffered reads, binary files given up at their first NUL byte). The searcher looks for
//! the plain alternation of all keys, which is the fastest thing it can look for; each line it
//! reports is then checked for whole keys, since a key may be a prefix of another (`checkout-v2` in
//! `checkout-v21`) and the regex engine has no look-around to say so itself.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use grep::matcher::Matcher;
use grep::regex::{RegexMatcher, RegexMatcherBuilder};
use grep::searcher::sinks::Bytes;
use grep::searcher::{BinaryDetection, SearcherBuilder};
use ignore::{WalkBuilder, WalkState};

/// Snippets are cut to this many characters, so one minified line cannot bloat a flag's answer.
pub const SNIPPET_CHARS: usize = 160;

/// One mention of a flag key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Hit {
    /// Relative to the scanned root, with `/` between components.
    pub file: String,
    /// 1-based.
    pub line: u32,
    pub flag: String,
    pub language: &'static str,
    /// The line, trimmed, at most `SNIPPET_CHARS` characters around the key.
    pub snippet: String,
}

/// What a scan found: every hit in (file, line, flag) order, and how many files it searched.
#[derive(Debug, Default)]
pub struct ScanOutcome {
    pub files: u64,
    pub hits: Vec<Hit>,
    /// Entries that could not be read (permissions, broken links); skipped like `rg` skips them.
    pub unreadable: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot scan {path}: {message}; pass an existing directory as --root")]
    Root { path: String, message: String },
    #[error(
        "invalid flag key {key:?} for scanning: keys start with a letter or digit and contain only letters, digits, '.', '_' and '-'"
    )]
    Key { key: String },
    #[error("cannot build the search pattern: {0}")]
    Pattern(String),
}

/// Searches every file under `root` that `rg` would search for whole occurrences of `keys`.
pub fn scan(root: &Path, keys: &[String]) -> Result<ScanOutcome, ScanError> {
    if !root.is_dir() {
        return Err(ScanError::Root {
            path: root.display().to_string(),
            message: "not a directory".into(),
        });
    }
    let Some(matcher) = matcher(keys)? else {
        return Ok(ScanOutcome::default()); // no flags: nothing can be mentioned
    };
    let files = AtomicU64::new(0);
    let unreadable = AtomicU64::new(0);
    let hits = Mutex::new(Vec::new());
    WalkBuilder::new(root).build_parallel().run(|| {
        let matcher = matcher.clone();
        let mut searcher = SearcherBuilder::new()
            .binary_detection(BinaryDetection::quit(0))
            .line_number(true)
            .build();
        let (files, unreadable, hits) = (&files, &unreadable, &hits);
        Box::new(move |entry| {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    tracing::debug!("scan skipped an entry: {e}");
                    unreadable.fetch_add(1, Ordering::Relaxed);
                    return WalkState::Continue;
                }
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return WalkState::Continue;
            }
            files.fetch_add(1, Ordering::Relaxed);
            let mut found = Vec::new();
            let searched = searcher.search_path(
                &matcher,
                entry.path(),
                Bytes(|line_number, line| {
                    whole_keys(&matcher, line, |start, key| {
                        found.push((line_number, snippet(line, start), key.to_owned()));
                    });
                    Ok(true)
                }),
            );
            if let Err(e) = searched {
                tracing::debug!("scan could not read {}: {e}", entry.path().display());
                unreadable.fetch_add(1, Ordering::Relaxed);
            }
            if !found.is_empty() {
                let file = relative(root, entry.path());
                let language = language(&file);
                let mut hits = hits.lock().unwrap_or_else(|p| p.into_inner());
                hits.extend(found.into_iter().map(|(line, snippet, flag)| Hit {
                    file: file.clone(),
                    line: u32::try_from(line).unwrap_or(u32::MAX),
                    flag,
                    language,
                    snippet,
                }));
            }
            WalkState::Continue
        })
    });
    let mut hits = hits.into_inner().unwrap_or_else(|p| p.into_inner());
    hits.sort_unstable();
    // One reference per flag, file and line, however often the line names the key.
    hits.dedup_by(|a, b| a.file == b.file && a.line == b.line && a.flag == b.flag);
    Ok(ScanOutcome {
        files: files.into_inner(),
        hits,
        unreadable: unreadable.into_inner(),
    })
}

/// The regex `rg` would be given for the same search: the keys, longest first, between characters
/// that cannot be part of a key. (`scan` searches for the bare alternation and checks the
/// boundaries itself; both find the same lines.)
pub fn rg_pattern(keys: &[String]) -> Result<String, ScanError> {
    Ok(format!(
        "(^|[^A-Za-z0-9._-])({})([^A-Za-z0-9._-]|$)",
        alternation(keys)?
    ))
}

fn matcher(keys: &[String]) -> Result<Option<RegexMatcher>, ScanError> {
    if keys.is_empty() {
        return Ok(None);
    }
    RegexMatcherBuilder::new()
        .line_terminator(Some(b'\n'))
        .build(&alternation(keys)?)
        .map(Some)
        .map_err(|e| ScanError::Pattern(e.to_string()))
}

/// `key1|key2|…`, escaped, longest first: at any position the regex prefers the first alternative
/// that matches, so the longest key wins and a key is never cut short by a prefix of it.
fn alternation(keys: &[String]) -> Result<String, ScanError> {
    let mut keys: Vec<&String> = keys.iter().collect();
    for key in &keys {
        let mut bytes = key.bytes();
        let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
        if !first_ok || !bytes.all(is_key_byte) {
            return Err(ScanError::Key {
                key: key.to_string(),
            });
        }
    }
    keys.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    keys.dedup();
    // Of the characters keys may hold, only '.' means something to the regex.
    Ok(keys
        .iter()
        .map(|k| k.replace('.', "\\."))
        .collect::<Vec<_>>()
        .join("|"))
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

/// Calls `found(start, key)` for every whole key in `line`: one with no key character on either side.
fn whole_keys(matcher: &RegexMatcher, line: &[u8], mut found: impl FnMut(usize, &str)) {
    let mut at = 0;
    while at < line.len() {
        let Ok(Some(m)) = matcher.find_at(line, at) else {
            return;
        };
        let before_ok = m.start() == 0 || !is_key_byte(line[m.start() - 1]);
        let after_ok = m.end() == line.len() || !is_key_byte(line[m.end()]);
        if before_ok && after_ok {
            // The match is one of the keys, all ASCII.
            if let Ok(key) = std::str::from_utf8(&line[m.start()..m.end()]) {
                found(m.start(), key);
            }
            at = m.end();
        } else {
            // The longest key at this position is not whole, so no shorter one is either (it would
            // be followed by a key character of the longer one); keys start with ASCII, so +1 is safe.
            at = m.start() + 1;
        }
    }
}

/// The line without surrounding white space, cut to `SNIPPET_CHARS` characters around `start`, on
/// character boundaries (invalid UTF-8 is replaced, not refused).
pub fn snippet(line: &[u8], start: usize) -> String {
    let text = String::from_utf8_lossy(line);
    let lead = text.len() - text.trim_start().len();
    let text = text.trim();
    let total = text.chars().count();
    if total <= SNIPPET_CHARS {
        return text.to_owned();
    }
    // Begin a little before the key, so the snippet shows it with some context, but no later than
    // leaves a full snippet.
    let key_at = start.saturating_sub(lead).min(text.len());
    let mut from = key_at.saturating_sub(40);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let skip = text[..from].chars().count().min(total - SNIPPET_CHARS);
    text.chars().skip(skip).take(SNIPPET_CHARS).collect()
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The language a file is written in, guessed from its extension; "other" outside the seven.
pub fn language(file: &str) -> &'static str {
    crate::codegen::Language::from_path(file).map_or("other", crate::codegen::Language::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole keys `keys` finds in `line`.
    fn check(keys: &[&str], line: &str, expect: &[&str]) {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let m = matcher(&keys).unwrap().unwrap();
        let mut got = Vec::new();
        whole_keys(&m, line.as_bytes(), |_, k| got.push(k.to_owned()));
        assert_eq!(got, expect, "in {line:?}");
    }

    #[test]
    fn keys_match_whole_only() {
        let keys = ["checkout-v2", "checkout", "checkout-v21", "a.b"];
        check(&keys, r#"flag("checkout-v2")"#, &["checkout-v2"]);
        check(&keys, r#"flag("checkout-v21")"#, &["checkout-v21"]);
        check(&keys, r#"flag("checkout-v22")"#, &[]);
        check(&keys, "checkout", &["checkout"]);
        check(&keys, "xcheckout checkout_ checkout.x", &[]);
        check(
            &keys,
            "checkout checkout-v2,checkout-v21",
            &["checkout", "checkout-v2", "checkout-v21"],
        );
        check(&keys, "a.b axb a.bc", &["a.b"]);
        check(&keys, "é checkout ü", &["checkout"]);
    }

    #[test]
    fn bad_keys_are_named() {
        let err = alternation(&["ok".into(), "(bad)".into()]).unwrap_err();
        assert!(err.to_string().contains("\"(bad)\""), "{err}");
    }

    #[test]
    fn snippets_are_trimmed_and_cut_on_char_boundaries() {
        assert_eq!(snippet(b"   let x = 1;  \n", 7), "let x = 1;");
        let long = format!("{}checkout{}", "é".repeat(100), "ü".repeat(100));
        let s = snippet(long.as_bytes(), 200);
        assert_eq!(s.chars().count(), SNIPPET_CHARS);
        assert!(s.contains("checkout"), "{s}");
    }

    #[test]
    fn languages_from_extensions() {
        for (file, lang) in [
            ("src/a.rs", "rust"),
            ("web/x.tsx", "typescript"),
            ("x.mjs", "javascript"),
            ("a/b.py", "python"),
            ("m.go", "go"),
            ("A.java", "java"),
            ("P.cs", "csharp"),
            ("Makefile", "other"),
            ("README.md", "other"),
        ] {
            assert_eq!(language(file), lang, "{file}");
        }
    }
}
