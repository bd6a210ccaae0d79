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
    if let Err(e) = flagwarden::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
