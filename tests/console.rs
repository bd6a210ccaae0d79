//! The console (`/console` on `flagwarden serve`) as a real process on 127.0.0.1, over a store seeded
//! through the App (tests/common/console_seed.rs: a running canary with a day of looks, a proposed
//! rollback, a stale flag; here also a broken audit chain): every page renders the stored numbers
//! (the chart's SVG checked as structure, the table cell by cell against the stored gate
//! evaluations), and the security rules hold (only human tokens log in; a POST without the CSRF
//! token, from a foreign Origin or cross-site changes nothing; markup from agents is text; the CSP
//! is on every response; a session ends with its token and a restart).

mod common;
#[path = "common/console_seed.rs"]
mod seed;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Project, Served, db_digest_except};
use flagwarden::console::chart::{exact, shown};
use flagwarden::console::{CSP, session::COOKIE};
use flagwarden::domain::gate::{GateResult, Label};
use reqwest::StatusCode;

const HUMAN: &str = "fw_human_secret_for_console_0001";
const AGENT: &str = "fw_agent_secret_for_console_0001";

struct Site {
    p: Project,
    seeded: seed::Seeded,
    clock: PathBuf,
}

impl Site {
    fn new() -> Site {
        let p = Project::new(seed::POLICY);
        let seeded = seed::seed(p.path(), 1, 0);
        let clock = p.path().join("now.txt");
        std::fs::write(&clock, &seeded.now).unwrap();
        Site { p, seeded, clock }
    }

    fn serve(&self, tokens: Option<&str>) -> Served {
        let clock = self.clock.to_str().unwrap().to_owned();
        let mut env = vec![("FLAGWARDEN_CLOCK_FILE", clock.as_str())];
        if let Some(t) = tokens {
            env.push(("FLAGWARDEN_TOKENS", t));
        }
        self.p.serve_with(&[], &env)
    }

    fn db(&self) -> PathBuf {
        self.p.db()
    }

    fn rollout(&self) -> (i64, i64) {
        let (_, r, a) = &self.seeded.rollouts[0];
        (*r, *a)
    }

    /// The stored gate evaluations of the rollout, oldest first, read back through the App.
    fn stored(&self) -> Vec<(i64, GateResult)> {
        let mut v: Vec<(i64, GateResult)> = self
            .seeded
            .app
            .gate_evaluations(self.rollout().0, 1000)
            .unwrap()
            .into_iter()
            .map(|e| (e.id, serde_json::from_value(e.result).unwrap()))
            .collect();
        v.reverse();
        v
    }
}

fn tokens() -> String {
    format!("human:alice={HUMAN},agent:bot={AGENT}")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A POST the way a browser sends a console form, with `headers` replacing or adding to it.
async fn post(
    url: &str,
    path: &str,
    cookie: Option<&str>,
    body: &str,
    headers: &[(&str, Option<&str>)],
) -> reqwest::Response {
    let mut h: Vec<(String, String)> = vec![
        ("origin".into(), url.into()),
        ("sec-fetch-site".into(), "same-origin".into()),
        (
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ),
    ];
    if let Some(c) = cookie {
        h.push(("cookie".into(), format!("{COOKIE}={c}")));
    }
    for (k, v) in headers {
        h.retain(|(name, _)| name != k);
        if let Some(v) = v {
            h.push(((*k).into(), (*v).into()));
        }
    }
    let mut req = http().post(format!("{url}{path}")).body(body.to_owned());
    for (k, v) in h {
        req = req.header(k, v);
    }
    req.send().await.unwrap()
}

async fn get(url: &str, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = http().get(format!("{url}{path}"));
    if let Some(c) = cookie {
        req = req.header("cookie", format!("{COOKIE}={c}"));
    }
    req.send().await.unwrap()
}

/// A page's body, after checking it is a 200 with the console's CSP.
async fn page(url: &str, path: &str, cookie: Option<&str>) -> String {
    let res = get(url, path, cookie).await;
    assert_eq!(res.status(), StatusCode::OK, "GET {path}");
    assert_eq!(res.headers()["content-security-policy"], CSP, "{path}");
    res.text().await.unwrap()
}

/// Logs in with `secret`: the session id from `Set-Cookie`.
async fn login(url: &str, secret: &str) -> String {
    let res = post(
        url,
        "/console/login",
        None,
        &form(&[("token", secret)]),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attr in [
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=",
    ] {
        assert!(set.contains(attr), "{set}");
    }
    set.strip_prefix(&format!("{COOKIE}="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// The text between `start` (included) and the next `end` after it (included).
fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let i = s
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in page"));
    let from = i + start.len();
    let j = s[from..].find(end).unwrap_or_else(|| panic!("no {end:?}")) + from + end.len();
    &s[i..j]
}

fn csrf(html: &str) -> String {
    between(html, "name=\"csrf\" value=\"", "\"")
        .trim_start_matches("name=\"csrf\" value=\"")
        .trim_end_matches('"')
        .to_owned()
}

fn attr(tag: &str, name: &str) -> String {
    let from = format!(" {name}=\"");
    between(tag, &from, "\"")
        .trim_start_matches(&from)
        .trim_end_matches('"')
        .to_owned()
}

/// Checks a chart against the stored looks: one group per look with its stored numbers, the band
/// through exactly the looks that have both bounds, the margin line at the stored margin.
fn check_chart(svg: &str, stored: &[(i64, GateResult)], metric: &str) {
    let looks: Vec<&str> = svg.split("<g class=\"look ").skip(1).collect();
    assert_eq!(looks.len(), stored.len(), "one point per stored look");
    let mut with_bounds = 0;
    for (g, (_, r)) in looks.iter().zip(stored) {
        let m = r.metrics.iter().find(|m| m.metric == metric).unwrap();
        assert_eq!(attr(g, "data-difference"), exact(m.difference));
        assert_eq!(attr(g, "data-lower"), exact(m.lower));
        assert_eq!(attr(g, "data-upper"), exact(m.upper));
        let label = serde_json::to_value(m.label).unwrap();
        assert_eq!(attr(g, "data-label"), label.as_str().unwrap());
        if m.lower.is_some_and(f64::is_finite) && m.upper.is_some_and(f64::is_finite) {
            with_bounds += 1;
            assert!(
                g.contains("<line class=\"ci\""),
                "a bounded look has its interval"
            );
        }
    }
    let band_points: usize = svg
        .split("<path class=\"band\" d=\"")
        .skip(1)
        .map(|d| d.split('"').next().unwrap().matches(['M', 'L']).count())
        .sum();
    assert_eq!(
        band_points,
        2 * with_bounds,
        "the band passes through every bound"
    );
    let margin = stored.last().unwrap().1.metrics[0].margin;
    assert_eq!(
        attr(between(svg, "<line class=\"margin\"", ">"), "data-value"),
        margin.to_string()
    );
    assert!(svg.contains("<line class=\"zero\""));
    assert!(
        !svg.contains("style="),
        "no style attribute (the CSP forbids them)"
    );
}

/// Breaks the audit chain the way a direct edit would: returns the seq edited.
fn break_chain(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_no_update; UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 2;",
    )
    .unwrap();
    2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_shows_the_stored_evidence_and_escapes_what_agents_wrote() {
    let site = Site::new();
    let stored = site.stored();
    assert_eq!(
        stored.len(),
        seed::LOOKS + 1,
        "a day of looks and the harmful one"
    );
    let labels: Vec<Label> = stored.iter().map(|(_, r)| r.metrics[0].label).collect();
    assert_eq!(labels[0], Label::Insufficient);
    assert!(labels.contains(&Label::Inconclusive));
    assert_eq!(*labels.last().unwrap(), Label::Harm);
    let broken = break_chain(&site.db());
    let s = site.serve(Some(&tokens()));
    let cookie = login(&s.url, HUMAN).await;
    let (rid, aid) = site.rollout();

    // Approvals: the proposed rollback with its reason, verdict, chart and form.
    let html = page(&s.url, "/console/approvals", Some(&cookie)).await;
    let article = between(
        &html,
        &format!("<article class=\"approval pending\" id=\"approval-{aid}\""),
        "</article>",
    );
    assert!(article.contains("Roll back checkout in production"));
    let last = &stored.last().unwrap().1;
    assert!(
        article.contains(&last.reasons[0]),
        "the gate's reason in words"
    );
    assert!(article.contains(">ROLLBACK</strong>"));
    assert!(article.contains("ROLLBACK_PENDING"));
    check_chart(between(article, "<svg", "</svg>"), &stored, "error_rate");
    assert!(article.contains(&format!("action=\"/console/approvals/{aid}/decide\"")));
    assert!(article.contains("<label for=\"approval-1-reason\""));
    assert!(article.contains("required"));

    // A rollout: state, exposure, the chart, and a table row per look equal to the stored numbers.
    let html = page(&s.url, &format!("/console/rollouts/{rid}"), Some(&cookie)).await;
    assert!(
        html.contains("<strong class=\"state\" id=\"rollout-state\">ROLLBACK_PENDING</strong>")
    );
    assert!(html.contains("5% of production"));
    check_chart(between(&html, "<svg", "</svg>"), &stored, "error_rate");
    for (id, r) in &stored {
        let row = between(&html, &format!("<tr data-evaluation=\"{id}\">"), "</tr>");
        let m = &r.metrics[0];
        let verdict = serde_json::to_value(r.verdict).unwrap();
        let label = serde_json::to_value(m.label).unwrap();
        let cells = format!(
            "<td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            verdict.as_str().unwrap(),
            label.as_str().unwrap(),
            m.canary.n,
            shown(m.canary.value),
            m.control.n,
            shown(m.control.value),
            shown(m.difference),
            shown(m.lower),
            shown(m.upper),
            shown(Some(m.margin)),
        );
        assert!(
            row.contains(&cells),
            "evaluation {id}: {row}\nwanted {cells}"
        );
    }
    assert!(html.contains("Sample ratio"));
    assert!(html.contains(&format!("canary {}", last.srm.canary_exposures)));
    assert!(html.contains("<ol class=\"timeline\">"));
    assert!(html.contains("start_canary</strong> by agent:claude"));

    // Flags: who gets what, the stale flag with its evidence, and the description as text.
    let html = page(&s.url, "/console/flags", Some(&cookie)).await;
    let stale = between(
        &html,
        &format!("<article class=\"stale\" id=\"stale-{}\"", seed::STALE_FLAG),
        "</article>",
    );
    assert!(stale.contains("past_lifetime"), "{stale}");
    assert!(html.contains(&format!("#{rid} checkout in production")));
    // Audit: the broken chain named, and its row marked.
    let html = page(&s.url, "/console/audit", Some(&cookie)).await;
    assert!(
        html.contains(&format!("Hash chain broken at event #{broken}")),
        "{}",
        between(&html, "<main", "</form>")
    );
    assert!(html.contains(&format!("<tr id=\"event-{broken}\" class=\"broken\"")));
    let filtered = page(
        &s.url,
        "/console/audit?action=start_canary&actor=agent",
        Some(&cookie),
    )
    .await;
    assert_eq!(filtered.matches("data-action=\"start_canary\"").count(), 1);
    assert_eq!(filtered.matches("data-action=").count(), 1);
    // Policy: in words, with its version and hash.
    let html = page(&s.url, "/console/policy", Some(&cookie)).await;
    let sha = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(seed::POLICY.as_bytes()))
    };
    assert!(html.contains(&sha), "the policy file's hash");
    assert!(html.contains("<dd>7</dd>"));
    assert!(html.contains("agents may:"));

    // Whatever an agent or application wrote is shown as text on every page.
    for path in [
        "/console/approvals",
        &format!("/console/rollouts/{rid}"),
        "/console/flags",
        "/console/audit",
    ] {
        let html = page(&s.url, path, Some(&cookie)).await;
        for raw in [seed::XSS_DESCRIPTION, seed::XSS_REASON, seed::XSS_VARIANT] {
            assert!(!html.contains(raw), "{path} carries {raw} as markup");
        }
        assert!(
            !html.contains("<script>") && !html.contains("<img"),
            "{path}"
        );
    }
    let flags = page(&s.url, "/console/flags", Some(&cookie)).await;
    assert!(flags.contains("&lt;script&gt;alert('description')&lt;/script&gt;"));
    let audit = page(&s.url, "/console/audit", Some(&cookie)).await;
    assert!(audit.contains("&lt;img src=x onerror=alert('reason')&gt;"));
    let rollout = page(&s.url, &format!("/console/rollouts/{rid}"), Some(&cookie)).await;
    assert!(
        rollout.contains("&lt;script&gt;alert('variant')&lt;/script&gt;"),
        "the candidate's value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_person_decides_and_a_refused_post_changes_nothing() {
    let site = Site::new();
    let (rid, aid) = site.rollout();
    let db = site.db();
    let s = site.serve(Some(&tokens()));
    let u = s.url.clone();

    // Without a session every page sends you to log in; an agent token cannot log in.
    let res = get(&u, "/console/approvals", None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/console/login");
    let res = post(&u, "/console/login", None, &form(&[("token", AGENT)]), &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get("set-cookie").is_none());
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("agent tokens cannot log in")
    );
    let res = post(
        &u,
        "/console/login",
        None,
        &form(&[("token", "fw_not_a_token_at_all_00")]),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // A cross-site login form is refused before the token is even looked at.
    let res = post(
        &u,
        "/console/login",
        None,
        &form(&[("token", HUMAN)]),
        &[("sec-fetch-site", Some("cross-site"))],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get("set-cookie").is_none());

    let cookie = login(&u, HUMAN).await;
    let html = page(&u, "/console/approvals", Some(&cookie)).await;
    let token = csrf(&html);
    assert_eq!(token.len(), 64);
    let decide = format!("/console/approvals/{aid}/decide");
    let good = form(&[
        ("csrf", &token),
        ("reason", "the canary errs 5x"),
        ("decision", "approve"),
    ]);

    let before = db_digest_except(&db, &["meta"]);
    type Case<'a> = (&'a str, String, Vec<(&'a str, Option<&'a str>)>, StatusCode);
    let refused: Vec<Case> = vec![
        (
            "no csrf token",
            form(&[("reason", "x"), ("decision", "approve")]),
            vec![],
            StatusCode::FORBIDDEN,
        ),
        (
            "a wrong csrf token",
            form(&[
                ("csrf", &"0".repeat(64)),
                ("reason", "x"),
                ("decision", "approve"),
            ]),
            vec![],
            StatusCode::FORBIDDEN,
        ),
        (
            "a foreign Origin",
            good.clone(),
            vec![("origin", Some("http://evil.example"))],
            StatusCode::FORBIDDEN,
        ),
        (
            "Origin null",
            good.clone(),
            vec![("origin", Some("null"))],
            StatusCode::FORBIDDEN,
        ),
        (
            "no Origin",
            good.clone(),
            vec![("origin", None)],
            StatusCode::FORBIDDEN,
        ),
        (
            "cross-site",
            good.clone(),
            vec![("sec-fetch-site", Some("cross-site"))],
            StatusCode::FORBIDDEN,
        ),
        (
            "same-site",
            good.clone(),
            vec![("sec-fetch-site", Some("same-site"))],
            StatusCode::FORBIDDEN,
        ),
        (
            "no Sec-Fetch-Site (a rebinding page sends none)",
            good.clone(),
            vec![("sec-fetch-site", None)],
            StatusCode::FORBIDDEN,
        ),
        (
            "a foreign Host",
            good.clone(),
            vec![
                ("host", Some("evil.example")),
                ("origin", Some("http://evil.example")),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            "no reason",
            form(&[("csrf", &token), ("reason", "  "), ("decision", "approve")]),
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "no decision",
            form(&[("csrf", &token), ("reason", "x"), ("decision", "maybe")]),
            vec![],
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (what, body, headers, status) in refused {
        let res = post(&u, &decide, Some(&cookie), &body, &headers).await;
        assert_eq!(res.status(), status, "{what}");
        // Host and a present Origin are the HTTP guard's (a JSON refusal); the rest the console's page.
        let guard = what.contains("Host") || what.contains("Origin") && !what.starts_with("no ");
        if !guard {
            assert_eq!(
                res.headers()
                    .get("content-security-policy")
                    .map(|v| v.to_str().unwrap()),
                Some(CSP),
                "{what}"
            );
        }
        assert_eq!(
            db_digest_except(&db, &["meta"]),
            before,
            "{what} changed the store"
        );
    }
    // Without the session cookie, the right form is refused too.
    let res = post(&u, &decide, None, &good, &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(db_digest_except(&db, &["meta"]), before);

    // The real decision: the rollback runs, recorded as alice on the console channel.
    let res = post(&u, &decide, Some(&cookie), &good, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let next = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(next, format!("/console/approvals?decided={aid}"));
    let html = page(&u, &next, Some(&cookie)).await;
    assert!(
        html.contains(&format!(
            "Approval #{aid} is <strong>approved</strong> by alice via console"
        )),
        "{}",
        between(&html, "<main", "</section>")
    );
    assert!(html.contains("is now <strong>ROLLED_BACK</strong>"));
    let app = &site.seeded.app;
    let events = app.audit_events(Some("checkout"), None, 10).unwrap();
    let approve = events
        .iter()
        .find(|e| e.action == "approve")
        .expect("the approve event");
    assert_eq!(
        (approve.actor_kind.as_str(), approve.actor.as_str()),
        ("human", "alice")
    );
    assert_eq!(approve.reason.as_deref(), Some("the canary errs 5x"));
    let args: serde_json::Value = serde_json::from_str(&approve.args).unwrap();
    assert_eq!(args["via"], "console");
    let audit = page(&u, "/console/audit?action=approve", Some(&cookie)).await;
    assert!(audit.contains("<td>human:alice</td><td>approve</td>"));
    assert!(audit.contains("<td class=\"channel\">console</td>"));
    let rollout = page(&u, &format!("/console/rollouts/{rid}"), Some(&cookie)).await;
    assert!(rollout.contains("id=\"rollout-state\">ROLLED_BACK<"));
    // Deciding twice is a conflict, shown as such, recorded as a refusal and changing nothing else.
    let after = common::before_serving(&db);
    let res = post(&u, &decide, Some(&cookie), &good, &[]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("already approved"));
    after.assert_only_refusals_recorded(&db);

    // Logging out ends the session.
    let res = post(
        &u,
        "/console/logout",
        Some(&cookie),
        &form(&[("csrf", &token)]),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        get(&u, "/console/approvals", Some(&cookie)).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_when_its_token_is_removed_and_the_server_restarts() {
    let site = Site::new();
    let s = site.serve(Some(&tokens()));
    let cookie = login(&s.url, HUMAN).await;
    page(&s.url, "/console/flags", Some(&cookie)).await;
    assert!(s.stop().success());
    // Restarted with alice's token removed: the cookie opens nothing, and alice cannot log in.
    let s = site.serve(Some(&format!("agent:bot={AGENT}")));
    let res = get(&s.url, "/console/flags", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/console/login");
    let res = post(
        &s.url,
        "/console/login",
        None,
        &form(&[("token", HUMAN)]),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(s.stop().success());
    // Even with the token back, a restart forgot every session: log in again.
    let s = site.serve(Some(&tokens()));
    assert_eq!(
        get(&s.url, "/console/flags", Some(&cookie)).await.status(),
        StatusCode::SEE_OTHER
    );
    login(&s.url, HUMAN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tokens_the_console_is_read_only_and_says_how_to_enable_decisions() {
    let site = Site::new();
    let (rid, aid) = site.rollout();
    let db = site.db();
    let s = site.serve(None);
    for path in [
        "/console/approvals".to_owned(),
        format!("/console/rollouts/{rid}"),
        "/console/rollouts".into(),
        "/console/flags".into(),
        "/console/audit".into(),
        "/console/policy".into(),
        "/console/login".into(),
    ] {
        let html = page(&s.url, &path, None).await;
        assert!(html.contains("Read only."), "{path}");
        assert!(html.contains("flagwarden token new"), "{path}");
        assert!(
            !html.contains("<form method=\"post\"") && !html.contains("class=\"decide\""),
            "{path} offers no decision"
        );
    }
    let before = db_digest_except(&db, &["meta"]);
    let res = post(
        &s.url,
        &format!("/console/approvals/{aid}/decide"),
        None,
        &form(&[("csrf", ""), ("reason", "x"), ("decision", "approve")]),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("read only"));
    assert_eq!(db_digest_except(&db, &["meta"]), before);
    // The assets and the live probe carry the same headers; the probe gives the audit sequence.
    for path in ["/console/style.css", "/console/live.js", "/console/live"] {
        let res = get(&s.url, path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.headers()["content-security-policy"], CSP);
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert_eq!(res.headers()["cache-control"], "no-store");
    }
    let seq: i64 = get(&s.url, "/console/live", None)
        .await
        .text()
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(seq, site.seeded.app.last_audit_seq().unwrap());
    // An unknown rollout is a 404 page with the headers, not a panic.
    let res = get(&s.url, "/console/rollouts/999", None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.headers()["content-security-policy"], CSP);
    let res = get(&s.url, "/console/rollouts/abc", None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
