//! Power-loss durability, observed at the system-call level. A SIGKILL leaves the OS page cache
//! intact, so it cannot show what a power cut does; what survives a power cut is what was fsync'ed.
//! This test runs `flagwarden serve` under strace and checks, for every acknowledged mutating answer
//! (a response carrying an `audit_seq`), that every write to the SQLite write-ahead log before it had
//! been fsync'ed before the answer left the process. That is the guarantee of WAL mode with
//! `synchronous = FULL`; with `NORMAL` (SQLite's common WAL setting) the commit returns before the
//! sync and this test fails.
//!
//! Needs `strace` (Debian package strace; scripts/test.sh installs it).

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Project, TEST_POLICY, connect_http};
use serde_json::json;

#[derive(Debug, PartialEq)]
enum Io {
    WalWrite,
    WalSync,
    /// A response that acknowledges a change.
    Ack,
}

/// Events from `strace -f -ttt -y` output, in time order. A sync counts when it returns 0: on its
/// own line, or on the "resumed" line that completes an unfinished one from the same thread.
fn events(trace: &str) -> Vec<(f64, Io)> {
    let mut out = Vec::new();
    let mut unfinished_wal_sync = std::collections::HashSet::new();
    for line in trace.lines() {
        // "PID TIMESTAMP CALL", the pid padded with spaces to five characters.
        let Some((pid, rest)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let Some((ts, call)) = rest.trim_start().split_once(' ') else {
            continue;
        };
        let Ok(ts) = ts.parse::<f64>() else { continue };
        let wal = call.contains("-wal>");
        let sync = call.starts_with("fdatasync(") || call.starts_with("fsync(");
        let resumed =
            call.starts_with("<... fdatasync resumed>") || call.starts_with("<... fsync resumed>");
        let ev = if sync && call.contains("<unfinished") {
            if wal {
                unfinished_wal_sync.insert(pid);
            }
            None
        } else if resumed {
            (unfinished_wal_sync.remove(pid) && call.ends_with("= 0")).then_some(Io::WalSync)
        } else if sync {
            (wal && call.ends_with("= 0")).then_some(Io::WalSync)
        } else if (call.starts_with("pwrite64(") || call.starts_with("write(")) && wal {
            Some(Io::WalWrite)
        } else if (call.contains("socket:[") || call.contains("TCP")) && call.contains("audit_seq")
        {
            Some(Io::Ack)
        } else {
            None
        };
        if let Some(ev) = ev {
            out.push((ts, ev));
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The first acknowledgement sent while a WAL write was not yet synced, if any.
fn unsynced_ack(events: &[(f64, Io)]) -> Option<f64> {
    let mut dirty = false;
    for (ts, ev) in events {
        match ev {
            Io::WalWrite => dirty = true,
            Io::WalSync => dirty = false,
            Io::Ack if dirty => return Some(*ts),
            Io::Ack => {}
        }
    }
    None
}

fn strace() -> Option<String> {
    let out = Command::new("strace").arg("-V").output().ok()?;
    out.status.success().then(|| "strace".to_owned())
}

#[test]
fn the_parser_catches_an_answer_sent_before_the_sync() {
    let synced = "1 1.0 pwrite64(5</d/x.db-wal>, \"..\", 10, 0) = 10\n\
                  1 1.1 fdatasync(5</d/x.db-wal>) = 0\n\
                  2 1.2 write(9<TCP:[1->2]>, \"{\\\"audit_seq\\\":3}\", 16) = 16\n";
    assert_eq!(unsynced_ack(&events(synced)), None);
    let unsynced = "1 1.0 pwrite64(5</d/x.db-wal>, \"..\", 10, 0) = 10\n\
                    2 1.2 write(9<TCP:[1->2]>, \"{\\\"audit_seq\\\":3}\", 16) = 16\n\
                    1 1.3 fdatasync(5</d/x.db-wal>) = 0\n";
    assert_eq!(unsynced_ack(&events(unsynced)), Some(1.2));
    let threaded = "  901 1.0 pwrite64(5</d/x.db-wal>, \"..\", 10, 0) = 10\n\
                    1 1.1 fdatasync(5</d/x.db-wal> <unfinished ...>\n\
                    1 1.15 <... fdatasync resumed>) = 0\n\
                    2 1.2 sendto(9<TCP:[1->2]>, \"{\\\"audit_seq\\\":3}\", 16, 0, NULL, 0) = 16\n";
    assert_eq!(unsynced_ack(&events(threaded)), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_change_is_fsynced_before_the_answer_leaves() {
    let Some(strace) = strace() else {
        assert!(
            std::env::var_os("FLAGWARDEN_REQUIRE_TOOLCHAINS").is_none(),
            "strace is required (apt-get install strace)"
        );
        eprintln!("skipped: strace is not installed");
        return;
    };
    let p = Project::new(TEST_POLICY);
    p.cli_ok(&["flags", "--json"]);
    let trace_path = p.path().join("strace.txt");
    let mut child = Command::new(strace)
        .args(["-f", "-ttt", "-y", "-s", "65536", "-qq"])
        .args([
            "-e",
            "trace=pwrite64,write,writev,sendto,sendmsg,fsync,fdatasync",
        ])
        .arg("-o")
        .arg(&trace_path)
        .arg(env!("CARGO_BIN_EXE_flagwarden"))
        .arg("--policy")
        .arg(p.policy())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("FLAGWARDEN_DB")
        .env_remove("FLAGWARDEN_TOKENS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn strace");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("flagwarden serving ")
        .unwrap()
        .to_owned();

    let agent = connect_http(&url, "durable", None).await;
    let mut acks = 0;
    for i in 0..8 {
        let key = format!("d{i}");
        agent
            .call(
                "create_flag",
                json!({"key": key, "description": "d", "change_type": "code", "reason": "r"}),
            )
            .await
            .ok();
        agent
            .call("set_targeting", json!({"key": key, "environment": "development", "rules": [], "enabled": true, "default_variant": "on", "reason": "r"}))
            .await
            .ok();
        acks += 2;
    }
    agent.close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Stop the server itself (its pid leads the trace), and strace exits with it.
    let trace = std::fs::read_to_string(&trace_path).unwrap();
    let pid = trace.split_whitespace().next().unwrap();
    let _ = Command::new("kill").args(["-TERM", pid]).status();
    let _ = child.wait();
    let trace = std::fs::read_to_string(&trace_path).unwrap();

    let events = events(&trace);
    let count = |k: Io| events.iter().filter(|(_, e)| *e == k).count();
    assert!(
        count(Io::Ack) >= acks,
        "saw {} acknowledgements of {acks} calls",
        count(Io::Ack)
    );
    assert!(count(Io::WalWrite) >= acks, "each change writes the WAL");
    assert!(count(Io::WalSync) >= acks, "each commit syncs the WAL");
    assert_eq!(
        unsynced_ack(&events),
        None,
        "an answer left before its change was on disk"
    );
}
