//! The page shell every console page shares: the document head (the embedded stylesheet and the one
//! same-origin script), the navigation, who is logged in and how to log out, the read-only notice,
//! and when the page was rendered. Also the refusal page a bad POST gets.

use maud::{DOCTYPE, Markup, html};

use super::session::Person;

/// Who sees a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// A logged-in person, who may decide.
    Person(Person),
    /// No tokens configured, on loopback: anyone on this machine may look, nobody may decide.
    ReadOnly,
}

impl Viewer {
    pub fn person(&self) -> Option<&Person> {
        match self {
            Viewer::Person(p) => Some(p),
            Viewer::ReadOnly => None,
        }
    }
}

/// Which navigation entry a page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Approvals,
    Rollouts,
    Flags,
    Audit,
    Policy,
    Login,
}

/// How a page refreshes itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// `live.js` polls the audit sequence and reloads when it moved and no field is being typed in;
    /// with scripts off the page says to reload it by hand (a meta refresh would lose typed text).
    KeepTyping,
    /// As above, and with scripts off a meta refresh every 10 s (the page has no form to lose).
    Always,
    Never,
}

pub struct Page<'a> {
    pub title: &'a str,
    pub nav: Nav,
    pub viewer: Option<&'a Viewer>,
    pub rendered_at: &'a str,
    /// The newest audit sequence when rendered: `live.js` reloads once it moves.
    pub seq: i64,
    pub refresh: Refresh,
}

const HOW_TO_ENABLE: &str = "make a human token with `flagwarden token new --name YOU --role human`, \
     put its line in the tokens file, restart `flagwarden serve`, and log in here";

pub fn page(p: &Page, body: Markup) -> Markup {
    let nav = |n: Nav, href: &str, text: &str| {
        html! {
            li { a href=(href) aria-current=[(p.nav == n).then_some("page")] { (text) } }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (p.title) " · flagwarden" }
                link rel="stylesheet" href="/console/style.css";
                @if p.refresh != Refresh::Never {
                    script src="/console/live.js" defer {}
                }
                @if p.refresh == Refresh::Always {
                    noscript { meta http-equiv="refresh" content="10"; }
                }
            }
            body data-seq=(p.seq) data-live=[(p.refresh != Refresh::Never).then_some("/console/live")] {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "flagwarden" }
                    @if p.viewer.is_some() {
                        nav aria-label="Console" {
                            ul {
                                (nav(Nav::Approvals, "/console/approvals", "Approvals"))
                                (nav(Nav::Rollouts, "/console/rollouts", "Rollouts"))
                                (nav(Nav::Flags, "/console/flags", "Flags"))
                                (nav(Nav::Audit, "/console/audit", "Audit"))
                                (nav(Nav::Policy, "/console/policy", "Policy"))
                            }
                        }
                    }
                    @match p.viewer {
                        Some(Viewer::Person(person)) => {
                            form.logout method="post" action="/console/logout" {
                                span { "Signed in as " strong { (person.name) } }
                                input type="hidden" name="csrf" value=(person.csrf);
                                button type="submit" { "Log out" }
                            }
                        }
                        _ => {}
                    }
                }
                @if p.viewer == Some(&Viewer::ReadOnly) {
                    p.notice role="note" {
                        strong { "Read only." }
                        " This server runs without tokens, so nobody can decide here. To enable decisions, "
                        (HOW_TO_ENABLE) "."
                    }
                }
                main id="main" {
                    (body)
                }
                footer {
                    p {
                        "Rendered at " time datetime=(p.rendered_at) { (p.rendered_at) } ". "
                        @match p.refresh {
                            Refresh::Never => {}
                            Refresh::KeepTyping => {
                                "It reloads by itself when something changes, unless you are typing. "
                                noscript { "With scripts off, " a href="" { "reload" } " to see new requests." }
                            }
                            Refresh::Always => {
                                "It reloads by itself when something changes. "
                            }
                        }
                    }
                }
            }
        }
    }
}

/// How to turn decisions on, for the login page of a server without tokens.
pub fn how_to_enable() -> &'static str {
    HOW_TO_ENABLE
}

/// The page a refused or failed request gets: what happened and what to do.
pub fn problem(title: &str, message: &str, back: &str, rendered_at: &str) -> Markup {
    page(
        &Page {
            title,
            nav: Nav::Approvals,
            viewer: None,
            rendered_at,
            seq: 0,
            refresh: Refresh::Never,
        },
        html! {
            h1 { (title) }
            p.error role="alert" { (message) }
            p { "Nothing was changed. " a href=(back) { "Go back" } }
        },
    )
}
