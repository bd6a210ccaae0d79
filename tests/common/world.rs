//! The `App` in-process, on a store of the test's choosing and a clock the test moves: the setup the
//! use-case tests (lifecycle, stale flags, versions, cleanup, confirming in the client) build on.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use flagwarden::app::{App, Config, LoadedPolicy};
use flagwarden::store::Store;

/// Where a controlled clock starts: 2027-01-15, seconds since the epoch.
pub const START: i64 = 1_800_000_000;

/// A clock that stands still at `START` until the test moves it.
#[derive(Clone)]
pub struct Clock(Arc<AtomicI64>);

impl Default for Clock {
    fn default() -> Clock {
        Clock(Arc::new(AtomicI64::new(START)))
    }
}

impl Clock {
    pub fn new() -> Clock {
        Clock::default()
    }

    /// Moves the clock `secs` forward.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// The clock as the `App` reads it.
    pub fn app_clock(&self) -> flagwarden::app::Clock {
        let c = self.0.clone();
        Arc::new(move || jiff::Timestamp::from_second(c.load(Ordering::SeqCst)).unwrap())
    }
}

/// An `App` on `store` under `policy`, reading `clock`, with wrap_change's files under `root`.
pub fn app_with(store: Store, policy: &str, clock: flagwarden::app::Clock, root: &Path) -> App {
    App::new(
        store,
        LoadedPolicy::parse("flagwarden.toml", policy).unwrap(),
        clock,
        Config {
            ofrep_base_url: "http://127.0.0.1:7070".into(),
            project_root: root.to_owned(),
        },
    )
    .unwrap()
}

/// An `App` on an in-memory store under `policy`, reading `clock`, rooted in the working directory.
pub fn app(policy: &str, clock: &Clock) -> App {
    app_with(
        Store::open_in_memory().unwrap(),
        policy,
        clock.app_clock(),
        Path::new("."),
    )
}
