//! Seeds a project directory for the console's browser test (scripts/console-browser.sh): the same
//! store tests/console.rs renders (a stale flag, rollouts with a day of looks each, a proposed
//! rollback per rollout). Prints what it made as JSON: the rollouts and the clock to serve at.
//!
//! cargo run --example console_seed -- DIR [ROLLOUTS] [EXTRA_FLAGS]

#[path = "../tests/common/console_seed.rs"]
mod seed;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(
        args.next()
            .expect("usage: console_seed DIR [ROLLOUTS] [EXTRA_FLAGS]"),
    );
    let rollouts = args
        .next()
        .map_or(1, |n| n.parse().expect("ROLLOUTS is a number"));
    let extra = args
        .next()
        .map_or(0, |n| n.parse().expect("EXTRA_FLAGS is a number"));
    std::fs::create_dir_all(&dir).expect("make the directory");
    let s = seed::seed(&dir, rollouts, extra);
    let rollouts: Vec<_> = s
        .rollouts
        .iter()
        .map(|(flag, rollout, approval)| serde_json::json!({"flag": flag, "rollout": rollout, "approval": approval}))
        .collect();
    println!(
        "{}",
        serde_json::json!({"now": s.now, "rollouts": rollouts})
    );
}
