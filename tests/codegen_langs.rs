//! Generated code compiles or parses with each language's own toolchain.
//!
//! For each language a small realistic file (a method of a class, impl or module) is wrapped with
//! `codegen::wrap`, the diff applied with `git apply`, and the result checked by the language's
//! compiler or parser; then both cleanup diffs are applied and checked: keeping the off value gives
//! back the original byte for byte, keeping the candidate gives the new-path placeholder in place of
//! the old code. Rust, TypeScript, Java and C# are compiled against small stubs of the OpenFeature
//! types the guard uses; Python, JavaScript and Go are parsed.
//!
//! With `FLAGWARDEN_OPENFEATURE_NODE_MODULES` (a node_modules holding the real `@openfeature/server-sdk`,
//! `@openfeature/ofrep-provider` and `@types/node`: scripts/node-tools.sh's .node-tools/node_modules,
//! which scripts/lang-tools.sh prints), TypeScript is type-checked against the real SDK's types instead
//! of cart.ts's stub, and the wrapped file is checked together with `wrap_change`'s setup as the module
//! beside it: TypeScript with `tsc --strict`, JavaScript (cart.js imports `client` from the setup's
//! ./flags.js) with `tsc --checkJs`.
//!
//! Tools come from `FLAGWARDEN_PYTHON`, `FLAGWARDEN_NODE`, `FLAGWARDEN_TSC`, `FLAGWARDEN_GOFMT`,
//! `FLAGWARDEN_JAVAC`, `FLAGWARDEN_MCS`, `FLAGWARDEN_RUSTC` (scripts/lang-tools.sh installs them and
//! prints these), else from PATH. A missing tool skips its language with a note, unless
//! `FLAGWARDEN_REQUIRE_TOOLCHAINS=1`, when it fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use flagwarden::codegen::{
    self, CleanupRequest, EditKind, Language, SourceRange, ValueKind, WrapRequest,
};
use serde_json::{Value, json};

const KEY: &str = "checkout.v2";
const DESCRIPTION: &str = "free shipping from 50";

struct Sample {
    language: Language,
    path: &'static str,
    source: &'static str,
    /// The statements to wrap, 1-based inclusive.
    lines: (usize, usize),
    /// The line that stops the unwritten new path.
    stop: &'static str,
}

fn kinds() -> Vec<(ValueKind, Value, Value)> {
    vec![
        (ValueKind::Boolean, json!(false), json!(true)),
        (ValueKind::Boolean, json!(true), json!(false)),
        (ValueKind::String, json!("classic"), json!("compact")),
        (ValueKind::Number, json!(5), json!(10)),
        (ValueKind::Number, json!(1.5), json!(2.5)),
    ]
}

/// Runs the whole round trip for one language.
fn check(sample: &Sample) {
    let Some(checker) = Checker::find(sample.language) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    checker.accepts(dir.path(), sample.path, sample.source, None, "original");
    for (kind, fallback, candidate) in kinds() {
        let what = format!("{:?} {kind:?} {fallback} -> {candidate}", sample.language);
        let plan = codegen::wrap(&WrapRequest {
            language: sample.language,
            flag_key: KEY,
            kind,
            fallback: &fallback,
            candidate: &candidate,
            change_description: DESCRIPTION,
            ofrep_base_url: "http://127.0.0.1:7070",
            file: Some(SourceRange {
                path: sample.path,
                source: sample.source,
                start_line: sample.lines.0,
                end_line: sample.lines.1,
            }),
        })
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        let diff = plan.diff.expect("a file was given");
        let wrapped = git_apply(dir.path(), sample.path, sample.source, &diff);
        checker.accepts(
            dir.path(),
            sample.path,
            &wrapped,
            Some(&plan.setup),
            &format!("{what}, wrapped"),
        );

        let cleanup = |kept: &Value| {
            let plan = codegen::cleanup(&CleanupRequest {
                language: sample.language,
                path: sample.path,
                source: &wrapped,
                flag_key: KEY,
                kept,
            })
            .unwrap();
            assert_eq!(
                plan.edits[0].kind,
                EditKind::Guard,
                "{what}: {:?}",
                plan.edits
            );
            git_apply(dir.path(), sample.path, &wrapped, &plan.diff.unwrap())
        };
        let old = cleanup(&fallback);
        assert_eq!(old, sample.source, "{what}: keeping the off value");

        let new = cleanup(&candidate);
        assert_eq!(
            new,
            expected_new_path(sample),
            "{what}: keeping the candidate"
        );
        checker.accepts(
            dir.path(),
            sample.path,
            &new,
            None,
            &format!("{what}, new path kept"),
        );
    }
}

/// The original with the wrapped lines replaced by the new-path placeholder at their indentation.
fn expected_new_path(sample: &Sample) -> String {
    let lines: Vec<&str> = sample.source.split_inclusive('\n').collect();
    let first = lines[sample.lines.0 - 1];
    let base = &first[..first.len() - first.trim_start().len()];
    let comment = if sample.language == Language::Python {
        "#"
    } else {
        "//"
    };
    let placeholder = format!(
        "{base}{comment} TODO(flagwarden:{KEY}): new path: {DESCRIPTION}\n{base}{}\n",
        sample.stop
    );
    let (before, after) = (&lines[..sample.lines.0 - 1], &lines[sample.lines.1..]);
    before.concat() + &placeholder + &after.concat()
}

/// Writes `source` to `path` in a scratch git repository under `dir`, applies `diff` with
/// `git apply` after `git apply --check`, and returns the file.
fn git_apply(dir: &Path, path: &str, source: &str, diff: &str) -> String {
    let repo = dir.join("repo");
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(repo.join(path).parent().unwrap()).unwrap();
    std::fs::write(repo.join(path), source).unwrap();
    std::fs::write(repo.join("change.patch"), diff).unwrap();
    for args in [
        &["init", "-q"][..],
        &["apply", "--check", "change.patch"],
        &["apply", "change.patch"],
    ] {
        let out = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .output()
            .expect("git runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "git {args:?}: {stderr}\n{diff}");
    }
    std::fs::read_to_string(repo.join(path)).unwrap()
}

/// A language's checker: the tool and how to run it on a file.
struct Checker {
    language: Language,
    tool: PathBuf,
    /// Node, for tsc.
    node: Option<PathBuf>,
    /// The real OpenFeature packages, for TypeScript and JavaScript.
    openfeature: Option<PathBuf>,
}

/// A tool from its environment variable, else from PATH (or `fallback`, a path in the repository).
fn tool(var: &str, command: &str, fallback: Option<&str>) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(command))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        fallback
            .map(|f| Path::new(env!("CARGO_MANIFEST_DIR")).join(f))
            .filter(|p| p.is_file())
    })
}

/// `FLAGWARDEN_OPENFEATURE_NODE_MODULES`, checked to hold what the real-types checks import. Set but
/// incomplete fails the test: whoever set it asked for those checks.
fn openfeature_node_modules() -> Option<PathBuf> {
    let dir = PathBuf::from(
        std::env::var_os("FLAGWARDEN_OPENFEATURE_NODE_MODULES").filter(|p| !p.is_empty())?,
    );
    for package in [
        "@openfeature/server-sdk",
        "@openfeature/ofrep-provider",
        "@types/node",
        "typescript",
    ] {
        assert!(
            dir.join(package).join("package.json").is_file(),
            "FLAGWARDEN_OPENFEATURE_NODE_MODULES={} has no {package}: run scripts/node-tools.sh",
            dir.display()
        );
    }
    Some(dir)
}

/// cart.ts with its stub of the OpenFeature types (everything above `export class`) replaced by the
/// SDK's own.
fn with_real_openfeature_types(source: &str) -> String {
    let (stub, class) = source
        .split_once("export class ")
        .expect("cart.ts: the stub, then `export class`");
    assert!(
        stub.contains("interface Client"),
        "cart.ts starts with its stub:\n{stub}"
    );
    format!(
        "import type {{ Client, EvaluationContext }} from '@openfeature/server-sdk';\n\nexport class {class}"
    )
}

fn required() -> bool {
    std::env::var("FLAGWARDEN_REQUIRE_TOOLCHAINS").as_deref() == Ok("1")
}

impl Checker {
    fn find(language: Language) -> Option<Checker> {
        let (var, command, fallback) = match language {
            Language::Rust => ("FLAGWARDEN_RUSTC", "rustc", None),
            Language::TypeScript => (
                "FLAGWARDEN_TSC",
                "tsc",
                Some(".node-tools/node_modules/typescript/bin/tsc"),
            ),
            Language::JavaScript => ("FLAGWARDEN_NODE", "node", None),
            Language::Python => ("FLAGWARDEN_PYTHON", "python3", None),
            Language::Go => ("FLAGWARDEN_GOFMT", "gofmt", None),
            Language::Java => ("FLAGWARDEN_JAVAC", "javac", None),
            Language::CSharp => ("FLAGWARDEN_MCS", "mcs", None),
        };
        let node = match language {
            Language::TypeScript => tool("FLAGWARDEN_NODE", "node", None),
            _ => None,
        };
        let openfeature = match language {
            Language::TypeScript | Language::JavaScript => openfeature_node_modules(),
            _ => None,
        };
        let found = tool(var, command, fallback)
            .filter(|_| language != Language::TypeScript || node.is_some());
        match found {
            Some(tool) => Some(Checker {
                language,
                tool,
                node,
                openfeature,
            }),
            None if required() => panic!(
                "{command} for {} is missing and FLAGWARDEN_REQUIRE_TOOLCHAINS=1: run `eval \"$(scripts/lang-tools.sh)\"` to install it and set {var}",
                language.as_str()
            ),
            None => {
                eprintln!(
                    "note: skipping the {} toolchain check: no {command} (set {var}, or run scripts/lang-tools.sh)",
                    language.as_str()
                );
                None
            }
        }
    }

    /// Asserts the toolchain accepts `source` as the file `path` (with the real OpenFeature packages,
    /// beside `setup` as ./flags.ts or ./flags.js).
    fn accepts(&self, dir: &Path, path: &str, source: &str, setup: Option<&str>, what: &str) {
        let work = dir.join("check");
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        let name = Path::new(path).file_name().unwrap();
        let file = work.join(name);
        std::fs::write(&file, source).unwrap();
        let out = work.join("out");
        if let Some(modules) = &self.openfeature
            && (self.language == Language::TypeScript || setup.is_some())
        {
            return self.accepts_with_openfeature(modules, &work, &file, source, setup, what);
        }
        let mut command = match self.language {
            Language::Rust => {
                let mut c = Command::new(&self.tool);
                c.args([
                    "--edition",
                    "2021",
                    "--crate-type",
                    "lib",
                    "--emit=metadata",
                    "-A",
                    "warnings",
                    "-o",
                ])
                .arg(out.join("lib.rmeta"))
                .arg(&file);
                c
            }
            Language::TypeScript => {
                let mut c = Command::new(self.node.as_ref().unwrap());
                c.arg(&self.tool).args([
                    "--noEmit", "--strict", "--target", "es2022", "--module", "es2022",
                ]);
                c.arg(&file);
                c
            }
            Language::JavaScript => {
                let mut c = Command::new(&self.tool);
                c.arg("--check").arg(&file);
                c
            }
            Language::Python => {
                let mut c = Command::new(&self.tool);
                c.args([
                    "-c",
                    "import ast, sys; ast.parse(open(sys.argv[1], encoding='utf-8').read(), sys.argv[1])",
                ])
                .arg(&file);
                c
            }
            Language::Go => {
                let mut c = Command::new(&self.tool);
                c.arg("-e").arg("-l").arg(&file);
                c
            }
            Language::Java => {
                let mut c = Command::new(&self.tool);
                c.args(["-Xlint:none", "-d"]).arg(&out).arg(&file);
                c
            }
            Language::CSharp => {
                let mut c = Command::new(&self.tool);
                c.args(["-target:library", "-nowarn:1998,0162,0219,0168"])
                    .arg(format!("-out:{}", out.join("cart.dll").display()))
                    .arg(&file);
                c
            }
        };
        std::fs::create_dir_all(&out).unwrap();
        let result = command
            .current_dir(&work)
            .output()
            .expect("the toolchain runs");
        assert!(
            result.status.success(),
            "{what}: {} refused it:\n{}{}\n--- {path}\n{source}",
            self.tool.display(),
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr),
        );
    }

    /// `tsc` against the real OpenFeature packages, in an ES module package (the setup awaits at top
    /// level) whose node_modules is `modules`: TypeScript `--strict` with cart.ts's stub swapped for the
    /// SDK's types, JavaScript `--checkJs` (its `any`s are allowed, the SDK calls are still checked).
    fn accepts_with_openfeature(
        &self,
        modules: &Path,
        work: &Path,
        file: &Path,
        source: &str,
        setup: Option<&str>,
        what: &str,
    ) {
        std::os::unix::fs::symlink(modules, work.join("node_modules")).unwrap();
        std::fs::write(work.join("package.json"), r#"{"type": "module"}"#).unwrap();
        let (node, tsc) = match self.language {
            Language::TypeScript => (self.node.clone().unwrap(), self.tool.clone()),
            _ => (self.tool.clone(), modules.join("typescript/bin/tsc")),
        };
        let mut command = Command::new(node);
        command.arg(tsc).args([
            "--noEmit", "--target", "es2022", "--module", "nodenext", "--types", "node",
        ]);
        let mut checked = source.to_string();
        if self.language == Language::TypeScript {
            checked = with_real_openfeature_types(source);
            std::fs::write(file, &checked).unwrap();
            command.arg("--strict");
        } else {
            command.args(["--allowJs", "--checkJs"]);
        }
        command.arg(file);
        if let Some(setup) = setup {
            let ext = file.extension().unwrap().to_str().unwrap();
            let flags = work.join(format!("flags.{ext}"));
            std::fs::write(&flags, setup).unwrap();
            command.arg(flags);
            checked = format!("{checked}\n--- flags.{ext}\n{setup}");
        }
        let result = command
            .current_dir(work)
            .output()
            .expect("the toolchain runs");
        assert!(
            result.status.success(),
            "{what}: tsc with the real OpenFeature packages ({}) refused it:\n{}{}\n--- {}\n{checked}",
            modules.display(),
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr),
            file.file_name().unwrap().to_string_lossy(),
        );
    }
}

#[test]
fn rust_compiles() {
    check(&Sample {
        language: Language::Rust,
        path: "src/cart.rs",
        source: include_str!("data/codegen/cart.rs"),
        lines: (38, 40),
        stop: "todo!(\"flagwarden:checkout.v2: new path not written yet\");",
    });
}

#[test]
fn typescript_type_checks() {
    check(&Sample {
        language: Language::TypeScript,
        path: "src/cart.ts",
        source: include_str!("data/codegen/cart.ts"),
        lines: (15, 17),
        stop: "throw new Error(\"flagwarden:checkout.v2: new path not written yet\");",
    });
}

#[test]
fn javascript_parses() {
    check(&Sample {
        language: Language::JavaScript,
        path: "src/cart.js",
        source: include_str!("data/codegen/cart.js"),
        lines: (9, 11),
        stop: "throw new Error(\"flagwarden:checkout.v2: new path not written yet\");",
    });
}

#[test]
fn python_parses() {
    check(&Sample {
        language: Language::Python,
        path: "app/cart.py",
        source: include_str!("data/codegen/cart.py"),
        lines: (9, 11),
        stop: "raise NotImplementedError(\"flagwarden:checkout.v2: new path not written yet\")",
    });
}

#[test]
fn go_parses() {
    check(&Sample {
        language: Language::Go,
        path: "cart/cart.go",
        source: include_str!("data/codegen/cart.go"),
        lines: (15, 24),
        stop: "panic(\"flagwarden:checkout.v2: new path not written yet\")",
    });
}

#[test]
fn java_compiles() {
    check(&Sample {
        language: Language::Java,
        path: "src/main/java/Cart.java",
        source: include_str!("data/codegen/Cart.java"),
        lines: (23, 29),
        stop: "throw new UnsupportedOperationException(\"flagwarden:checkout.v2: new path not written yet\");",
    });
}

#[test]
fn csharp_compiles() {
    check(&Sample {
        language: Language::CSharp,
        path: "Cart.cs",
        source: include_str!("data/codegen/Cart.cs"),
        lines: (36, 38),
        stop: "throw new NotImplementedException(\"flagwarden:checkout.v2: new path not written yet\");",
    });
}
