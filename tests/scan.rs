//! `flagwarden scan` through the real binary: a git project with ignored, hidden, nested and binary
//! files and a key that prefixes another; references that disappear, move and come back.

mod common;

use std::path::Path;

use common::{Project, TEST_POLICY};
use flagwarden::app::{App, Config, CreateFlag, LoadedPolicy};
use flagwarden::domain::policy::Actor;
use serde_json::{Value, json};

const CHECKOUT_RS: &str =
    "// checkout\nif flags.is_on(\"new-checkout\") {\n    let v = \"new-checkout-v2\";\n}\n";

fn write(root: &Path, file: &str, contents: &[u8]) {
    let path = root.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// A project whose store has flags `new-checkout` and `new-checkout-v2`, and files that mention them.
fn project() -> Project {
    let p = Project::new(TEST_POLICY);
    {
        let policy = LoadedPolicy::parse("flagwarden.toml", TEST_POLICY).unwrap();
        let config = Config {
            ofrep_base_url: "http://127.0.0.1:7070".into(),
            project_root: p.path().into(),
        };
        let app = App::open(&p.db(), policy, config).unwrap();
        for key in ["new-checkout", "new-checkout-v2"] {
            let req: CreateFlag = serde_json::from_value(
                json!({"key": key, "description": "d", "change_type": "code", "reason": "r"}),
            )
            .unwrap();
            app.create_flag(&Actor::Agent("test-agent".into()), &req)
                .unwrap();
        }
    }
    let root = p.path();
    // The `ignore` crate, like rg, honours .gitignore only inside a git repository.
    std::fs::create_dir_all(root.join(".git")).unwrap();
    write(root, ".gitignore", b"ignored/\ntarget/\n");
    write(root, "src/checkout.rs", CHECKOUT_RS.as_bytes());
    write(
        root,
        "web/app/deep/x.ts",
        b"const on = client.getBooleanValue(\"new-checkout-v2\", false);\n",
    );
    write(
        root,
        "docs/notes.md",
        b"new-checkout-v21 is not a flag, nor is xnew-checkout\n",
    );
    write(root, "ignored/gen.rs", b"\"new-checkout\"\n");
    write(root, "target/debug/out.rs", b"\"new-checkout\"\n");
    write(root, ".hidden/a.py", b"\"new-checkout\"\n");
    write(
        root,
        "blob.bin",
        b"\"new-checkout\"\n\x00\x01\x02 new-checkout-v2\n",
    );
    p
}

fn scan(p: &Project) -> Value {
    serde_json::from_str(&p.cli_ok(&["scan", "--json"])).unwrap()
}

fn refs(p: &Project, key: &str) -> Vec<Value> {
    let flag: Value = serde_json::from_str(&p.cli_ok(&["flags", "show", key])).unwrap();
    flag["code_refs"].as_array().unwrap().clone()
}

/// `[flag, "file:line"]` pairs of a scan's `appeared` or `disappeared` list.
fn places(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["flag"].as_str().unwrap().to_owned(),
                format!("{}:{}", c["file"].as_str().unwrap(), c["line"]),
            )
        })
        .collect()
}

fn pair(flag: &str, place: &str) -> (String, String) {
    (flag.into(), place.into())
}

#[test]
fn scan_finds_whole_keys_where_rg_would_look() {
    let p = project();
    let report = scan(&p);
    assert_eq!(report["refs"], 3, "{report:#}");
    assert_eq!(
        report["refs_per_flag"],
        json!({"new-checkout": 1, "new-checkout-v2": 2})
    );
    assert_eq!(
        places(&report["appeared"]),
        vec![
            pair("new-checkout", "src/checkout.rs:2"),
            pair("new-checkout-v2", "src/checkout.rs:3"),
            pair("new-checkout-v2", "web/app/deep/x.ts:1"),
        ]
    );
    assert_eq!(places(&report["disappeared"]), vec![]);
    // flagwarden.toml, src/checkout.rs, x.ts, notes.md, blob.bin: hidden (.gitignore among them)
    // and ignored files are not searched at all.
    assert_eq!(report["files"], 5, "{report:#}");

    let v2 = refs(&p, "new-checkout-v2");
    assert_eq!(v2.len(), 2, "{v2:#?}");
    assert_eq!(v2[0]["file"], "src/checkout.rs");
    assert_eq!(v2[0]["line"], 3);
    assert_eq!(v2[0]["snippet"], "let v = \"new-checkout-v2\";");
    assert_eq!(v2[0]["source"], "scan");
    assert_eq!(v2[0]["language"], "rust");
    assert!(v2[0].get("gone_at").is_none());
    assert_eq!(v2[1]["language"], "typescript");

    // A scan that finds what is known changes nothing and says nothing in the audit trail.
    let again = scan(&p);
    assert_eq!(places(&again["appeared"]), vec![]);
    assert_eq!(places(&again["disappeared"]), vec![]);
    assert_eq!(again["audit_seqs"], json!([]));
}

#[test]
fn disappearing_references_are_noticed_and_reappearing_ones_clear() {
    let p = project();
    scan(&p);
    // The second line naming new-checkout-v2 in checkout.rs goes away.
    write(
        p.path(),
        "src/checkout.rs",
        b"// checkout\nif flags.is_on(\"new-checkout\") {\n}\n",
    );
    let report = scan(&p);
    assert_eq!(
        places(&report["disappeared"]),
        vec![pair("new-checkout-v2", "src/checkout.rs:3")]
    );
    assert_eq!(report["audit_seqs"].as_array().unwrap().len(), 1);
    let gone: Vec<Value> = refs(&p, "new-checkout-v2");
    assert_eq!(gone.len(), 2);
    assert_eq!(gone[0]["file"], "web/app/deep/x.ts");
    assert!(gone[0].get("gone_at").is_none());
    assert_eq!(gone[1]["file"], "src/checkout.rs");
    assert!(gone[1]["gone_at"].is_string(), "{gone:#?}");

    // The system said so in the audit trail, naming the flag and the place.
    let audit: Value =
        serde_json::from_str(&p.cli_ok(&["audit", "--json", "--key", "new-checkout-v2"])).unwrap();
    let event = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "scan_code_refs")
        .unwrap_or_else(|| panic!("no scan_code_refs event in {audit:#}"));
    assert_eq!(event["actor_kind"], "system");
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .contains("src/checkout.rs:3"),
        "{event:#}"
    );

    // Back again: live, and said to have appeared.
    write(p.path(), "src/checkout.rs", CHECKOUT_RS.as_bytes());
    let report = scan(&p);
    assert_eq!(
        places(&report["appeared"]),
        vec![pair("new-checkout-v2", "src/checkout.rs:3")]
    );
    assert!(
        refs(&p, "new-checkout-v2")
            .iter()
            .all(|r| r.get("gone_at").is_none())
    );
}

#[test]
fn a_reference_that_moves_within_its_file_neither_appears_nor_disappears() {
    let p = project();
    scan(&p);
    write(
        p.path(),
        "web/app/deep/x.ts",
        b"// a new first line\n\nconst on = client.getBooleanValue(\"new-checkout-v2\", false);\n",
    );
    let report = scan(&p);
    assert_eq!(places(&report["appeared"]), vec![]);
    assert_eq!(places(&report["disappeared"]), vec![]);
    assert_eq!(report["moved"], 1);
    let v2 = refs(&p, "new-checkout-v2");
    assert_eq!(v2.len(), 2, "the old line is forgotten: {v2:#?}");
    assert_eq!(v2[1]["line"], 3);
    assert!(v2.iter().all(|r| r.get("gone_at").is_none()));
}

#[test]
fn a_root_outside_the_project_is_refused_with_the_fix() {
    let p = project();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = p.cli(&["scan", "--root", elsewhere.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("outside the project root"), "{err}");
}
