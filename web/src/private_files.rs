//! Files only the service's own user may read. The data directory holds the database
//! (password hashes, sessions, key digests) and mail with live reset and invitation links,
//! so directories are made 0700 and files 0600: set explicitly, whatever the umask, and
//! tightened at start on what an older version left readable.

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use tokio::io::AsyncWriteExt;

/// Creates `dir` (with missing parents) as 0700, or makes an existing one so.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    fs::set_permissions(dir, Permissions::from_mode(0o700))
}

/// Makes `file` 0600, if there is one.
pub fn tighten(file: &Path) -> io::Result<()> {
    match fs::set_permissions(file, Permissions::from_mode(0o600)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        done => done,
    }
}

/// Creates `file` as 0600, before anything else may open it, unless it exists.
pub fn create_private(file: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(file)
        .map(drop)
}

/// Writes a new file `file` as 0600; fails if it exists.
pub async fn write_private(file: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut out = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .await?;
    out.write_all(bytes).await?;
    out.flush().await
}
