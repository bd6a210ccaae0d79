//! flagd flag definitions of an environment, as the sync sources (HTTP, gRPC, `export flagd`) hand
//! them out: generated from the compiled snapshot by `domain::flagd::document`, with an ETag and the
//! audit sequence they reflect, and cached per snapshot so that many subscribers waking on one commit
//! share one generation instead of each making its own.

use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::{App, Result, check_env};
use crate::domain::eval::Snapshot;
use crate::domain::flagd;

/// One environment's flag-definition document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagdDocument {
    /// The JSON text, shared by every reader of this snapshot.
    pub json: Arc<str>,
    /// A strong entity tag over the text, quoted as HTTP writes it (`"…"`).
    pub etag: String,
    /// The audit sequence number the definition reflects (also its `metadata.version`).
    pub seq: i64,
}

/// The documents generated from one snapshot (by its version), by environment.
type Generated = (u64, Vec<(String, FlagdDocument)>);

/// The documents of the current snapshot. A newer snapshot replaces them.
#[derive(Default)]
pub(crate) struct DefinitionCache {
    inner: Mutex<Option<Generated>>,
}

impl App {
    /// The flagd definition document of `environment`, as of the current snapshot.
    pub fn flagd_definition(&self, environment: &str) -> Result<FlagdDocument> {
        check_env(&self.policy.policy, environment)?;
        self.refresh()?;
        let snapshot = self.snapshot();
        let version = snapshot.version();
        {
            let cache = self.flagd.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((v, docs)) = cache.as_ref()
                && *v == version
                && let Some((_, doc)) = docs.iter().find(|(e, _)| e == environment)
            {
                return Ok(doc.clone());
            }
        }
        let doc = generate(&snapshot, environment);
        let mut cache = self.flagd.inner.lock().unwrap_or_else(|p| p.into_inner());
        match cache.as_mut() {
            Some((v, docs)) if *v == version => {
                if !docs.iter().any(|(e, _)| e == environment) {
                    docs.push((environment.to_owned(), doc.clone()));
                }
            }
            // A reader holding an older snapshot must not replace a newer one's documents.
            Some((v, _)) if *v > version => {}
            _ => *cache = Some((version, vec![(environment.to_owned(), doc.clone())])),
        }
        Ok(doc)
    }
}

fn generate(snapshot: &Snapshot, environment: &str) -> FlagdDocument {
    let seq = snapshot.audit_seq();
    let doc = flagd::document(&snapshot.sources(), environment, seq);
    let json = serde_json::to_string(&doc).expect("a definition document serializes");
    let digest = Sha256::digest(json.as_bytes());
    FlagdDocument {
        etag: format!("\"{}\"", hex::encode(&digest[..16])),
        json: json.into(),
        seq,
    }
}
