//! `git` in a scratch directory, for the tests that apply the diffs flagwarden writes with the real
//! `git apply`: a failing command fails the test with git's own message.

use std::path::Path;
use std::process::Command;

/// Runs `git args` in `root`, with `stdin` piped in when given, and asserts that it succeeded.
pub fn git(root: &Path, args: &[&str], stdin: Option<&str>) {
    use std::io::Write;
    let mut child = Command::new("git")
        .args(args)
        .current_dir(root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
