//! Who is looking at the console, and the checks every POST passes. A person logs in once with a
//! human token; the console then keeps a session in memory, keyed by the SHA-256 of a random id that
//! only the browser holds (a `__Host-` cookie: HttpOnly, Secure, SameSite=Strict). A session keeps the
//! digest of the token it was opened with, never the token, and is refused as soon as that digest is
//! no longer a configured human token; a restart drops every session anyway. Each session has its
//! own CSRF token, and a POST also needs `Origin` equal to the URL the page was served from and
//! `Sec-Fetch-Site: same-origin` (a missing header is a refusal: a DNS-rebinding page sends none).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};

use crate::app::{Role, Tokens};

/// The cookie's name; the `__Host-` prefix makes the browser refuse it unless it is Secure, has
/// `Path=/` and names no domain, so no other host or path can plant or read it.
pub const COOKIE: &str = "__Host-flagwarden";

/// A session ends after this long without a request...
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// ...and this long after login, whatever happens.
pub const ABSOLUTE: Duration = Duration::from_secs(8 * 60 * 60);

/// At most this many sessions are kept; a login beyond it drops the oldest, so a token holder
/// logging in in a loop cannot grow memory without bound.
const MAX_SESSIONS: usize = 1024;

struct Session {
    name: String,
    token: [u8; 32],
    csrf: String,
    opened: Instant,
    seen: Instant,
}

/// A logged-in person as a page sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub csrf: String,
}

/// The sessions of this process, by the SHA-256 of their id.
#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<[u8; 32], Session>>,
}

fn random_hex() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

impl Sessions {
    /// Opens a session for the person whose human token is `secret`: the cookie value to set, or
    /// why not (no such token, or not a human one).
    pub fn open(&self, tokens: &Tokens, secret: &str) -> Result<String, String> {
        let digest = Tokens::hash(secret.trim());
        let who = tokens
            .lookup_hash(&digest)
            .ok_or("unknown token: paste a human token `flagwarden token new --role human` made")?;
        if who.role != Some(Role::Human) {
            return Err(format!(
                "{} tokens cannot log in: deciding needs a person's human token",
                who.role.map_or("anonymous", |r| r.as_str())
            ));
        }
        let id = random_hex().map_err(|e| format!("no randomness available: {e}"))?;
        let csrf = random_hex().map_err(|e| format!("no randomness available: {e}"))?;
        let now = Instant::now();
        let mut map = self.by_id.lock().expect("sessions lock");
        map.retain(|_, s| live(s, now));
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.opened).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(
            Tokens::hash(&id),
            Session {
                name: who.name.clone(),
                token: digest,
                csrf,
                opened: now,
                seen: now,
            },
        );
        Ok(id)
    }

    /// The person whose cookie this request carries, if the session is live and its token is still
    /// a configured human token.
    pub fn person(&self, tokens: &Tokens, headers: &HeaderMap) -> Option<Person> {
        let id = cookie(headers)?;
        let key = Tokens::hash(&id);
        let now = Instant::now();
        let mut map = self.by_id.lock().expect("sessions lock");
        let s = map.get_mut(&key)?;
        let still_human = tokens
            .lookup_hash(&s.token)
            .is_some_and(|c| c.role == Some(Role::Human));
        if !live(s, now) || !still_human {
            map.remove(&key);
            return None;
        }
        s.seen = now;
        Some(Person {
            name: s.name.clone(),
            csrf: s.csrf.clone(),
        })
    }

    /// Ends the session this request carries.
    pub fn close(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers) {
            self.by_id
                .lock()
                .expect("sessions lock")
                .remove(&Tokens::hash(&id));
        }
    }
}

fn live(s: &Session, now: Instant) -> bool {
    now.duration_since(s.seen) < IDLE && now.duration_since(s.opened) < ABSOLUTE
}

/// The session id in the request's cookies.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        ABSOLUTE.as_secs()
    )
}

/// The `Set-Cookie` value that ends one.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Whether a POST comes from a console page of this very server: `Sec-Fetch-Site: same-origin` and
/// an `Origin` equal to `http(s)://` and the request's Host (which the HTTP guard has already
/// checked against the allowed hosts). Both must be present.
pub fn same_origin(headers: &HeaderMap) -> Result<(), String> {
    let text = |h| {
        headers
            .get(h)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
    };
    match text("sec-fetch-site") {
        Some("same-origin") => {}
        Some(other) => {
            return Err(format!(
                "refused: this form was sent from another site (Sec-Fetch-Site: {other}); use the console's own page"
            ));
        }
        None => {
            return Err(
                "refused: the request has no Sec-Fetch-Site header; decide from the console page in a current browser"
                    .into(),
            );
        }
    }
    let host = text(header::HOST.as_str()).unwrap_or_default();
    match text(header::ORIGIN.as_str()) {
        Some(o) if o == format!("http://{host}") || o == format!("https://{host}") => Ok(()),
        Some(o) => Err(format!(
            "refused: Origin {o:?} is not this console (http://{host}); use the console's own page"
        )),
        None => Err("refused: the request has no Origin header; use the console's own page".into()),
    }
}

/// Whether the form's CSRF token is the session's, compared in constant time.
pub fn csrf_matches(person: &Person, sent: &str) -> bool {
    let (a, b) = (person.csrf.as_bytes(), sent.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn tokens() -> Tokens {
        let mut t = Tokens::default();
        t.parse_env("human:alice=s-human-0123456789ab,agent:bot=s-agent-0123456789ab")
            .unwrap();
        t
    }

    fn with_cookie(id: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE}={id}")).unwrap(),
        );
        h
    }

    #[test]
    fn only_human_tokens_open_sessions_and_a_removed_token_ends_them() {
        let s = Sessions::default();
        let t = tokens();
        assert!(
            s.open(&t, "s-agent-0123456789ab")
                .unwrap_err()
                .contains("agent token")
        );
        assert!(s.open(&t, "nope").unwrap_err().contains("unknown token"));
        let id = s.open(&t, "s-human-0123456789ab").unwrap();
        let p = s.person(&t, &with_cookie(&id)).unwrap();
        assert_eq!(p.name, "alice");
        assert!(csrf_matches(&p, &p.csrf.clone()));
        assert!(!csrf_matches(&p, "x"));
        assert!(s.person(&t, &with_cookie("forged")).is_none());
        // The same process with the token removed: the session is refused and dropped.
        let mut fewer = Tokens::default();
        fewer.parse_env("agent:bot=s-agent-0123456789ab").unwrap();
        assert!(s.person(&fewer, &with_cookie(&id)).is_none());
        assert!(s.person(&t, &with_cookie(&id)).is_none());
    }

    #[test]
    fn posts_need_same_origin_and_sec_fetch_site() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:7070"));
        assert!(same_origin(&h).is_err());
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_origin(&h).unwrap_err().contains("no Origin"));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://evil.test"));
        assert!(same_origin(&h).is_err());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:7070"),
        );
        assert!(same_origin(&h).is_ok());
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(same_origin(&h).unwrap_err().contains("cross-site"));
    }
}
