//! The newest flagd definition of each environment someone syncs, one `tokio::sync::watch` channel
//! per environment. A `watch` channel holds only the latest value, which is what a sync stream owes
//! its subscriber: a subscriber that reads slowly (or not at all) skips the versions it missed and
//! gets the newest when it next reads, and never holds up a commit, the publisher or anyone else.
//! The publisher follows the app's watch feed (every committed change, from this process or
//! another one); on each change, or on a lag of the feed, it regenerates the definitions of the
//! environments in use, and a channel moves only when its document did.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::app::{App, FlagdDocument, Result};

/// Each environment's newest definition, for every stream syncing it.
pub struct Hub {
    app: Arc<App>,
    envs: Mutex<HashMap<String, watch::Sender<Arc<FlagdDocument>>>>,
}

impl Hub {
    pub fn new(app: Arc<App>) -> Hub {
        Hub {
            app,
            envs: Mutex::default(),
        }
    }

    /// A receiver whose current value is `environment`'s definition as of now and which moves on
    /// every later change. Blocking (it may generate the document): call it off the async workers.
    /// An unknown environment is refused by `App::flagd_definition`, naming the known ones.
    pub fn subscribe(&self, environment: &str) -> Result<watch::Receiver<Arc<FlagdDocument>>> {
        // Held while a new environment's first document is generated, so the publisher, which lists
        // the environments only after a change is committed, either sees this one or ran before the
        // change this document already reflects: no change falls between the two.
        let mut envs = self.envs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = envs.get(environment) {
            return Ok(tx.subscribe());
        }
        let doc = Arc::new(self.app.flagd_definition(environment)?);
        let (tx, rx) = watch::channel(doc);
        envs.insert(environment.to_owned(), tx);
        Ok(rx)
    }

    /// Follows the app's watch feed until `stop`, bringing every environment's channel up to date
    /// after each change. Changes that arrive together are handled once: the definition is whole, so
    /// only the newest matters.
    pub async fn publish(self: Arc<Self>, stop: CancellationToken) {
        let mut feed = self.app.watch();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                got = feed.recv() => match got {
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
            }
            while let Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) =
                feed.try_recv()
            {}
            let hub = self.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || hub.refresh()).await {
                tracing::warn!("flagd sync: regenerating definitions failed: {e}");
            }
        }
    }

    /// Regenerates each environment's definition and moves its channel when the document changed.
    /// A document older than the one held (a concurrent first subscriber generated a newer one)
    /// never replaces it.
    fn refresh(&self) -> Result<()> {
        let envs: Vec<(String, watch::Sender<Arc<FlagdDocument>>)> = {
            let envs = self.envs.lock().unwrap_or_else(|p| p.into_inner());
            envs.iter().map(|(e, tx)| (e.clone(), tx.clone())).collect()
        };
        for (env, tx) in envs {
            let doc = Arc::new(self.app.flagd_definition(&env)?);
            tx.send_if_modified(|held| {
                let newer = doc.seq >= held.seq && doc.etag != held.etag;
                if newer {
                    *held = doc;
                }
                newer
            });
        }
        Ok(())
    }
}
