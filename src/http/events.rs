//! SSE resumption for 2025-era MCP sessions over HTTP: rmcp's `EventStore`, kept in memory. rmcp
//! stores every SSE event a session sends here before it sends it, with the id we give, so a client
//! whose stream dropped reconnects with `Last-Event-ID` and gets every event after that one on that
//! stream: a resource update sent while it was away is not lost. A resumed standalone stream (where
//! notifications go) then stays open and carries the session's new events as they are stored, so
//! the resumed stream is live again, not a poll.
//!
//! The log is bounded (`KEPT` events, the oldest dropped first) and lives as long as the process:
//! a stream resumed after its events were dropped, or after a restart, gets an empty stream (rmcp's
//! answer to an unknown id), and the client re-reads what it watches.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use rmcp::transport::streamable_http_server::session::{
    EventStore, EventStoreError, EventStream, ServerSseMessage,
};
use tokio::sync::{broadcast, mpsc};

/// Events kept for resumption, across all sessions' streams.
const KEPT: usize = 4096;
/// Live events a resumed stream may fall behind by before it is closed (the client resumes again).
const LIVE_BACKLOG: usize = 256;

#[derive(Clone)]
struct Stored {
    id: u64,
    stream: Arc<str>,
    event: ServerSseMessage,
}

struct Log {
    next: u64,
    events: VecDeque<Stored>,
}

pub struct EventLog {
    log: Mutex<Log>,
    live: broadcast::Sender<Stored>,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog {
            log: Mutex::new(Log {
                next: 1,
                events: VecDeque::with_capacity(KEPT),
            }),
            live: broadcast::Sender::new(LIVE_BACKLOG),
        }
    }
}

impl EventLog {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether `stream` is a session's standalone stream, where rmcp sends what no request awaits
/// (resource updates). A request's own stream ends with its response, so its replay is finite.
fn standalone(stream: &str) -> bool {
    stream.ends_with(":common")
}

#[async_trait::async_trait]
impl EventStore for EventLog {
    async fn store_event(
        &self,
        stream_id: &str,
        event: &ServerSseMessage,
    ) -> Result<String, EventStoreError> {
        let stored = {
            let mut log = self.log();
            let id = log.next;
            log.next += 1;
            let mut event = event.clone();
            event.event_id = Some(id.to_string());
            let stored = Stored {
                id,
                stream: stream_id.into(),
                event,
            };
            if log.events.len() == KEPT {
                log.events.pop_front();
            }
            log.events.push_back(stored.clone());
            stored
        };
        let id = stored.id.to_string();
        let _ = self.live.send(stored); // no resumed stream is listening: fine
        Ok(id)
    }

    async fn replay_events_after(
        &self,
        last_event_id: &str,
    ) -> Result<EventStream, EventStoreError> {
        let last: u64 = last_event_id.trim().parse().map_err(|_| {
            format!("Last-Event-ID {last_event_id:?} is not an id this server sent")
        })?;
        // Subscribe to live events under the lock, so none falls between the replay and the follow.
        let (replay, stream, live) = {
            let log = self.log();
            let at = log
                .events
                .binary_search_by_key(&last, |s| s.id)
                .map_err(|_| {
                    format!("event {last} is no longer kept; read what you watch again")
                })?;
            let stream = log.events[at].stream.clone();
            let replay: Vec<ServerSseMessage> = log
                .events
                .iter()
                .skip(at + 1)
                .filter(|s| s.stream == stream)
                .map(|s| s.event.clone())
                .collect();
            let live = standalone(&stream).then(|| self.live.subscribe());
            // The replay holds every event of the stream up to `seen`; later ones come live.
            let seen = log.next - 1;
            (replay, stream, live.map(|l| (l, seen)))
        };
        let (tx, mut rx) = mpsc::channel(LIVE_BACKLOG + replay.len().max(1));
        for event in replay {
            let _ = tx.try_send(event); // the channel holds the whole replay
        }
        if let Some((mut live, seen)) = live {
            tokio::spawn(async move {
                loop {
                    let next = tokio::select! {
                        _ = tx.closed() => return,
                        next = live.recv() => next,
                    };
                    match next {
                        Ok(s) if s.stream == stream && s.id > seen => {
                            if tx.send(s.event).await.is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        // Fell behind or the server stops: end the stream; the client resumes.
                        Err(_) => return,
                    }
                }
            });
        }
        Ok(Box::pin(futures_util::stream::poll_fn(move |cx| {
            rx.poll_recv(cx)
        })))
    }
}
