//! README.md's "Register it in your agent" blocks, read as the clients read them: each `claude mcp add`
//! and `codex mcp add` line, each Codex `config.toml` table and each `.mcp.json`, parsed (TOML, JSON),
//! must name what the real binary runs: `flagwarden --policy FILE mcp` as parsed by the real command
//! line, or a streamable HTTP URL at the `/mcp` path. Then one stdio entry and one URL are started and
//! connected to, with only the placeholder paths and the port replaced.

mod common;

use clap::Parser;
use flagwarden::cli::{Cli, Command};
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::transport::TokioChildProcess;
use serde_json::Value;

const BIN: &str = "/abs/path/to/target/release/flagwarden";

/// The section's fenced blocks as (language, body).
fn blocks() -> Vec<(String, String)> {
    let readme = include_str!("../README.md");
    let start = readme
        .find("## Register it in your agent")
        .expect("README has the registration section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut out = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if let Some(lang) = line.strip_prefix("```")
            && !lang.is_empty()
        {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            out.push((lang.to_owned(), body.join("\n")));
        }
    }
    out
}

/// One registration: a command line to start, or a URL.
#[derive(Debug)]
enum Entry {
    Stdio { command: String, args: Vec<String> },
    Http { url: String },
}

fn entries() -> Vec<(String, Entry)> {
    let mut out = Vec::new();
    for (lang, body) in blocks() {
        match lang.as_str() {
            "bash" => {
                for line in body.lines().filter(|l| !l.starts_with('#')) {
                    let words: Vec<&str> = line.split_whitespace().collect();
                    assert!(
                        matches!(words.as_slice(), ["claude" | "codex", "mcp", "add", ..]),
                        "not a registration: {line}"
                    );
                    let entry = match words.iter().position(|w| *w == "--") {
                        Some(i) => Entry::Stdio {
                            command: words[i + 1].to_owned(),
                            args: words[i + 2..].iter().map(|w| w.to_string()).collect(),
                        },
                        None => {
                            let at = words.iter().position(|w| *w == "--url");
                            let url = at.map(|i| words[i + 1]).unwrap_or_else(|| {
                                words
                                    .iter()
                                    .copied()
                                    .find(|w| w.starts_with("http"))
                                    .unwrap_or("")
                            });
                            Entry::Http {
                                url: url.to_owned(),
                            }
                        }
                    };
                    out.push((line.to_owned(), entry));
                }
            }
            "toml" => {
                let doc: toml::Table = body.parse().unwrap_or_else(|e| panic!("{body}\n{e}"));
                // TOML reads as JSON's data model, so one reader serves both config formats.
                let doc = serde_json::to_value(doc).unwrap();
                let server = &doc["mcp_servers"]["flagwarden"];
                assert!(server.is_object(), "no [mcp_servers.flagwarden] in {body}");
                if server.get("url").is_some() {
                    assert_eq!(server["bearer_token_env_var"], "FLAGWARDEN_TOKEN", "{body}");
                }
                out.push((body.clone(), server_entry(server)));
            }
            "json" => {
                let doc: Value =
                    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}\n{e}"));
                out.push((body.clone(), server_entry(&doc["mcpServers"]["flagwarden"])));
            }
            other => panic!("unexpected block language {other:?} in the registration section"),
        }
    }
    out
}

/// A server entry of a client's config (Codex's TOML or an `.mcp.json`): a URL, or a command and
/// its arguments.
fn server_entry(server: &Value) -> Entry {
    match server.get("url").and_then(Value::as_str) {
        Some(url) => Entry::Http { url: url.into() },
        None => Entry::Stdio {
            command: server["command"].as_str().unwrap().to_owned(),
            args: server["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect(),
        },
    }
}

#[test]
fn every_registration_names_the_real_command_or_the_mcp_path() {
    let entries = entries();
    // Claude Code twice, .mcp.json, Codex stdio and HTTP (command line), Codex config.toml twice, Cursor.
    assert_eq!(entries.len(), 8, "{entries:#?}");
    let (mut stdio, mut http) = (0, 0);
    for (source, entry) in &entries {
        match entry {
            Entry::Stdio { command, args } => {
                stdio += 1;
                assert_eq!(command, BIN, "{source}");
                let argv = std::iter::once("flagwarden").chain(args.iter().map(String::as_str));
                let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{source}\n{e}"));
                assert!(matches!(cli.command, Command::Mcp { .. }), "{source}");
                assert!(
                    cli.policy.to_string_lossy().ends_with("flagwarden.toml"),
                    "{source}"
                );
                assert_eq!(
                    args.first().map(String::as_str),
                    Some("--policy"),
                    "{source}"
                );
            }
            Entry::Http { url } => {
                http += 1;
                let rest = url
                    .strip_prefix("http://127.0.0.1:7070")
                    .unwrap_or_else(|| panic!("{source}: {url}"));
                assert_eq!(rest, "/mcp", "{source}");
            }
        }
    }
    assert_eq!((stdio, http), (6, 2));
    let all: String = entries.iter().map(|(s, _)| s.as_str()).collect();
    for needle in [
        "codex mcp add",
        "claude mcp add",
        "[mcp_servers.flagwarden]",
        "mcpServers",
    ] {
        assert!(all.contains(needle), "{needle}");
    }
}

#[tokio::test]
async fn the_registered_commands_start_and_answer() {
    let p = common::Project::new(common::TEST_POLICY);
    let policy = p.policy();
    let policy = policy.to_str().unwrap();
    let (_, Entry::Stdio { args, .. }) = entries()
        .into_iter()
        .find(|(s, _)| s.starts_with("codex mcp add flagwarden -- "))
        .expect("the Codex stdio line")
    else {
        unreachable!("a line with `--` is stdio")
    };
    let args: Vec<String> = args
        .iter()
        .map(|a| match a.as_str() {
            "/abs/path/to/project/flagwarden.toml" => policy.to_owned(),
            other => other.to_owned(),
        })
        .collect();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_flagwarden"));
    cmd.args(&args).env_remove("FLAGWARDEN_DB");
    let transport = TokioChildProcess::new(cmd).expect("spawn the registered command");
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("codex-mcp-client", "0.169.0"),
    )
    .serve(transport)
    .await
    .expect("initialize over stdio");
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "set_targeting"));
    let _ = client.cancel().await;

    let served = p.serve();
    let url = "http://127.0.0.1:7070/mcp".replace("http://127.0.0.1:7070", &served.url);
    let agent = common::connect_http(&url, "codex-mcp-client", None).await;
    let tools = agent
        .inner
        .list_all_tools()
        .await
        .expect("tools/list over HTTP");
    assert!(tools.iter().any(|t| t.name == "get_policy"));
    agent.close().await;
}
