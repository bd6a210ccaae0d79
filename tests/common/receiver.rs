//! A webhook receiver on 127.0.0.1: records every JSON body it is sent, in order, and answers 500
//! to the first `fail_first` (to exercise retries), 200 after.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// How long `next` waits for a body before the test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct Receiver {
    pub url: String,
    bodies: UnboundedReceiver<Value>,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (tx, bodies) = unbounded_channel();
        let seen = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let (tx, seen) = (tx.clone(), seen.clone());
                async move {
                    let _ = tx.send(body);
                    if seen.fetch_add(1, Ordering::SeqCst) < fail_first {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, bodies }
    }

    /// The next body sent, waiting at most `PATIENCE`.
    pub async fn next(&mut self) -> Value {
        tokio::time::timeout(PATIENCE, self.bodies.recv())
            .await
            .expect("a webhook within the patience")
            .expect("the receiver runs")
    }
}
