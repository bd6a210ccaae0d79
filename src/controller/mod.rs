//! The controller: a task of `flagwarden serve` that runs the gate by itself, so a rollout moves (or
//! stops) when its evidence says so rather than at an agent's next look. Every look is
//! `App::control_rollout`, the system actor's use case (`app/rollouts/control.rs` says what it
//! does); this file only decides when to look and which process looks.
//!
//! - **Triggers.** New evidence: the controller follows the `signals` table by row id, woken by this
//!   process's commit signal and polling every `POLL` for what other processes (another `serve`, an
//!   `mcp` on the same store) commit, whatever the source (the API, OTLP, Prometheus, an agent's
//!   record_signals). It waits `debounce` for more, then looks once at each rollout that received
//!   evidence. The timer: every `interval`, every unfinished rollout, evidence or not (no-traffic
//!   pauses, holds past their limit, a dwell that ended, a freeze that lifted).
//! - **One controller per store.** A lease in the store's `meta` table (`lease.rs`), taken when free
//!   or expired, renewed five times per lease (`[controller] lease`, 5 s by default), released at a
//!   clean stop: of two `serve` processes on one store, one looks; when it dies the other takes over
//!   once its lease expires. The
//!   lease runs on the wall clock, never the App's clock (which a test may hold still).
//! - **Exactly once** does not rest on the lease: each look re-reads the rollout inside its write
//!   transaction, so a look that lost a race to an agent, a human or another process finds the new
//!   state and does nothing twice.

pub mod lease;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::domain::policy::ControllerConfig;

/// How often the controller looks for evidence other processes committed.
const POLL: Duration = Duration::from_millis(50);

/// What the controller did since start, for `/metrics` (and the tests and benchmarks that wait on
/// it): looks started and finished by result, whether this process leads, and how old evidence was
/// at most when looked at.
#[derive(Debug, Default)]
pub struct Stats {
    started: AtomicU64,
    acted: AtomicU64,
    idle: AtomicU64,
    failed: AtomicU64,
    leader: AtomicBool,
    /// The last and the largest evidence lag, in microseconds: from the previous read of new
    /// evidence (anything newer is in this round) to the round's last look.
    lag_last_us: AtomicU64,
    lag_max_us: AtomicU64,
}

impl Stats {
    /// Looks started, and looks finished by result (`acted`, `idle`, `failed`).
    pub fn looks(&self) -> (u64, [(&'static str, u64); 3]) {
        (
            self.started.load(Ordering::SeqCst),
            [
                ("acted", self.acted.load(Ordering::SeqCst)),
                ("idle", self.idle.load(Ordering::SeqCst)),
                ("failed", self.failed.load(Ordering::SeqCst)),
            ],
        )
    }

    pub fn leads(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    /// The evidence lag of the last round and the largest since start.
    pub fn lag(&self) -> (Duration, Duration) {
        (
            Duration::from_micros(self.lag_last_us.load(Ordering::SeqCst)),
            Duration::from_micros(self.lag_max_us.load(Ordering::SeqCst)),
        )
    }

    fn record_lag(&self, lag: Duration) {
        let us = lag.as_micros() as u64;
        self.lag_last_us.store(us, Ordering::SeqCst);
        self.lag_max_us.fetch_max(us, Ordering::SeqCst);
    }
}

/// The running controller.
pub struct Controller {
    stop: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
}

impl Controller {
    /// Starts the controller when the policy's `[controller]` says it runs; `None` otherwise. Call
    /// it inside the runtime.
    pub fn start(app: Arc<App>, stats: Arc<Stats>) -> Option<Controller> {
        let cfg = app.policy().policy.controller.clone();
        if !cfg.enabled {
            tracing::info!("the controller is off ([controller] enabled = false)");
            return None;
        }
        let me = holder_name();
        let stop = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(hold_lease(
            app.clone(),
            me,
            cfg.lease,
            stats.clone(),
            stop.clone(),
        ));
        tasks.spawn(
            Looker {
                app,
                cfg,
                stats,
                stop: stop.clone(),
                last_signal: None,
                last_read: Instant::now(),
            }
            .run(),
        );
        Some(Controller { stop, tasks })
    }

    /// Stops looking and releases the lease, so another process takes over at once.
    pub async fn stop(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// This process in the lease: its pid and a random part, so a restarted process is a new holder.
fn holder_name() -> String {
    let mut n = [0u8; 4];
    let random = getrandom::fill(&mut n).map_or_else(|_| "0".into(), |()| hex::encode(n));
    format!("{}-{random}", std::process::id())
}

/// Takes or renews the lease every heartbeat, telling the looker whether it leads; lets go of it
/// at the stop.
async fn hold_lease(
    app: Arc<App>,
    me: String,
    ttl: SignedDuration,
    stats: Arc<Stats>,
    stop: CancellationToken,
) {
    let heartbeat = Duration::try_from(ttl / 5).unwrap_or(Duration::from_secs(1));
    let mut tick = tokio::time::interval(heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let (a, who) = (app.clone(), me.clone());
        let held = tokio::task::spawn_blocking(move || {
            a.update_meta(lease::KEY, |stored| {
                lease::take(stored, &who, Timestamp::now(), ttl)
            })
        })
        .await;
        let now_leads = matches!(held, Ok(Ok(true)));
        if let Ok(Err(e)) = &held {
            tracing::warn!("controller: the lease could not be renewed: {e}");
        }
        if stats.leader.swap(now_leads, Ordering::SeqCst) != now_leads {
            if now_leads {
                tracing::info!("controller: this process ({me}) now runs the controller");
            } else {
                tracing::info!("controller: another process runs the controller");
            }
        }
    }
    stats.leader.store(false, Ordering::SeqCst);
    let released = tokio::task::spawn_blocking(move || {
        app.update_meta(lease::KEY, |stored| {
            (lease::release(stored, &me, Timestamp::now()), ())
        })
    })
    .await;
    if let Ok(Err(e)) = released {
        tracing::warn!("controller: the lease was not released: {e}");
    }
}

/// The loop that decides when to look.
struct Looker {
    app: Arc<App>,
    cfg: ControllerConfig,
    stats: Arc<Stats>,
    stop: CancellationToken,
    /// The last signal row looked at, once this process leads.
    last_signal: Option<i64>,
    /// When new evidence was last read: anything committed since is in the next round.
    last_read: Instant,
}

impl Looker {
    async fn run(mut self) {
        let mut commits = self.app.commits();
        let every = Duration::try_from(self.cfg.interval).unwrap_or(Duration::from_secs(30));
        let mut timer = tokio::time::interval(every);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let debounce = Duration::try_from(self.cfg.debounce).unwrap_or_default();
        loop {
            let timed = tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = timer.tick() => true,
                _ = commits.changed() => false,
                _ = tokio::time::sleep(POLL) => false,
            };
            if !self.stats.leads() {
                self.last_signal = None;
                continue;
            }
            let Some(after) = self.last_signal else {
                // Newly leading: start after the newest evidence and look at every rollout once,
                // which covers whatever came before.
                if let Some((_, newest)) = self.reported_after(None).await {
                    self.last_signal = Some(newest);
                    self.last_read = Instant::now();
                    self.look_at_all().await;
                }
                continue;
            };
            if timed {
                self.look_at_all().await;
                continue;
            }
            let Some((ids, _)) = self.reported_after(Some(after)).await else {
                continue;
            };
            if ids.is_empty() {
                self.last_read = Instant::now();
                continue;
            }
            // Wait for the rest of a burst, then look once at each rollout it reached.
            if !debounce.is_zero() {
                tokio::select! {
                    _ = self.stop.cancelled() => return,
                    _ = tokio::time::sleep(debounce) => {}
                }
            }
            let since = self.last_read;
            let read_at = Instant::now();
            let Some((ids, newest)) = self.reported_after(Some(after)).await else {
                continue;
            };
            self.last_signal = Some(newest);
            self.last_read = read_at;
            self.look(ids).await;
            self.stats.record_lag(since.elapsed());
        }
    }

    /// Rollouts with evidence after signal row `after` and the newest row (without `after`, only
    /// the newest row).
    async fn reported_after(&self, after: Option<i64>) -> Option<(Vec<i64>, i64)> {
        let app = self.app.clone();
        let found = tokio::task::spawn_blocking(move || app.reported_after(after)).await;
        match found {
            Ok(Ok(found)) => Some(found),
            Ok(Err(e)) => {
                tracing::warn!("controller: cannot read new evidence: {e}");
                None
            }
            Err(_) => None,
        }
    }

    async fn look_at_all(&self) {
        let app = self.app.clone();
        match tokio::task::spawn_blocking(move || app.unfinished_rollouts()).await {
            Ok(Ok(ids)) => self.look(ids).await,
            Ok(Err(e)) => tracing::warn!("controller: cannot list the rollouts: {e}"),
            Err(_) => {}
        }
    }

    /// Looks at each rollout in turn, on the blocking pool, while this process still leads.
    async fn look(&self, ids: Vec<i64>) {
        let (app, stats) = (self.app.clone(), self.stats.clone());
        let _ = tokio::task::spawn_blocking(move || {
            for id in ids {
                if !stats.leads() {
                    return;
                }
                stats.started.fetch_add(1, Ordering::SeqCst);
                let counter = match app.control_rollout(id) {
                    Ok(Some(done)) => {
                        tracing::info!("controller: {}", done.outcome.summary);
                        &stats.acted
                    }
                    Ok(None) => &stats.idle,
                    Err(e) => {
                        tracing::warn!("controller: rollout {id}: {e}");
                        &stats.failed
                    }
                };
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await;
    }
}
