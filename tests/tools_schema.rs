//! tools-schema/tools.json is the exact tools/list of this build. Regenerate it after changing a tool:
//! `cargo run -- schema > tools-schema/tools.json`.

#[test]
fn tools_schema_is_fresh() {
    let current = format!(
        "{}\n",
        serde_json::to_string_pretty(&flagwarden::mcp::Server::tool_list()).unwrap()
    );
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tools-schema/tools.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        current == committed,
        "tools-schema/tools.json is stale: run `cargo run -- schema > tools-schema/tools.json` and commit it"
    );
}
