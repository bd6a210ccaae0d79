//! The query worker: one task that, every `TICK`, looks at the rollouts Prometheus supplies and
//! reads each query's windows that are due, oldest first. Before reading a window it claims it in
//! the store (so two processes on one store do not both read it, and a crashed one's claim
//! expires); the cursor moves in the transaction that records the window, so a window is counted
//! once however often anyone restarts. A failed read is recorded as a gap and retried on later
//! ticks until the window is `GIVE_UP` old, then given up; nothing here waits on a commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;

use super::query::query;
use crate::app::{App, AppError, PromTarget, PromWindow};
use crate::domain::gate::{GUARDRAIL, GuardrailReading};
use crate::domain::prometheus::{
    ArmOutcome, Guardrail, MetricQueries, Reading, Vars, Window, arm_data, due_windows,
    prom_duration,
};

/// How often the worker looks for due windows.
const TICK: Duration = Duration::from_millis(500);
/// Most windows of one query read in one look; the rest wait for the next.
const MAX_PER_LOOK: usize = 20;
/// How long a failed window is retried before it is given up.
const GIVE_UP: SignedDuration = SignedDuration::from_mins(10);

/// Why the worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot make the Prometheus HTTP client: {0}")]
    Client(String),
}

/// The running worker.
pub struct Poller {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Poller {
    /// Starts the worker when some environment or flag of the policy names a Prometheus, else
    /// returns `None`. Call it inside the runtime.
    pub fn start(app: Arc<App>) -> Result<Option<Poller>, StartError> {
        let named = app
            .policy()
            .policy
            .environments
            .values()
            .any(|e| e.prometheus.is_some() || !e.prometheus_flags.is_empty());
        if !named {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| StartError::Client(e.to_string()))?;
        let me = {
            let mut n = [0u8; 8];
            getrandom::fill(&mut n).map_err(|e| StartError::Client(e.to_string()))?;
            format!("prometheus-{}", hex::encode(n))
        };
        let stop = CancellationToken::new();
        let worker = Worker {
            app,
            client,
            me,
            next: HashMap::new(),
        };
        let task = tokio::spawn(worker.run(stop.clone()));
        Ok(Some(Poller { stop, task }))
    }

    /// Stops the worker. A window being read is dropped unrecorded: its claim expires and it is
    /// read again at the next start.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

struct Worker {
    app: Arc<App>,
    client: reqwest::Client,
    /// This process, in claims.
    me: String,
    /// When each (rollout, query)'s next window is due, as far as this process knows.
    next: HashMap<(i64, String), Timestamp>,
}

/// What one query of a rollout asks.
enum Query<'a> {
    Metric(&'a MetricQueries),
    Guardrail(&'a Guardrail),
}

impl Query<'_> {
    fn name(&self) -> String {
        match self {
            Query::Metric(m) => m.metric.name().to_owned(),
            Query::Guardrail(g) => format!("{GUARDRAIL}{}", g.name),
        }
    }
}

impl Worker {
    async fn run(mut self, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.look() => {}
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(TICK) => {}
            }
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&App) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let app = self.app.clone();
        match tokio::task::spawn_blocking(move || f(&app)).await {
            Ok(r) => r,
            Err(e) => Err(AppError::Conflict(format!("the store task stopped: {e}"))),
        }
    }

    async fn look(&mut self) {
        let targets = match self.blocking(|app| app.prometheus_targets()).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("prometheus: cannot list the rollouts to read: {e}");
                return;
            }
        };
        let live: Vec<i64> = targets.iter().map(|t| t.rollout_id).collect();
        self.next.retain(|(id, _), _| live.contains(id));
        for t in &targets {
            let queries = t
                .source
                .metrics
                .iter()
                .map(Query::Metric)
                .chain(t.source.guardrails.iter().map(Query::Guardrail));
            for q in queries {
                if let Err(e) = self.read_query(t, &q).await {
                    tracing::warn!(
                        "prometheus: rollout {} ({} in {}), {}: {e}",
                        t.rollout_id,
                        t.flag,
                        t.env,
                        q.name()
                    );
                }
            }
        }
    }

    /// Reads the due windows of one query of one rollout.
    async fn read_query(&mut self, t: &PromTarget, q: &Query<'_>) -> Result<(), AppError> {
        let name = q.name();
        let key = (t.rollout_id, name.clone());
        let now = self.app.now();
        if self.next.get(&key).is_some_and(|due| *due > now) {
            return Ok(());
        }
        let src = &t.source;
        let ttl = src.timeout * 4 + SignedDuration::from_secs(30);
        let (id, n, start, me) = (t.rollout_id, name.clone(), t.start, self.me.clone());
        let Some(mut until) = self
            .blocking(move |app| app.claim_prometheus_window(id, &n, start, &me, ttl))
            .await?
        else {
            // Another process reads it; look again a window later.
            self.next.insert(key, now + src.interval);
            return Ok(());
        };
        let mut windows = due_windows(until, src.interval, src.delay, now, MAX_PER_LOOK);
        if let (Query::Guardrail(_), Some(last)) = (q, windows.last().copied()) {
            // A guardrail is a level, not a count: only its latest value matters.
            windows = vec![Window {
                start: until,
                end: last.end,
            }];
        }
        for w in windows {
            let read = match q {
                Query::Metric(m) => self.read_metric(t, m, w).await,
                Query::Guardrail(g) => self.read_guardrail(t, g, w).await,
            };
            match read {
                Ok(window) => {
                    let me = self.me.clone();
                    match self
                        .blocking(move |app| app.record_prometheus(&window, &me))
                        .await
                    {
                        Ok(r) => {
                            if let Some(what) = r.reaction {
                                tracing::info!("prometheus: rollout {}: {what}", r.rollout_id);
                            }
                            until = w.end;
                        }
                        Err(AppError::NotFound(_)) => {
                            // Recorded by another process, or the rollout finished: ask again.
                            self.next.remove(&key);
                            return Ok(());
                        }
                        Err(e) => {
                            self.release(t.rollout_id, &name, &e.to_string()).await;
                            return Err(e);
                        }
                    }
                }
                Err(reason) => {
                    let too_old = now.duration_since(w.end) > GIVE_UP;
                    let give_up = too_old.then_some(w);
                    let (id, n, me, why) =
                        (t.rollout_id, name.clone(), self.me.clone(), reason.clone());
                    self.blocking(move |app| app.record_prometheus_gap(id, &n, &why, give_up, &me))
                        .await?;
                    tracing::warn!(
                        "prometheus: rollout {} ({}), {name}: evidence gap: {reason}",
                        t.rollout_id,
                        t.flag
                    );
                    // Retry at the next window's pace rather than every tick.
                    self.next.insert(key, now + src.interval);
                    return Ok(());
                }
            }
        }
        self.next.insert(key, until + src.interval + src.delay);
        // Nothing more was due: let go of the claim so another process may read the next one.
        let (id, n, me) = (t.rollout_id, name, self.me.clone());
        self.blocking(move |app| app.release_prometheus_window(id, &n, &me))
            .await
    }

    async fn release(&self, id: i64, name: &str, why: &str) {
        let (n, me) = (name.to_owned(), self.me.clone());
        if let Err(e) = self
            .blocking(move |app| app.release_prometheus_window(id, &n, &me))
            .await
        {
            tracing::warn!(
                "prometheus: rollout {id}, {name}: cannot release the claim after {why}: {e}"
            );
        }
    }

    async fn ask(&self, t: &PromTarget, promql: String, at: Timestamp) -> Reading {
        let timeout = Duration::try_from(t.source.timeout).unwrap_or(Duration::from_secs(10));
        query(&self.client, &t.source.url, &promql, at, timeout).await
    }

    fn vars<'a>(t: &'a PromTarget, arm: &'a str, window: &'a str) -> Vars<'a> {
        Vars {
            arm,
            flag: &t.flag,
            env: &t.env,
            window,
        }
    }

    /// Both arms' trials and events over one window; `Err` is a failure, the window a gap.
    async fn read_metric(
        &self,
        t: &PromTarget,
        m: &MetricQueries,
        w: Window,
    ) -> Result<PromWindow, String> {
        let window = prom_duration(w.end.duration_since(w.start));
        let render = |arm: &str| {
            let v = Self::vars(t, arm, &window);
            (m.trials.render(&v), m.events.render(&v))
        };
        let ((tc, ec), (tk, ek)) = (render("canary"), render("control"));
        let (tc, ec, tk, ek) = tokio::join!(
            self.ask(t, tc, w.end),
            self.ask(t, ec, w.end),
            self.ask(t, tk, w.end),
            self.ask(t, ek, w.end)
        );
        let canary = ArmOutcome::of(&tc, &ec).map_err(|e| format!("canary {e}"))?;
        let control = ArmOutcome::of(&tk, &ek).map_err(|e| format!("control {e}"))?;
        let mut out = PromWindow::empty(t.rollout_id, m.metric.name().to_owned(), w.start, w.end);
        for (arm, outcome) in [("canary", canary), ("control", control)] {
            let data = match outcome {
                ArmOutcome::Counted { trials: 0, .. } => None,
                ArmOutcome::Counted { trials, events } => Some(arm_data(&m.metric, trials, events)),
                ArmOutcome::NoData(why) => {
                    out.no_data.push(format!("{arm} {why}"));
                    None
                }
            };
            match arm {
                "canary" => out.canary = data,
                _ => out.control = data,
            }
        }
        Ok(out)
    }

    /// A guardrail's value at the window's end (`{{arm}}` is the canary).
    async fn read_guardrail(
        &self,
        t: &PromTarget,
        g: &Guardrail,
        w: Window,
    ) -> Result<PromWindow, String> {
        let window = prom_duration(t.source.interval);
        let promql = g.query.render(&Self::vars(t, "canary", &window));
        let mut out = PromWindow::empty(t.rollout_id, Query::Guardrail(g).name(), w.start, w.end);
        match self.ask(t, promql, w.end).await {
            Reading::Value(value) => {
                out.guardrail = Some(GuardrailReading {
                    name: g.name.clone(),
                    value,
                    above: g.above,
                    below: g.below,
                    at: w.end,
                })
            }
            Reading::NoData(why) => out.no_data.push(why),
            Reading::Failed(why) => return Err(why),
        }
        Ok(out)
    }
}
