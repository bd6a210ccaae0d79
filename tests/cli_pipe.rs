//! The CLI into a pipe whose reader is gone (`flagwarden audit --json | head -0`): the command ends
//! quietly, by SIGPIPE like any Unix tool, instead of panicking in println! (regression: it printed
//! "failed printing to stdout" with a panic message and exited 101).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::{Project, TEST_POLICY};

/// SIGPIPE's number on Linux.
const SIGPIPE: i32 = 13;

#[test]
fn output_into_a_closed_pipe_ends_by_sigpipe_without_a_panic() {
    let p = Project::new(TEST_POLICY);
    for args in [
        &["audit", "--json"][..],
        &["flags"],
        &["approvals", "--json"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flagwarden"))
            .arg("--policy")
            .arg(p.policy())
            .args(args)
            .env("FLAGWARDEN_HUMAN", "alice")
            .env_remove("FLAGWARDEN_DB")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run flagwarden");
        // The reader goes away before the command has opened its store, so its first write fails.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait for flagwarden");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked"),
            "flagwarden {args:?}: {stderr}"
        );
        assert_eq!(
            out.status.signal(),
            Some(SIGPIPE),
            "flagwarden {args:?}: {:?} {stderr}",
            out.status
        );
    }
}
