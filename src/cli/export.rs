//! `flagwarden export flagd --env E [--out FILE]`: an environment's flagd flag definitions
//! (`App::flagd_definition`), for flagd's file sync or an in-process provider's offline file. With
//! `--out` the file is replaced atomically (written beside it, flushed, renamed over it), so a flagd
//! watching it never reads half a document; without, the document goes to stdout.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use super::Cli;

pub(super) fn flagd(cli: &Cli, env: &str, out: Option<&Path>) -> Result<()> {
    let app = cli.open_app()?;
    let doc = app.flagd_definition(env)?;
    match out {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(doc.json.as_bytes())?;
            stdout.write_all(b"\n")?;
        }
        Some(path) => {
            write_atomically(path, doc.json.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote {} ({} bytes, audit seq {}, etag {})",
                path.display(),
                doc.json.len(),
                doc.seq,
                doc.etag
            );
        }
    }
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "flags.json".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
