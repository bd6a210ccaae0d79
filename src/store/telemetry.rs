//! What the OTLP receiver keeps between requests: the spans each export holds for a later join
//! (`otlp_held`), the (span, flag) exposures each export claimed (`otlp_claims`), so a replayed
//! export counts nothing twice, and evaluations attributed to an arm and waiting for the span whose
//! outcome they take (`otlp_pending`). Held spans and claims are one row per export, packed here;
//! `app` keeps them in memory and follows the tables by row id. All are bounded; see `app`'s ingest.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, StoreError, parse_json, to_json};
use crate::domain::telemetry::{Sampling, SpanFact, SpanKey};

/// One claimed exposure: 16 bytes derived from the span and the flag.
pub type ClaimKey = [u8; 16];

/// The packing of `otlp_held.facts`: a version byte, then each fact (see `pack_facts`). Version 2
/// adds a second bit set (the shadow agreement); rows of version 1 still read, as spans without
/// one. A row moved from the old one-span-per-row table holds that span's JSON instead.
const PACKED_V1: u8 = 1;
const PACKED_V2: u8 = 2;

/// One export's held spans.
#[derive(Debug, Clone)]
pub struct HeldRow {
    pub id: i64,
    pub received_at: i64,
    pub facts: Vec<SpanFact>,
}

/// One export's claimed exposures.
#[derive(Debug, Clone)]
pub struct ClaimRow {
    pub id: i64,
    /// Unix seconds, rounded up, of the newest evaluation among them.
    pub newest_at: i64,
    pub keys: Vec<ClaimKey>,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("otlp_held.facts: {what}"))
}

/// Facts as bytes: per fact the trace and span ids (24 bytes), a bit set (parent, root, error,
/// latency, task known, task ok, safety known, safety ok), a second (shadow agreement known,
/// agreed), the parent span id and the latency when
/// present, the sampling label (u16 length) and the scores (u32 count, f64 each), little-endian.
fn pack_facts(facts: &[SpanFact]) -> Vec<u8> {
    let mut b = Vec::with_capacity(1 + facts.len() * 48);
    b.push(PACKED_V2);
    for f in facts {
        b.extend_from_slice(&f.key.bytes());
        let bits = u8::from(f.parent.is_some())
            | u8::from(f.root) << 1
            | u8::from(f.error) << 2
            | u8::from(f.latency_ms.is_some()) << 3
            | u8::from(f.task.is_some()) << 4
            | u8::from(f.task == Some(true)) << 5
            | u8::from(f.safety.is_some()) << 6
            | u8::from(f.safety == Some(true)) << 7;
        b.push(bits);
        b.push(u8::from(f.shadow.is_some()) | u8::from(f.shadow == Some(true)) << 1);
        if let Some(p) = f.parent {
            b.extend_from_slice(&p);
        }
        if let Some(ms) = f.latency_ms {
            b.extend_from_slice(&ms.to_le_bytes());
        }
        // Labels are short ("undeclared", "p=0.25"); a longer one is cut, never misread.
        let label = &f.sampling.as_bytes()[..f.sampling.len().min(u16::MAX as usize)];
        b.extend_from_slice(&(label.len() as u16).to_le_bytes());
        b.extend_from_slice(label);
        b.extend_from_slice(&(f.scores.len() as u32).to_le_bytes());
        for s in &f.scores {
            b.extend_from_slice(&s.to_le_bytes());
        }
    }
    b
}

/// Reads `n` bytes at the cursor.
fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    if b.len() < n {
        return Err(corrupt("truncated"));
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Ok(head)
}

fn take_array<const N: usize>(b: &mut &[u8]) -> Result<[u8; N]> {
    Ok(take(b, N)?.try_into().expect("N bytes"))
}

fn unpack_facts(blob: &[u8]) -> Result<Vec<SpanFact>> {
    let version = match blob.first() {
        Some(&v @ (PACKED_V1 | PACKED_V2)) => v,
        Some(b'{') => {
            let text = std::str::from_utf8(blob).map_err(|_| corrupt("not UTF-8"))?;
            return Ok(vec![parse_json("otlp_held.facts", text)?]);
        }
        _ => return Err(corrupt("unknown packing")),
    };
    let mut b = &blob[1..];
    let mut out = Vec::new();
    while !b.is_empty() {
        let trace: [u8; 16] = take_array(&mut b)?;
        let span: [u8; 8] = take_array(&mut b)?;
        let bits = take(&mut b, 1)?[0];
        let bit = |i: u8| bits & (1 << i) != 0;
        let more = if version >= PACKED_V2 {
            take(&mut b, 1)?[0]
        } else {
            0
        };
        let parent = if bit(0) {
            Some(take_array::<8>(&mut b)?)
        } else {
            None
        };
        let latency_ms = if bit(3) {
            Some(f64::from_le_bytes(take_array(&mut b)?))
        } else {
            None
        };
        let len = u16::from_le_bytes(take_array(&mut b)?) as usize;
        let sampling = String::from_utf8(take(&mut b, len)?.to_vec())
            .map_err(|_| corrupt("sampling label not UTF-8"))?;
        let n = u32::from_le_bytes(take_array(&mut b)?) as usize;
        let mut scores = Vec::with_capacity(n.min(b.len() / 8));
        for _ in 0..n {
            scores.push(f64::from_le_bytes(take_array(&mut b)?));
        }
        out.push(SpanFact {
            key: SpanKey { trace, span },
            parent,
            root: bit(1),
            error: bit(2),
            latency_ms,
            task: bit(4).then(|| bit(5)),
            safety: bit(6).then(|| bit(7)),
            shadow: (more & 1 != 0).then_some(more & 2 != 0),
            scores,
            sampling: sampling.into(),
        });
    }
    Ok(out)
}

/// Holds an export's spans for later joins, as one row; returns its id.
pub fn hold_spans(conn: &Connection, facts: &[SpanFact], now_s: i64) -> Result<i64> {
    conn.prepare_cached("INSERT INTO otlp_held (received_at, spans, facts) VALUES (?1, ?2, ?3)")?
        .execute(params![now_s, facts.len() as i64, pack_facts(facts)])?;
    Ok(conn.last_insert_rowid())
}

/// The held rows after row `after`, oldest first.
pub fn held_after(conn: &Connection, after: i64) -> Result<Vec<HeldRow>> {
    packed_rows(
        conn,
        "SELECT id, received_at, facts FROM otlp_held WHERE id > ?1 ORDER BY id",
        after,
    )?
    .into_iter()
    .map(|(id, received_at, blob)| {
        Ok(HeldRow {
            id,
            received_at,
            facts: unpack_facts(&blob)?,
        })
    })
    .collect()
}

/// Forgets the held rows up to and including row `through`.
pub fn forget_held_through(conn: &Connection, through: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM otlp_held WHERE id <= ?1")?
        .execute([through])?;
    Ok(())
}

fn unpack_keys(blob: &[u8]) -> Result<Vec<ClaimKey>> {
    if !blob.len().is_multiple_of(16) {
        return Err(StoreError::Corrupt(
            "otlp_claims.keys: not a whole number of 16-byte keys".into(),
        ));
    }
    Ok(blob
        .chunks_exact(16)
        .map(|c| c.try_into().expect("16 bytes"))
        .collect())
}

/// Records an export's claimed exposures as one row; returns its id.
pub fn record_claims(conn: &Connection, keys: &[ClaimKey], newest_at: i64) -> Result<i64> {
    conn.prepare_cached("INSERT INTO otlp_claims (newest_at, keys) VALUES (?1, ?2)")?
        .execute(params![newest_at, keys.concat()])?;
    Ok(conn.last_insert_rowid())
}

/// The claim rows after row `after`, oldest first.
pub fn claims_after(conn: &Connection, after: i64) -> Result<Vec<ClaimRow>> {
    claim_rows(
        conn,
        "SELECT id, newest_at, keys FROM otlp_claims WHERE id > ?1 ORDER BY id",
        after,
    )
}

/// The claim rows up to and including row `through`.
pub fn claims_through(conn: &Connection, through: i64) -> Result<Vec<ClaimRow>> {
    claim_rows(
        conn,
        "SELECT id, newest_at, keys FROM otlp_claims WHERE id <= ?1 ORDER BY id",
        through,
    )
}

/// Rows of a packed table (held spans, claims): its id, a time and the packed blob.
fn packed_rows(conn: &Connection, sql: &str, id: i64) -> Result<Vec<(i64, i64, Vec<u8>)>> {
    Ok(conn
        .prepare_cached(sql)?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

fn claim_rows(conn: &Connection, sql: &str, id: i64) -> Result<Vec<ClaimRow>> {
    packed_rows(conn, sql, id)?
        .into_iter()
        .map(|(id, newest_at, blob)| {
            Ok(ClaimRow {
                id,
                newest_at,
                keys: unpack_keys(&blob)?,
            })
        })
        .collect()
}

const FORGOTTEN_BEFORE: &str = "otlp:claims_forgotten_before";

/// Forgets the claim rows up to and including row `through`, and remembers that evaluations
/// before `before` (unix seconds) can no longer be told from replays.
pub fn forget_claims_through(conn: &Connection, through: i64, before: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM otlp_claims WHERE id <= ?1")?
        .execute([through])?;
    let was = claims_forgotten_before(conn)?.unwrap_or(i64::MIN);
    super::meta_set(conn, FORGOTTEN_BEFORE, &before.max(was).to_string())
}

/// Evaluations before this instant (unix seconds) had their claims forgotten: a replay of one could
/// not be recognised, so none is counted.
pub fn claims_forgotten_before(conn: &Connection) -> Result<Option<i64>> {
    let v: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([FORGOTTEN_BEFORE], |r| r.get(0))
        .optional()?;
    v.map(|t| {
        t.parse()
            .map_err(|_| StoreError::Corrupt(format!("meta {FORGOTTEN_BEFORE}: {t:?}")))
    })
    .transpose()
}

/// An evaluation waiting for a span.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    pub rollout_id: i64,
    pub arm: String,
    /// The span key (24 bytes) it waits for.
    pub waiting: Vec<u8>,
    /// The span active at evaluation, once it arrived.
    pub own: Option<SpanFact>,
    pub sampling: Sampling,
}

pub fn insert_pending(conn: &Connection, p: &Pending, now_s: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO otlp_pending (rollout_id, arm, waiting, own, sampling, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        p.rollout_id,
        p.arm,
        p.waiting,
        p.own.as_ref().map(to_json),
        &*p.sampling,
        now_s
    ])?;
    Ok(())
}

fn read_pending(r: &rusqlite::Row) -> rusqlite::Result<(Pending, Option<String>)> {
    Ok((
        Pending {
            id: r.get(0)?,
            rollout_id: r.get(1)?,
            arm: r.get(2)?,
            waiting: r.get(3)?,
            own: None,
            sampling: Sampling::Owned(r.get(5)?),
        },
        r.get(4)?,
    ))
}

fn collect(rows: Vec<(Pending, Option<String>)>) -> Result<Vec<Pending>> {
    rows.into_iter()
        .map(|(mut p, own)| {
            p.own = own
                .map(|t| parse_json("otlp_pending.own", &t))
                .transpose()?;
            Ok(p)
        })
        .collect()
}

const PENDING_COLUMNS: &str = "id, rollout_id, arm, waiting, own, sampling";

/// The evaluations waiting for span `key`, oldest first; they are taken out of the table.
pub fn take_pending_for(conn: &Connection, key: &[u8]) -> Result<Vec<Pending>> {
    let rows = conn
        .prepare_cached(&format!(
            "DELETE FROM otlp_pending WHERE waiting = ?1 RETURNING {PENDING_COLUMNS}"
        ))?
        .query_map([key], read_pending)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    collect(rows)
}

/// Takes out the evaluations that waited since before `cutoff_s`, and the oldest beyond `max`:
/// their partner did not come in time.
pub fn take_expired_pending(conn: &Connection, cutoff_s: i64, max: i64) -> Result<Vec<Pending>> {
    let rows = conn
        .prepare_cached(&format!(
            "DELETE FROM otlp_pending WHERE received_at < ?1 OR id <= (SELECT MAX(id) FROM otlp_pending) - ?2 RETURNING {PENDING_COLUMNS}"
        ))?
        .query_map(params![cutoff_s, max], read_pending)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    collect(rows)
}

/// The span keys evaluations wait for, when at most `limit` wait (else `None`: look each up).
pub fn waiting_keys(conn: &Connection, limit: usize) -> Result<Option<Vec<[u8; 24]>>> {
    let keys = conn
        .prepare_cached("SELECT waiting FROM otlp_pending LIMIT ?1")?
        .query_map([limit as i64 + 1], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if keys.len() > limit {
        return Ok(None);
    }
    // A key of another length waits for nothing this receiver can send.
    Ok(Some(
        keys.iter()
            .filter_map(|k| k.as_slice().try_into().ok())
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(n: u8) -> SpanFact {
        SpanFact {
            key: SpanKey {
                trace: [n; 16],
                span: [n + 1; 8],
            },
            parent: n.is_multiple_of(2).then_some([9; 8]),
            root: n.is_multiple_of(3),
            error: n % 2 == 1,
            latency_ms: (n != 4).then_some(f64::from(n) * 1.5),
            task: [None, Some(true), Some(false)][usize::from(n % 3)],
            safety: [Some(false), None, Some(true)][usize::from(n % 3)],
            shadow: [Some(true), Some(false), None][usize::from(n % 3)],
            scores: (0..n % 3).map(|i| f64::from(i) / 4.0).collect(),
            sampling: if n.is_multiple_of(2) {
                "p=0.25"
            } else {
                "undeclared"
            }
            .into(),
        }
    }

    #[test]
    fn packed_facts_read_back_as_written() {
        let facts: Vec<SpanFact> = (0..7).map(fact).collect();
        assert_eq!(unpack_facts(&pack_facts(&facts)).unwrap(), facts);
        assert_eq!(unpack_facts(&pack_facts(&[])).unwrap(), vec![]);
        // A row moved from the one-span-per-row table is that span's JSON.
        let json = to_json(&facts[3]);
        assert_eq!(
            unpack_facts(json.as_bytes()).unwrap(),
            vec![facts[3].clone()]
        );
    }

    #[test]
    fn a_version_1_row_reads_as_spans_without_a_shadow_agreement() {
        let mut f = fact(2);
        f.shadow = None;
        let mut v1 = pack_facts(std::slice::from_ref(&f));
        // Version 1 had no second bit set: drop it and the byte says 1.
        v1.remove(1 + 24 + 1);
        v1[0] = PACKED_V1;
        assert_eq!(unpack_facts(&v1).unwrap(), vec![f]);
    }

    #[test]
    fn damaged_rows_are_refused_not_misread() {
        let packed = pack_facts(&[fact(1), fact(2)]);
        for cut in 1..packed.len() - 1 {
            if let Ok(v) = unpack_facts(&packed[..cut]) {
                // Only a cut exactly between two facts reads, and then as the facts before it.
                assert!(v.is_empty() || v == vec![fact(1)], "cut at {cut}: {v:?}");
            }
        }
        assert!(unpack_facts(&[7, 1, 2]).is_err());
        assert!(unpack_keys(&[0; 17]).is_err());
    }
}
