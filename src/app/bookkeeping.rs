//! Bookkeeping that changes no flag and so writes no audit event: the evaluation counts (flushed from
//! the snapshot's counters, and totalled for metrics), the rollout census for metrics, and the meta
//! values the webhook workers keep their delivery cursors in.

use super::*;

impl App {
    /// Writes the in-memory evaluation counts to the store and zeroes them.
    pub fn flush_counts(&self) -> Result<()> {
        use std::sync::atomic::Ordering::Relaxed;
        let snap = self.snapshot();
        if snap.all_counts().all(|(.., c)| c.load(Relaxed) == 0) {
            return Ok(()); // nothing to write: leave the file alone
        }
        let now = self.now();
        let mut store = self.store();
        let tx = store.begin()?;
        let mut taken = Vec::new();
        for (flag, env, variant, counter) in snap.all_counts() {
            let n = counter.swap(0, Relaxed);
            if n > 0 {
                taken.push((counter, n));
                if let Err(e) = store::add_evaluations(&tx, flag, env, variant, n, now) {
                    // Put the counts back so a failed flush loses nothing.
                    taken.iter().for_each(|(c, n)| {
                        c.fetch_add(*n, Relaxed);
                    });
                    return Err(e.into());
                }
            }
        }
        if let Err(e) = tx.commit() {
            taken.iter().for_each(|(c, n)| {
                c.fetch_add(*n, Relaxed);
            });
            return Err(e.into());
        }
        Ok(())
    }

    /// A bookkeeping value (the webhook delivery cursors): not a change to flags, so not audited.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.read(|conn, _| Ok(store::meta_get(conn, key)?))
    }

    /// Reads and rewrites bookkeeping value `key` in one write transaction, so two processes that
    /// update it at once take turns. `update` sees the current value and returns the value to store
    /// (`None` leaves it as it is) and what to hand back.
    pub fn update_meta<T>(
        &self,
        key: &str,
        update: impl FnOnce(Option<&str>) -> (Option<String>, T),
    ) -> Result<T> {
        self.refresh()?;
        let mut store = self.store();
        let tx = store.begin()?;
        let current = store::meta_get(&tx, key)?;
        let (next, answer) = update(current.as_deref());
        if let Some(value) = next
            && Some(&value) != current.as_ref()
        {
            store::meta_set(&tx, key, &value)?;
            tx.commit()?;
        }
        Ok(answer)
    }

    /// Runs bookkeeping (the query providers' cursors and gaps) in one write transaction: changes no
    /// flag, so no audit event.
    pub(crate) fn bookkeeping<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection, jiff::Timestamp) -> Result<T>,
    ) -> Result<T> {
        self.refresh()?;
        let now = self.now();
        let mut store = self.store();
        let tx = store.begin()?;
        let answer = f(&tx, now)?;
        tx.commit()?;
        Ok(answer)
    }

    /// Evaluations per (flag, environment, variant) since the store began: flushed counts plus the
    /// ones still in memory, read under the store lock so a concurrent flush is counted once.
    pub fn evaluation_totals(&self) -> Result<Vec<(String, String, String, u64)>> {
        use std::sync::atomic::Ordering::Relaxed;
        let store = self.store();
        let mut totals: std::collections::BTreeMap<(String, String, String), u64> =
            store::all_evaluations(store.conn())?
                .into_iter()
                .map(|(f, e, v, n)| ((f, e, v), n))
                .collect();
        for (flag, env, variant, counter) in self.snapshot().all_counts() {
            let n = counter.load(Relaxed);
            if n > 0 {
                *totals
                    .entry((flag.into(), env.into(), variant.into()))
                    .or_default() += n;
            }
        }
        Ok(totals
            .into_iter()
            .map(|((f, e, v), n)| (f, e, v, n))
            .collect())
    }

    /// How many rollouts are in each state.
    pub fn rollout_states(&self) -> Result<Vec<(String, u64)>> {
        self.read(|conn, _| Ok(store::count_rollout_states(conn)?))
    }
}
