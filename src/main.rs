//! The `flagwarden` binary: parses the command line and runs it; errors print their chain and exit 2.

use std::io::IsTerminal;

use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLAGWARDEN_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = flagwarden::cli::Cli::parse();
    if cli.command.is_one_shot() {
        restore_sigpipe();
    }
    if let Err(e) = flagwarden::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}

/// Rust starts with SIGPIPE ignored, so printing to a closed pipe (`flagwarden audit --json | head`)
/// fails inside println!, which panics. A one-shot command takes the signal's default action instead
/// and ends quietly, like any Unix tool. The servers keep ignoring it: a peer that goes away is an
/// error they handle, never a reason to die.
fn restore_sigpipe() {
    // SAFETY: called once at start, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
