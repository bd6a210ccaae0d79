//! The OTLP receiver's join state in memory: the spans held for later joins and the claimed
//! (span, flag) exposures, as the store's `otlp_held` and `otlp_claims` rows say, so an export
//! looks spans and claims up in a hash map instead of the store, and writes one row of each.
//!
//! The store stays the truth. The memory follows the tables by row id inside each ingest's write
//! transaction (rows another process committed, or everything after a start), and takes in an
//! export's own rows and forgets what it pruned only once its transaction committed. After any
//! failed transaction it is dropped whole and read again, so it never holds less than the store.
//!
//! Bounds: spans are held for `JOIN_WINDOW_SECS` and at most `MAX_HELD_SPANS`; at most
//! `MAX_CLAIMS` claims are remembered, oldest rows forgotten first. Evaluations older than the
//! newest one a forgotten row claimed are refused (`store::claims_forgotten_before`): a replay of
//! them could no longer be recognised, and counting nothing twice wins over counting late evidence.

use std::collections::{HashMap, HashSet, VecDeque};

use rusqlite::Connection;

use crate::app::Result;
use crate::domain::telemetry::{SpanFact, SpanKey};
use crate::store::{self, ClaimKey};

/// Span keys and claims are random ids: a fast hash serves them.
type Hasher = foldhash::fast::RandomState;

/// How long a part of a trace waits for its partner.
pub(super) const JOIN_WINDOW_SECS: i64 = 600;
pub(super) const MAX_HELD_SPANS: usize = 200_000;
/// About 40 MB of memory; at 1000 spans a second, claims are remembered for a quarter of an hour.
pub(super) const MAX_CLAIMS: usize = 1_000_000;

/// One stored row, as the memory remembers it in order.
struct RowIndex {
    id: i64,
    /// `received_at` for held spans, `newest_at` for claims.
    at: i64,
    keys: usize,
}

pub(crate) struct Joins {
    /// The bounds: `MAX_HELD_SPANS` and `MAX_CLAIMS` (smaller in tests).
    max_held: usize,
    max_claims: usize,
    loaded: bool,
    /// Each held span with the row that holds it longest.
    held: HashMap<SpanKey, (i64, SpanFact), Hasher>,
    /// The held rows oldest first, with the spans each holds (to forget them).
    held_rows: VecDeque<(RowIndex, Vec<SpanKey>)>,
    held_upto: i64,
    claims: HashSet<ClaimKey, Hasher>,
    claim_rows: VecDeque<RowIndex>,
    claim_count: usize,
    claims_upto: i64,
}

impl Default for Joins {
    fn default() -> Joins {
        Joins::bounded(MAX_HELD_SPANS, MAX_CLAIMS)
    }
}

/// What one export adds and forgets, applied to the memory once its transaction committed.
#[derive(Default)]
pub(super) struct Change {
    held: Option<(i64, i64, Vec<SpanFact>)>,
    claims: Option<(i64, i64, Vec<ClaimKey>)>,
    forget_held_through: Option<i64>,
    forgotten_claims: Vec<ClaimKey>,
    forget_claims_through: Option<i64>,
}

impl Joins {
    fn bounded(max_held: usize, max_claims: usize) -> Joins {
        Joins {
            max_held,
            max_claims,
            loaded: false,
            held: HashMap::default(),
            held_rows: VecDeque::new(),
            held_upto: 0,
            claims: HashSet::default(),
            claim_rows: VecDeque::new(),
            claim_count: 0,
            claims_upto: 0,
        }
    }

    /// Brings the memory up to the store inside the caller's write transaction.
    pub(super) fn sync(&mut self, conn: &Connection) -> Result<()> {
        if !self.loaded {
            *self = Joins {
                loaded: true,
                ..Joins::bounded(self.max_held, self.max_claims)
            };
        }
        for row in store::held_after(conn, self.held_upto)? {
            self.take_held(row.id, row.received_at, row.facts);
        }
        for row in store::claims_after(conn, self.claims_upto)? {
            self.take_claims(row.id, row.newest_at, row.keys);
        }
        Ok(())
    }

    /// Forgets everything: the next `sync` reads the store again.
    pub(super) fn reset(&mut self) {
        *self = Joins::bounded(self.max_held, self.max_claims);
    }

    fn take_held(&mut self, id: i64, received_at: i64, facts: Vec<SpanFact>) {
        let keys: Vec<SpanKey> = facts.iter().map(|f| f.key).collect();
        for f in facts {
            // A span sent twice keeps what came first, as the one-row-per-span table did, for as
            // long as the later row holds it.
            self.held
                .entry(f.key)
                .and_modify(|(owner, _)| *owner = id)
                .or_insert((id, f));
        }
        self.held_rows.push_back((
            RowIndex {
                id,
                at: received_at,
                keys: keys.len(),
            },
            keys,
        ));
        self.held_upto = self.held_upto.max(id);
    }

    fn take_claims(&mut self, id: i64, newest_at: i64, keys: Vec<ClaimKey>) {
        self.claim_count += keys.len();
        self.claim_rows.push_back(RowIndex {
            id,
            at: newest_at,
            keys: keys.len(),
        });
        self.claims.extend(keys);
        self.claims_upto = self.claims_upto.max(id);
    }

    pub(super) fn span(&self, key: &SpanKey) -> Option<&SpanFact> {
        self.held.get(key).map(|(_, f)| f)
    }

    pub(super) fn is_claimed(&self, key: &ClaimKey) -> bool {
        self.claims.contains(key)
    }

    /// Writes an export's rows and prunes what is past the bounds, in the caller's transaction;
    /// the returned change is for `apply` after the commit.
    pub(super) fn write(
        &self,
        conn: &Connection,
        mut spans: Vec<SpanFact>,
        claims: Vec<ClaimKey>,
        newest_at: i64,
        now_s: i64,
    ) -> Result<Change> {
        let mut change = Change::default();
        // A span already held stays as it was: a replayed export changes nothing here.
        spans.retain(|f| !self.held.contains_key(&f.key));
        // Held spans: those received before the window, then the oldest beyond the bound.
        let cutoff = now_s - JOIN_WINDOW_SECS;
        let mut held = self.held.len() + spans.len();
        for (row, keys) in &self.held_rows {
            if row.at >= cutoff && held <= self.max_held {
                break;
            }
            held = held.saturating_sub(keys.len());
            change.forget_held_through = Some(row.id);
        }
        if let Some(id) = change.forget_held_through {
            store::forget_held_through(conn, id)?;
        }
        if !spans.is_empty() {
            let id = store::hold_spans(conn, &spans, now_s)?;
            change.held = Some((id, now_s, spans));
        }
        // Claims: the oldest rows beyond the bound, remembering how new their newest was.
        let mut count = self.claim_count + claims.len();
        let mut newest_forgotten = None;
        for row in &self.claim_rows {
            if count <= self.max_claims {
                break;
            }
            count -= row.keys;
            change.forget_claims_through = Some(row.id);
            newest_forgotten = Some(newest_forgotten.unwrap_or(row.at).max(row.at));
        }
        if let (Some(id), Some(before)) = (change.forget_claims_through, newest_forgotten) {
            for row in store::claims_through(conn, id)? {
                change.forgotten_claims.extend(row.keys);
            }
            store::forget_claims_through(conn, id, before)?;
        }
        if !claims.is_empty() {
            let id = store::record_claims(conn, &claims, newest_at)?;
            change.claims = Some((id, newest_at, claims));
        }
        Ok(change)
    }

    /// Takes in a committed export's change.
    pub(super) fn apply(&mut self, change: Change) {
        if let Some(through) = change.forget_held_through {
            while self.held_rows.front().is_some_and(|(r, _)| r.id <= through) {
                let (row, keys) = self.held_rows.pop_front().expect("a front row");
                for k in keys {
                    if self.held.get(&k).is_some_and(|(owner, _)| *owner == row.id) {
                        self.held.remove(&k);
                    }
                }
            }
        }
        if let Some(through) = change.forget_claims_through {
            while self.claim_rows.front().is_some_and(|r| r.id <= through) {
                let r = self.claim_rows.pop_front().expect("a front row");
                self.claim_count -= r.keys;
            }
            for k in &change.forgotten_claims {
                self.claims.remove(k);
            }
        }
        if let Some((id, at, facts)) = change.held {
            self.take_held(id, at, facts);
        }
        if let Some((id, at, keys)) = change.claims {
            self.take_claims(id, at, keys);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(n: u8) -> SpanFact {
        SpanFact {
            key: SpanKey {
                trace: [n; 16],
                span: [1; 8],
            },
            parent: None,
            root: true,
            error: false,
            latency_ms: Some(1.0),
            task: None,
            safety: None,
            shadow: None,
            scores: Vec::new(),
            sampling: "undeclared".into(),
        }
    }

    /// One export's rows written and committed, as `ingest_telemetry` does.
    fn export(store: &mut store::Store, j: &mut Joins, spans: &[u8], claims: &[u8], at: i64) {
        let tx = store.begin().unwrap();
        j.sync(&tx).unwrap();
        let facts = spans.iter().map(|n| fact(*n)).collect();
        let keys = claims.iter().map(|n| [*n; 16]).collect();
        let change = j.write(&tx, facts, keys, at + 1, at).unwrap();
        tx.commit().unwrap();
        j.apply(change);
    }

    #[test]
    fn the_memory_follows_the_store_within_its_bounds() {
        let mut store = store::Store::open_in_memory().unwrap();
        let mut j = Joins::bounded(3, 4);
        export(&mut store, &mut j, &[1, 2], &[1, 2], 1000);
        export(&mut store, &mut j, &[2, 3], &[3, 4], 1001);
        assert!(j.span(&fact(1).key).is_some() && j.span(&fact(3).key).is_some());
        assert!((1..=4).all(|n| j.is_claimed(&[n; 16])));
        assert_eq!(store::claims_forgotten_before(store.conn()).unwrap(), None);
        // Past the bounds the oldest rows go, and evaluations as old as their newest claim with them.
        export(&mut store, &mut j, &[4, 5], &[5], 1002);
        assert!(
            j.span(&fact(1).key).is_none(),
            "the oldest held row is forgotten"
        );
        assert!(j.span(&fact(4).key).is_some());
        assert!(!j.is_claimed(&[1; 16]) && j.is_claimed(&[5; 16]));
        assert_eq!(
            store::claims_forgotten_before(store.conn()).unwrap(),
            Some(1001)
        );
        // A fresh memory (a restart, or after a failed transaction) reads the same from the store.
        let mut again = Joins::bounded(3, 4);
        let tx = store.begin().unwrap();
        again.sync(&tx).unwrap();
        drop(tx);
        for n in 1..=5u8 {
            assert_eq!(
                again.is_claimed(&[n; 16]),
                j.is_claimed(&[n; 16]),
                "claim {n}"
            );
            assert_eq!(
                again.span(&fact(n).key).is_some(),
                j.span(&fact(n).key).is_some(),
                "span {n}"
            );
        }
        // Past the join window, held spans go whatever their number.
        export(&mut store, &mut j, &[], &[], 1002 + JOIN_WINDOW_SECS + 1);
        assert!((1..=5).all(|n| j.span(&fact(n).key).is_none()));
    }
}
