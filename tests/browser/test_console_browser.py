"""The console in a real browser: Debian's chromium driven by Playwright (its bundled browser is never
downloaded; `executable_path` points at /usr/bin/chromium). A store seeded by examples/console_seed.rs
(a day of looks and a proposed rollback), the real `flagwarden serve` on 127.0.0.1 with a human token:
log in, find the proposal, read its reason and chart, keep a half-typed reason through a refresh,
approve with a reason, see ROLLED_BACK and the audit event naming the person and the console channel.
Every page gets a screenshot (CONSOLE_SHOTS) and an axe-core run (no serious or critical violation),
and the browser reports no Content-Security-Policy violation anywhere.

Run by scripts/console-browser.sh, which installs chromium, playwright and axe-core first.
"""

import json
import os
import subprocess
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

BIN = os.environ["FLAGWARDEN_BIN"]
SEED = os.environ["FLAGWARDEN_SEED_BIN"]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
AXE = Path(os.environ["AXE_JS"]).read_text()
SHOTS = Path(os.environ.get("CONSOLE_SHOTS", "target/console-shots"))
README_SHOT = os.environ.get("README_SHOT")

HUMAN = "fw_browser_human_token_0123456789"
AGENT = "fw_browser_agent_token_0123456789"
INGEST = "fw_browser_ingest_token_012345678"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Collects CSP violations the page itself sees (Playwright's init scripts are not subject to the CSP).
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def serve(project: Path, clock: Path):
    env = dict(os.environ)
    env.pop("FLAGWARDEN_DB", None)
    env["FLAGWARDEN_CLOCK_FILE"] = str(clock)
    env["FLAGWARDEN_TOKENS"] = f"human:alice={HUMAN},agent:bot={AGENT},ingest:web@production={INGEST}"
    proc = subprocess.Popen(
        [BIN, "--policy", str(project / "flagwarden.toml"), "serve", "--listen", "127.0.0.1:0"],
        env=env,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("flagwarden serving "), line
    return proc, line.split()[-1]


def axe(page, name: str):
    page.evaluate(AXE)
    result = page.evaluate("axe.run(document)")
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: " + json.dumps(
        [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in bad], indent=1
    )
    return len(result["passes"])


def test_a_person_approves_a_proposed_rollback_in_chromium(tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    project = tmp_path / "project"
    seeded = json.loads(subprocess.check_output([SEED, str(project), "1"], text=True))
    rollout, approval = seeded["rollouts"][0]["rollout"], seeded["rollouts"][0]["approval"]
    clock = project / "now.txt"
    clock.write_text(seeded["now"])
    proc, url = serve(project, clock)
    console = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, timeout=60_000)
            ctx = browser.new_context(viewport={"width": 1100, "height": 900})
            ctx.add_init_script(WATCH_CSP)
            ctx.set_default_timeout(20_000)
            page = ctx.new_page()
            page.on("console", lambda m: console.append(m.text))

            # Log in with the human token.
            page.goto(f"{url}/console/approvals")
            expect(page).to_have_url(f"{url}/console/login")
            page.screenshot(path=SHOTS / "login.png", full_page=True)
            axe(page, "login")
            page.get_by_label("Human token").fill(HUMAN)
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(f"{url}/console/approvals")
            cookie = next(c for c in ctx.cookies() if c["name"] == "__Host-flagwarden")
            # Chromium keeps a Secure cookie set over plain http on 127.0.0.1 (a secure context).
            assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie

            # The pending rollback: what is asked, why, the verdict and the chart.
            card = page.locator(f"article#approval-{approval}")
            expect(card.locator("h3")).to_contain_text("Roll back checkout in production")
            expect(card.locator("dd.reason")).to_contain_text("error_rate: the canary is worse")
            expect(card.locator("p.verdict")).to_contain_text("ROLLBACK")
            chart = card.locator("svg.chart[data-metric=error_rate]")
            expect(chart).to_be_visible()
            assert chart.locator("g.look").count() == 49
            assert chart.locator("g.look.harm").count() >= 1
            page.screenshot(path=SHOTS / "approvals.png", full_page=True)
            if README_SHOT:
                page.screenshot(path=README_SHOT)
            axe(page, "approvals")

            # A half-typed reason survives new activity: the page notices and waits for the typing.
            reason = card.get_by_label("Your reason")
            reason.fill("error rate 5x control, rolling")
            body = json.dumps({
                "batch_id": "browser-1",
                "signals": [{"flag": "checkout", "arm": "canary", "exposures": 1, "requests": 1, "errors": 0}],
            }).encode()
            req = urllib.request.Request(
                f"{url}/api/v1/signals", data=body, method="POST",
                headers={"Authorization": f"Bearer {INGEST}", "Content-Type": "application/json"},
            )
            assert urllib.request.urlopen(req, timeout=10).status == 200
            page.wait_for_selector("body[data-stale]", state="attached", timeout=15_000)
            assert reason.input_value() == "error rate 5x control, rolling"

            # Approve with the reason: the rollout rolls back, recorded as alice on the console.
            reason.fill("error rate 5x control; rolling back")
            card.get_by_role("button", name="Approve").click()
            expect(page).to_have_url(f"{url}/console/approvals?decided={approval}")
            done = page.locator("p.done")
            expect(done).to_contain_text(f"Approval #{approval} is approved by alice via console")
            expect(done).to_contain_text("ROLLED_BACK")
            page.screenshot(path=SHOTS / "approvals-decided.png", full_page=True)

            page.goto(f"{url}/console/rollouts/{rollout}")
            expect(page.locator("#rollout-state")).to_have_text("ROLLED_BACK")
            page.screenshot(path=SHOTS / "rollout.png", full_page=True)
            axe(page, "rollout")

            page.goto(f"{url}/console/audit?action=approve")
            row = page.locator("table.audit tbody tr").first
            expect(row).to_contain_text("human:alice")
            expect(row).to_contain_text("error rate 5x control; rolling back")
            expect(row.locator("td.channel")).to_have_text("console")
            page.screenshot(path=SHOTS / "audit.png", full_page=True)
            axe(page, "audit")

            for name in ["rollouts", "flags", "policy"]:
                page.goto(f"{url}/console/{name}")
                expect(page.locator("main h1")).to_be_visible()
                page.screenshot(path=SHOTS / f"{name}.png", full_page=True)
                axe(page, name)

            # Keyboard only: the skip link, then the navigation.
            page.goto(f"{url}/console/flags")
            page.keyboard.press("Tab")
            expect(page.locator("a.skip")).to_be_focused()

            # 375 px wide and in the dark scheme: no horizontal page scroll, still no violation.
            for scheme in ["light", "dark"]:
                small = browser.new_context(viewport={"width": 375, "height": 800}, color_scheme=scheme)
                small.add_init_script(WATCH_CSP)
                small.add_cookies([{**cookie}])
                sp = small.new_page()
                sp.on("console", lambda m: console.append(m.text))
                for path in [f"rollouts/{rollout}", "approvals", "audit"]:
                    sp.goto(f"{url}/console/{path}")
                    wide = sp.evaluate("document.documentElement.scrollWidth")
                    assert wide <= 375, f"{path} at 375 px is {wide} px wide"
                    sp.screenshot(path=SHOTS / f"{path.replace('/', '-')}-375-{scheme}.png", full_page=True)
                    axe(sp, f"{path} 375 {scheme}")
                    assert sp.evaluate("window.__csp") == [], path
                small.close()

            assert page.evaluate("window.__csp") == []
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    violations = [m for m in console if "Content Security Policy" in m or "Refused to" in m]
    assert not violations, violations
