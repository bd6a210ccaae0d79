//! flagd's HTTP sync and file export against the real binary: `GET /flagd/v1/{env}` with its ETag,
//! 304 on `If-None-Match`, a new ETag and version after a change, tokens as on OFREP (an sdk token
//! bound to its environment, no token or a wrong one refused, an unknown environment named), and
//! `flagwarden export flagd --env E --out FILE` writing the same document.

mod common;

use std::time::Duration;

use common::{Project, TEST_POLICY, connect_http};
use reqwest::StatusCode;
use serde_json::{Value, json};

const AGENT: &str = "fw_agent_secret_000000000000";
const SDK: &str = "fw_sdk_secret_00000000000000";
const PROD_SDK: &str = "fw_sdk_prod_secret_000000000";

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sync_answers_the_definition_with_etags_and_tokens() {
    let p = Project::new(TEST_POLICY);
    let tokens = format!(
        "agent:claude={AGENT},sdk:web@development={SDK},sdk:prod-web@production={PROD_SDK}"
    );
    let s = p.serve_with(&[], &[("FLAGWARDEN_TOKENS", &tokens)]);
    let agent = connect_http(&s.url, "agent", Some(AGENT)).await;
    agent
        .call(
            "create_flag",
            json!({"key": "dark-mode", "description": "d", "change_type": "code", "reason": "t"}),
        )
        .await
        .ok();
    let url = format!("{}/flagd/v1/development", s.url);
    let sdk = format!("Bearer {SDK}");

    let res = get(&url, &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = get(
        &url,
        &[("Authorization", "Bearer fw_wrong_wrong_wrong_wrong")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = get(
        &format!("{}/flagd/v1/production", s.url),
        &[("Authorization", &sdk)],
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "an sdk token stays in its environment"
    );
    let res = get(
        &format!("{}/flagd/v1/staging", s.url),
        &[("Authorization", &format!("Bearer {AGENT}"))],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["field"], "environment", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("development"),
        "{body}"
    );

    let res = get(&url, &[("Authorization", &sdk)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["flags"]["dark-mode"]["defaultVariant"], "off", "{doc}");
    let version = doc["metadata"]["version"].as_str().unwrap().to_owned();

    let res = get(&url, &[("Authorization", &sdk), ("If-None-Match", &etag)]).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers()["etag"].to_str().unwrap(), etag);
    assert!(res.bytes().await.unwrap().is_empty());

    // A change: a new ETag, a later version, and the old ETag no longer matches.
    agent
        .call("set_targeting", json!({"key": "dark-mode", "environment": "development", "rules": [], "default_variant": "on", "reason": "t"}))
        .await
        .ok();
    let res = get(&url, &[("Authorization", &sdk), ("If-None-Match", &etag)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let new_etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["flags"]["dark-mode"]["defaultVariant"], "on", "{doc}");
    let newer = doc["metadata"]["version"].as_str().unwrap();
    assert!(newer.parse::<i64>().unwrap() > version.parse::<i64>().unwrap());

    // The file export writes the same document as the server serves.
    let out = p.path().join("defs").join("development.flagd.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    p.cli_ok(&[
        "export",
        "flagd",
        "--env",
        "development",
        "--out",
        out.to_str().unwrap(),
    ]);
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(exported, doc);
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no temporary file is left: {leftovers:?}"
    );

    // Bad input names the field and writes nothing.
    let bad = p.cli(&["export", "flagd", "--env", "staging", "--out", "x.json"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("environment") && err.contains("development"),
        "{err}"
    );
    assert!(!p.path().join("x.json").exists());
}
