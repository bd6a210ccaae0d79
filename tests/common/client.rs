//! rmcp's client on a flagwarden MCP server, over stdio (`Project::connect`) or streamable HTTP
//! (`connect_http`), and a tool's answer as success or in-band error, so tests assert on one shape.

use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

pub struct Client {
    pub inner: RunningService<RoleClient, ClientConfig>,
}

/// A tool's answer: structured content on success, the message text on an in-band error.
#[derive(Debug)]
pub enum Answer {
    Ok(Value),
    Err(String),
}

impl Answer {
    pub fn ok(self) -> Value {
        match self {
            Answer::Ok(v) => v,
            Answer::Err(e) => panic!("expected success, got error: {e}"),
        }
    }
    pub fn err(self) -> String {
        match self {
            Answer::Ok(v) => panic!("expected an error, got {v}"),
            Answer::Err(e) => e,
        }
    }
}

impl Client {
    pub async fn call(&self, tool: &str, args: Value) -> Answer {
        self.try_call(tool, args).await.expect("tools/call")
    }

    /// Like `call`, but a transport failure (the server died) is an `Err` instead of a panic.
    pub async fn try_call(&self, tool: &str, args: Value) -> Result<Answer, rmcp::ServiceError> {
        let Value::Object(map) = args else {
            panic!("arguments must be an object")
        };
        let result = self
            .inner
            .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(map))
            .await?;
        if result.is_error == Some(true) {
            let text = result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect::<Vec<_>>()
                .join("\n");
            return Ok(Answer::Err(text));
        }
        Ok(Answer::Ok(
            result.structured_content.expect("structured content"),
        ))
    }

    /// Creates the code flag `key` (description "d", reason "r"), the setup most scenarios start
    /// from; panics unless it was created.
    pub async fn create_flag(&self, key: &str) -> Value {
        self.call(
            "create_flag",
            serde_json::json!({"key": key, "description": "d", "change_type": "code", "reason": "r"}),
        )
        .await
        .ok()
    }

    pub async fn close(self) {
        let _ = self.inner.cancel().await;
    }
}

/// Connects rmcp's streamable HTTP client to `url` (2025-11-25 with a session), optionally with a token.
pub async fn connect_http(url: &str, client_name: &str, token: Option<&str>) -> Client {
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let mut config = StreamableHttpClientTransportConfig::with_uri(format!("{url}/mcp"));
    if let Some(t) = token {
        config = config.auth_header(t);
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new(client_name, "1.0"),
    );
    Client {
        inner: client.serve(transport).await.expect("initialize over HTTP"),
    }
}
