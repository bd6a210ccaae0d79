//! Signal batches: any bytes go through the ingest endpoint's parse (`parse_signal_batch`), and a
//! batch it accepts goes to `App::ingest_signals` on a world with a running canary. No panic, no store
//! error; a refused batch changes nothing; a retried batch counts nothing twice.

use super::super::World;
use flagwarden::domain::policy::Actor;
use flagwarden::http::parse_signal_batch;

/// One input: panics on a broken invariant, like the fuzz target it serves.
pub fn run(data: &[u8]) {
    let Ok(mut batch) = parse_signal_batch(data) else {
        return;
    };
    // The endpoint fills a missing environment from the caller's token.
    batch
        .environment
        .get_or_insert_with(|| "development".into());
    let world = World::new();
    let app = Actor::App("fuzz-app".into());
    let before = world.dump();
    let first = world.app.ingest_signals(&app, &batch);
    world.check("ingest_signals", &before, false, &first);
    if first.is_ok() {
        let after = world.dump();
        let again = world.app.ingest_signals(&app, &batch);
        assert!(again.is_ok(), "a retried batch was refused: {again:?}");
        assert_eq!(after, world.dump(), "a retried batch counted again");
    }
}
