//! What a store holds, as a digest of its rows: equal digests before and after a refused call prove it
//! changed nothing, whatever SQLite did with its pages and WAL.

use std::path::Path;

/// A digest of the database's logical content: every row of every table, in rowid order. Equal
/// digests before and after prove nothing changed, whatever SQLite did with its pages and WAL.
pub fn db_digest(db: &Path) -> String {
    db_digest_except(db, &[])
}

/// The digest of every table but `skip`.
pub fn db_digest_except(db: &Path, skip: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the store read-only");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut hash = Sha256::new();
    for table in tables.iter().filter(|t| !skip.contains(&t.as_str())) {
        hash.update(table.as_bytes());
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let v: rusqlite::types::Value = row.get(i).unwrap();
                hash.update(format!("{v:?}\u{1f}").as_bytes());
            }
            hash.update(b"\x1e");
        }
    }
    hex::encode(hash.finalize())
}

/// The state of everything but the audit trail, and where the trail ends: a refused attempt may add
/// audit events (its outcome) and nothing else.
pub struct Before {
    state: String,
    audit_len: i64,
    except: &'static [&'static str],
}

pub fn before(db: &Path) -> Before {
    Before {
        state: db_digest_except(db, &["audit_events"]),
        audit_len: audit_len(db),
        except: &["audit_events"],
    }
}

/// The same for a store a running `serve` holds: its controller renews its lease in `meta` every
/// second, which is bookkeeping, not a change.
pub fn before_serving(db: &Path) -> Before {
    const EXCEPT: &[&str] = &["audit_events", "meta"];
    Before {
        state: db_digest_except(db, EXCEPT),
        audit_len: audit_len(db),
        except: EXCEPT,
    }
}

fn audit_len(db: &Path) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the store read-only");
    conn.query_row("SELECT count(*) FROM audit_events", [], |r| r.get(0))
        .unwrap()
}

impl Before {
    /// Nothing changed but audit events recording refusals: conflicts and policy denials.
    pub fn assert_only_refusals_recorded(&self, db: &Path) {
        assert_eq!(
            db_digest_except(db, self.except),
            self.state,
            "a refused request changed the store"
        );
        let conn =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let mut stmt = conn
            .prepare("SELECT seq, action, decision FROM audit_events WHERE seq > ?1")
            .unwrap();
        let added: Vec<(i64, String, String)> = stmt
            .query_map([self.audit_len], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (seq, action, decision) in added {
            assert!(
                decision == "conflict" || decision == "deny",
                "audit event {seq} ({action}) records {decision:?}, not a refusal"
            );
        }
    }
}
