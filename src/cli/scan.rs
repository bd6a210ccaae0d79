//! `flagwarden scan`: finds every flag key in the project and records the references, printing what
//! appeared, disappeared and moved; `--keys` only searches, for benchmarks beside `rg`.

use std::path::Path;

use anyhow::Result;

use super::{Cli, print_json};

pub(super) fn scan(cli: &Cli, root: Option<&Path>, json: bool, keys: &[String]) -> Result<()> {
    if !keys.is_empty() {
        // Walk and search only, the same work as `rg` on the same tree: for benchmarks.
        let root = root.unwrap_or(Path::new("."));
        let outcome = crate::scan::scan(root, keys)?;
        println!(
            "{} files searched, {} references",
            outcome.files,
            outcome.hits.len()
        );
        return Ok(());
    }
    let report = cli.open_app()?.scan_code_refs(root)?;
    if json {
        return print_json(&report);
    }
    println!(
        "searched {} files under {} in {} ms (recorded in {} ms): {} references{}",
        report.files,
        report.root,
        report.scan_ms,
        report.record_ms,
        report.refs,
        match report.unreadable {
            0 => String::new(),
            n => format!(", {n} unreadable entries skipped"),
        }
    );
    for (flag, n) in &report.refs_per_flag {
        println!("  {flag}: {n}");
    }
    for (what, list) in [
        ("appeared", &report.appeared),
        ("disappeared", &report.disappeared),
    ] {
        println!("{what}: {}", list.len());
        for c in list {
            println!("  {} {}", c.flag, c.place());
        }
    }
    if report.moved > 0 {
        println!("moved within their file: {}", report.moved);
    }
    Ok(())
}
