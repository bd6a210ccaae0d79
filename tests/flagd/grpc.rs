//! A raw gRPC client over `h2`, for the flagd sync tests: requests framed by hand (one byte of
//! compression flag, four of length, the prost message), responses read frame by frame, so a test
//! can hold a stream open without reading it (a zero stream window) and open it later.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use h2::client::SendRequest;
use prost::Message;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// One HTTP/2 connection to `flagwarden serve`.
pub struct Conn {
    send: SendRequest<Bytes>,
    authority: String,
    /// Fires to give every stream of this connection a 1 MiB window (after `Conn::stalled`).
    open: Option<oneshot::Sender<()>>,
}

/// A gRPC answer: the status (from trailers-only headers or from trailers) and, for a stream, the body.
pub struct Call {
    pub headers: http::HeaderMap,
    body: h2::RecvStream,
    buf: BytesMut,
}

impl Conn {
    /// A connection that reads what it is sent.
    pub async fn connect(url: &str) -> Conn {
        Conn::with_window(url, None).await
    }

    /// A connection whose streams may be sent nothing (stream window 0) until `open` is called: a
    /// subscriber that never reads.
    pub async fn stalled(url: &str) -> Conn {
        Conn::with_window(url, Some(0)).await
    }

    async fn with_window(url: &str, window: Option<u32>) -> Conn {
        let authority = url.trim_start_matches("http://").to_owned();
        let tcp = TcpStream::connect(&authority).await.expect("connect");
        let mut builder = h2::client::Builder::new();
        if let Some(w) = window {
            builder.initial_window_size(w);
        }
        let (send, mut conn) = builder.handshake(tcp).await.expect("h2 handshake");
        let (open, opened) = oneshot::channel::<()>();
        tokio::spawn(async move {
            tokio::select! {
                _ = &mut conn => return,
                _ = opened => {}
            }
            let _ = conn.set_initial_window_size(1 << 20);
            let _ = conn.await;
        });
        Conn {
            send,
            authority,
            open: Some(open),
        }
    }

    /// Lets a stalled connection's streams receive again.
    pub fn open(&mut self) {
        if let Some(o) = self.open.take() {
            let _ = o.send(());
        }
    }

    /// Calls `/flagd.sync.v1.FlagSyncService/{method}` with `message` and extra metadata.
    pub async fn call(
        &mut self,
        method: &str,
        message: &impl Message,
        meta: &[(&str, &str)],
    ) -> Call {
        let mut req = http::Request::post(format!(
            "http://{}/flagd.sync.v1.FlagSyncService/{method}",
            self.authority
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
        for (k, v) in meta {
            req = req.header(*k, *v);
        }
        let send = self.send.clone().ready().await.expect("h2 ready");
        let mut send = send;
        let (res, mut body) = send
            .send_request(req.body(()).unwrap(), false)
            .expect("send");
        let payload = message.encode_to_vec();
        let mut frame = BytesMut::with_capacity(5 + payload.len());
        frame.extend_from_slice(&[0]);
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        frame.extend_from_slice(&payload);
        body.send_data(frame.freeze(), true).expect("send body");
        let res = tokio::time::timeout(Duration::from_secs(10), res)
            .await
            .expect("response headers within 10 s")
            .expect("response");
        let (parts, body) = res.into_parts();
        Call {
            headers: parts.headers,
            body,
            buf: BytesMut::new(),
        }
    }
}

impl Call {
    /// `grpc-status` when the answer was refused in its headers (trailers-only), else `None`.
    pub fn refused(&self) -> Option<(i32, String)> {
        let code = self
            .headers
            .get("grpc-status")?
            .to_str()
            .ok()?
            .parse()
            .ok()?;
        let message = self
            .headers
            .get("grpc-message")
            .map(|m| percent_decode(m.to_str().unwrap_or("")))
            .unwrap_or_default();
        Some((code, message))
    }

    /// The next message, or `None` when the stream ended; panics after `within`.
    pub async fn next<M: Message + Default>(&mut self, within: Duration) -> Option<M> {
        tokio::time::timeout(within, self.read())
            .await
            .expect("a message within the time allowed")
    }

    async fn read<M: Message + Default>(&mut self) -> Option<M> {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes(self.buf[1..5].try_into().unwrap()) as usize;
                if self.buf.len() >= 5 + len {
                    self.buf.advance(5);
                    let msg = self.buf.split_to(len);
                    return Some(M::decode(msg.freeze()).expect("a valid message"));
                }
            }
            let chunk = self.body.data().await?.expect("stream data");
            let _ = self.body.flow_control().release_capacity(chunk.len());
            self.buf.extend_from_slice(&chunk);
        }
    }

    /// The trailers' `grpc-status` and message once the stream has ended.
    pub async fn status(&mut self) -> (i32, String) {
        while self.body.data().await.is_some() {}
        let t = self
            .body
            .trailers()
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let code = t
            .get("grpc-status")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(-1);
        let message = t
            .get("grpc-message")
            .map(|m| percent_decode(m.to_str().unwrap_or("")))
            .unwrap_or_default();
        (code, message)
    }
}

/// `grpc-message` is percent-encoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
