//! The operator's settings file: `KEY=value` lines (`DYN53_DATA_DIR=/srv/dyn53`, …) read
//! before the command line, so that `serve` and the operator commands, run from any
//! directory, agree on where the data is. The environment wins over the file.

use std::path::PathBuf;

use anyhow::Context;

/// The file looked for when `DYN53_CONFIG` is unset.
const LOCAL_FILE: &str = "dyn53.env";

/// Reads the file named by `DYN53_CONFIG`, else `./dyn53.env` when there is one, into the
/// environment; says which it read. Runs before any thread starts.
pub fn load() -> anyhow::Result<Option<PathBuf>> {
    let path = match std::env::var_os("DYN53_CONFIG").filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None if std::path::Path::new(LOCAL_FILE).exists() => PathBuf::from(LOCAL_FILE),
        None => return Ok(None),
    };
    dotenvy::from_path(&path)
        .with_context(|| format!("reading the settings file {}", path.display()))?;
    Ok(Some(path))
}
