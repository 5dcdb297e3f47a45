//! The node's own copy of its data, in its data directory, so that a node restarted while
//! Redis is unreachable serves the last data it knew at once, and a node restarted while
//! Redis is fine catches up from the log instead of reloading everything.
//!
//! Two files: `node-copy` holds a snapshot, `node-journal` the batches applied after it, one
//! line each. When the journal outgrows the copy, a background thread folds it into a new copy
//! (streaming, so the whole data is never held twice in memory). Nothing is fsynced but the
//! new copy before it replaces the old one: this is a cache of the feed, and a journal that
//! lost its tail in a crash only means the node catches up from an earlier revision.
//!
//! Format (text, one record per line):
//! - copy: `dyn53-node-copy 1 <revision>`, then per zone `Z <ZoneData JSON>` followed by its
//!   hosts, `H <name> <HostRecords JSON>`;
//! - journal: `<revision> <changes JSON>`.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tracing::{info, warn};

use crate::feed::{
    Batch, Feed, FeedError, HostRecords, Revision, Snapshot, ZoneData, ZoneSnapshot,
};
use crate::squash::Squashed;

const HEADER: &str = "dyn53-node-copy 1";
/// The journal is folded into the copy once it is larger than the copy and at least this.
const MIN_FOLD_BYTES: u64 = 16 << 20;

/// The files of a node's local copy.
pub struct LocalCopy {
    dir: PathBuf,
    /// Whoever rewrites the copy file holds this.
    rewriting: Mutex<()>,
    journal: Mutex<Journal>,
}

struct Journal {
    file: Option<BufWriter<File>>,
    /// The revision the copy plus the journal reach; `None` while there is no copy.
    revision: Option<Revision>,
    bytes: u64,
    copy_bytes: u64,
    folding: bool,
}

impl LocalCopy {
    pub fn open(dir: &Path) -> io::Result<Arc<Self>> {
        fs::create_dir_all(dir)?;
        let copy = Self {
            dir: dir.to_owned(),
            rewriting: Mutex::new(()),
            journal: Mutex::new(Journal {
                file: None,
                revision: None,
                bytes: 0,
                copy_bytes: 0,
                folding: false,
            }),
        };
        Ok(Arc::new(copy))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The saved snapshot and the batches that follow it, if there is a copy. A journal's
    /// torn last line (a crash mid-write) ends it.
    pub fn read(&self) -> io::Result<Option<(Snapshot, Vec<Batch>)>> {
        let _rewriting = lock(&self.rewriting);
        let Some(snapshot) = read_copy(&self.path("node-copy"))? else {
            return Ok(None);
        };
        let mut batches = Vec::new();
        let mut revision = snapshot.revision;
        for name in ["node-journal.old", "node-journal"] {
            for batch in read_journal(&self.path(name))? {
                if batch.revision == revision + 1 {
                    revision = batch.revision;
                    batches.push(batch);
                }
            }
        }
        // Appends continue from here, in a journal rewritten without a torn tail.
        let new = self.path("node-journal.new");
        let mut out = BufWriter::new(File::create(&new)?);
        for batch in &batches {
            write_batch(&mut out, batch)?;
        }
        out.flush()?;
        fs::rename(&new, self.path("node-journal"))?;
        remove_if_there(&self.path("node-journal.old"))?;
        let mut journal = lock(&self.journal);
        journal.revision = Some(revision);
        journal.copy_bytes = file_len(&self.path("node-copy"));
        journal.bytes = file_len(&self.path("node-journal"));
        Ok(Some((snapshot, batches)))
    }

    /// Makes `snapshot` the copy and empties the journal.
    pub fn replace(&self, snapshot: &Snapshot) -> io::Result<()> {
        let _rewriting = lock(&self.rewriting);
        let bytes = write_copy(&self.dir, |out| {
            writeln!(out, "{HEADER} {}", snapshot.revision)?;
            for zs in &snapshot.zones {
                write_zone(out, &zs.zone)?;
                for host in &zs.hosts {
                    write_host(out, host)?;
                }
            }
            Ok(())
        })?;
        remove_if_there(&self.path("node-journal.old"))?;
        let mut journal = lock(&self.journal);
        journal.file = Some(BufWriter::new(File::create(self.path("node-journal"))?));
        journal.revision = Some(snapshot.revision);
        journal.bytes = 0;
        journal.copy_bytes = bytes;
        Ok(())
    }

    /// Appends the batches that continue the copy (others are left to a snapshot reload).
    /// `true` when the journal should now be folded into the copy.
    pub fn append(&self, batches: &[Batch]) -> io::Result<bool> {
        let mut journal = lock(&self.journal);
        let Some(mut revision) = journal.revision else {
            return Ok(false);
        };
        if journal.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.path("node-journal"))?;
            journal.file = Some(BufWriter::new(file));
        }
        let mut written = 0;
        if let Some(out) = journal.file.as_mut() {
            for batch in batches {
                if batch.revision <= revision {
                    continue;
                }
                if batch.revision != revision + 1 {
                    break;
                }
                written += write_batch(out, batch)?;
                revision = batch.revision;
            }
            out.flush()?;
        }
        journal.revision = Some(revision);
        journal.bytes += written;
        let fold = !journal.folding && journal.bytes > journal.copy_bytes.max(MIN_FOLD_BYTES);
        if fold {
            journal.folding = true;
        }
        Ok(fold)
    }

    /// Folds the journal into a new copy. Appends go on meanwhile, into a fresh journal.
    pub fn fold(&self) -> io::Result<()> {
        let result = self.fold_inner();
        lock(&self.journal).folding = false;
        result
    }

    fn fold_inner(&self) -> io::Result<()> {
        let _rewriting = lock(&self.rewriting);
        let (journal_path, old_path) = (self.path("node-journal"), self.path("node-journal.old"));
        {
            let mut journal = lock(&self.journal);
            if let Some(mut file) = journal.file.take() {
                file.flush()?;
            }
            // A fold interrupted by a crash left an old journal: it comes first.
            if old_path.exists() {
                let mut old = OpenOptions::new().append(true).open(&old_path)?;
                io::copy(&mut File::open(&journal_path)?, &mut old)?;
                fs::remove_file(&journal_path)?;
            } else {
                fs::rename(&journal_path, &old_path)?;
            }
            journal.bytes = 0;
        }
        let copy_path = self.path("node-copy");
        let mut input = BufReader::new(File::open(&copy_path)?);
        let Some(mut revision) = read_header(&mut input)? else {
            return Err(io::Error::other("the local copy has no header"));
        };
        let mut squashed = Squashed::default();
        for batch in read_journal(&old_path)? {
            if batch.revision == revision + 1 {
                revision = batch.revision;
                squashed.add(&batch);
            }
        }
        let bytes = write_copy(&self.dir, |out| {
            writeln!(out, "{HEADER} {revision}")?;
            let mut seen = HashSet::new();
            // The zone whose hosts follow, as it is now (`None`: deleted).
            let mut current: Option<(String, bool)> = None;
            // After a zone's old hosts: the ones the journal created or replaced.
            let finish = |out: &mut BufWriter<File>, zone: Option<(String, bool)>| match zone {
                Some((name, true)) => squashed
                    .new_hosts(&name)
                    .try_for_each(|h| write_host(out, h)),
                _ => Ok(()),
            };
            let mut line = String::new();
            while read_line(&mut input, &mut line)? {
                if let Some(json) = line.strip_prefix("Z ") {
                    finish(out, current.take())?;
                    let old: ZoneData = serde_json::from_str(json).map_err(io::Error::other)?;
                    let name = old.name.clone();
                    seen.insert(name.clone());
                    let kept = squashed.zone_data(old);
                    if let Some(zone) = &kept {
                        write_zone(out, zone)?;
                    }
                    current = Some((name, kept.is_some()));
                } else if let Some(rest) = line.strip_prefix("H ") {
                    let name = rest.split(' ').next().unwrap_or_default();
                    if let Some((zone, true)) = &current
                        && squashed.keeps_host(zone, name)
                    {
                        writeln!(out, "{line}")?;
                    }
                }
            }
            finish(out, current.take())?;
            for zone in squashed.new_zones(&seen) {
                write_zone(out, zone)?;
                finish(out, Some((zone.name.clone(), true)))?;
            }
            Ok(())
        })?;
        fs::remove_file(&old_path)?;
        lock(&self.journal).copy_bytes = bytes;
        info!(revision, bytes, "local copy folded");
        Ok(())
    }
}

/// A feed whose snapshots and batches are also kept in a [`LocalCopy`].
pub struct Persisted<F> {
    inner: F,
    copy: Arc<LocalCopy>,
}

impl<F> Persisted<F> {
    pub fn new(inner: F, copy: Arc<LocalCopy>) -> Self {
        Self { inner, copy }
    }
}

impl<F: Feed> Feed for Persisted<F> {
    async fn snapshot(&self) -> Result<Snapshot, FeedError> {
        let snapshot = self.inner.snapshot().await?;
        let copy = self.copy.clone();
        // Writing a large copy takes a while: not on the runtime's workers.
        let saved = tokio::task::spawn_blocking(move || {
            let result = copy.replace(&snapshot);
            (snapshot, result)
        })
        .await;
        match saved {
            Ok((snapshot, result)) => {
                if let Err(error) = result {
                    warn!(%error, "cannot save the local copy");
                }
                Ok(snapshot)
            }
            Err(error) => Err(FeedError::Unavailable(format!("saving the copy: {error}"))),
        }
    }

    async fn next(&self, after: Revision) -> Result<Vec<Batch>, FeedError> {
        let batches = self.inner.next(after).await?;
        match self.copy.append(&batches) {
            Ok(true) => {
                let copy = self.copy.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(error) = copy.fold() {
                        warn!(%error, "cannot fold the local journal");
                    }
                });
            }
            Ok(false) => {}
            Err(error) => warn!(%error, "cannot append to the local journal"),
        }
        Ok(batches)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes a new copy beside the old one, then replaces it. Returns its size.
fn write_copy(
    dir: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<u64> {
    let new = dir.join("node-copy.new");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&new)?);
    fill(&mut out)?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    let bytes = file.metadata()?.len();
    fs::rename(&new, dir.join("node-copy"))?;
    Ok(bytes)
}

fn write_zone(out: &mut impl Write, zone: &ZoneData) -> io::Result<()> {
    let json = serde_json::to_string(zone).map_err(io::Error::other)?;
    writeln!(out, "Z {json}")
}

fn write_host(out: &mut impl Write, host: &HostRecords) -> io::Result<()> {
    let json = serde_json::to_string(host).map_err(io::Error::other)?;
    writeln!(out, "H {} {json}", host.name)
}

/// Writes a journal line; returns its length.
fn write_batch(out: &mut impl Write, batch: &Batch) -> io::Result<u64> {
    let changes = serde_json::to_string(&batch.changes).map_err(io::Error::other)?;
    let line = format!("{} {changes}\n", batch.revision);
    out.write_all(line.as_bytes())?;
    Ok(line.len() as u64)
}

/// Reads one line without its newline; `false` at the end or at a torn last line.
fn read_line(input: &mut impl BufRead, line: &mut String) -> io::Result<bool> {
    line.clear();
    if input.read_line(line)? == 0 || !line.ends_with('\n') {
        return Ok(false);
    }
    line.pop();
    Ok(true)
}

fn read_header(input: &mut impl BufRead) -> io::Result<Option<Revision>> {
    let mut line = String::new();
    if !read_line(input, &mut line)? {
        return Ok(None);
    }
    Ok(line
        .strip_prefix(HEADER)
        .and_then(|rest| rest.trim().parse().ok()))
}

fn read_copy(path: &Path) -> io::Result<Option<Snapshot>> {
    let mut input = match File::open(path) {
        Ok(file) => BufReader::with_capacity(1 << 20, file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(revision) = read_header(&mut input)? else {
        warn!(path = %path.display(), "local copy without a header: ignored");
        return Ok(None);
    };
    let mut zones: Vec<ZoneSnapshot> = Vec::new();
    let mut line = String::new();
    while read_line(&mut input, &mut line)? {
        let parsed = if let Some(json) = line.strip_prefix("Z ") {
            serde_json::from_str(json).map(|zone| {
                zones.push(ZoneSnapshot {
                    zone,
                    hosts: Vec::new(),
                });
            })
        } else if let Some((_, json)) = line.strip_prefix("H ").and_then(|r| r.split_once(' ')) {
            serde_json::from_str(json).map(|host| {
                if let Some(zone) = zones.last_mut() {
                    zone.hosts.push(host);
                }
            })
        } else {
            Ok(())
        };
        if let Err(error) = parsed {
            warn!(%error, path = %path.display(), "local copy is damaged: ignored");
            return Ok(None);
        }
    }
    Ok(Some(Snapshot { revision, zones }))
}

fn read_journal(path: &Path) -> io::Result<Vec<Batch>> {
    let mut input = match File::open(path) {
        Ok(file) => BufReader::new(file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut batches = Vec::new();
    let mut line = String::new();
    while read_line(&mut input, &mut line)? {
        let parsed = line.split_once(' ').and_then(|(revision, json)| {
            Some(Batch {
                revision: revision.parse().ok()?,
                changes: serde_json::from_str(json).ok()?,
            })
        });
        match parsed {
            Some(batch) => batches.push(batch),
            None => break,
        }
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::feed::Change;
    use crate::fixtures;

    fn zone(name: &str) -> ZoneData {
        fixtures::zone_data(name)
    }

    fn host(name: &str, last_octet: u8) -> HostRecords {
        fixtures::host(name, [192, 0, 2, last_octet])
    }

    fn upsert(revision: Revision, name: &str, last_octet: u8) -> Batch {
        Batch {
            revision,
            changes: vec![Change::HostUpsert {
                zone: "a.test".into(),
                host: host(name, last_octet),
            }],
        }
    }

    /// Zone names with their hosts' names and addresses, sorted.
    type State = Vec<(String, Vec<(String, Vec<std::net::Ipv4Addr>)>)>;

    /// Hosts by zone, sorted, to compare states.
    fn state(snapshot: &Snapshot, batches: &[Batch]) -> State {
        let zones = Squashed::new(batches).apply(snapshot.zones.clone());
        let mut out: Vec<_> = zones
            .into_iter()
            .map(|z| {
                let mut hosts: Vec<_> = z.hosts.into_iter().map(|h| (h.name, h.a)).collect();
                hosts.sort();
                (z.zone.name, hosts)
            })
            .collect();
        out.sort();
        out
    }

    fn start() -> (tempfile::TempDir, Arc<LocalCopy>, Snapshot) {
        let dir = tempfile::tempdir().expect("temp dir");
        let copy = LocalCopy::open(dir.path()).expect("open");
        let snapshot = Snapshot {
            revision: 10,
            zones: vec![
                ZoneSnapshot {
                    zone: zone("a.test"),
                    hosts: vec![host("x.a.test", 1), host("y.a.test", 1)],
                },
                ZoneSnapshot {
                    zone: zone("b.test"),
                    hosts: vec![host("z.b.test", 1)],
                },
            ],
        };
        copy.replace(&snapshot).expect("replace");
        (dir, copy, snapshot)
    }

    #[test]
    fn reads_back_the_copy_and_the_journal_that_continues_it() {
        let (dir, copy, snapshot) = start();
        let batches = [upsert(11, "x.a.test", 2), upsert(12, "new.a.test", 3)];
        copy.append(&batches[..1]).expect("append");
        // A duplicate and a batch after a gap are not journaled.
        copy.append(&[upsert(11, "x.a.test", 9), upsert(14, "gap.a.test", 9)])
            .expect("append");
        copy.append(&batches[1..]).expect("append");

        let reopened = LocalCopy::open(dir.path()).expect("open");
        let (read, journal) = reopened.read().expect("read").expect("a copy");
        assert_eq!(read.revision, 10);
        assert_eq!(
            journal.iter().map(|b| b.revision).collect::<Vec<_>>(),
            [11, 12]
        );
        assert_eq!(state(&read, &journal), state(&snapshot, &batches));
    }

    #[test]
    fn a_torn_journal_line_ends_the_journal() {
        let (dir, copy, _) = start();
        copy.append(&[upsert(11, "x.a.test", 2)]).expect("append");
        let mut journal = OpenOptions::new()
            .append(true)
            .open(dir.path().join("node-journal"))
            .expect("journal");
        journal.write_all(b"12 [{\"op\":\"host_up").expect("write");
        drop(journal);
        let reopened = LocalCopy::open(dir.path()).expect("open");
        let (_, batches) = reopened.read().expect("read").expect("a copy");
        assert_eq!(batches.len(), 1);
        // Appends continue after the good part.
        reopened
            .append(&[upsert(12, "y.a.test", 5)])
            .expect("append");
        let (_, batches) = LocalCopy::open(dir.path())
            .expect("open")
            .read()
            .expect("read")
            .expect("copy");
        assert_eq!(
            batches.iter().map(|b| b.revision).collect::<Vec<_>>(),
            [11, 12]
        );
    }

    #[test]
    fn folding_gives_the_same_state_as_replaying() {
        let (dir, copy, snapshot) = start();
        let batches = vec![
            upsert(11, "x.a.test", 2),
            Batch {
                revision: 12,
                changes: vec![
                    Change::HostDelete {
                        zone: "a.test".into(),
                        name: "y.a.test".into(),
                    },
                    Change::ZoneDelete {
                        zone: "b.test".into(),
                    },
                    Change::ZoneUpsert(zone("c.test")),
                    Change::HostUpsert {
                        zone: "c.test".into(),
                        host: host("w.c.test", 4),
                    },
                ],
            },
        ];
        copy.append(&batches).expect("append");
        copy.fold().expect("fold");
        let (folded, rest) = LocalCopy::open(dir.path())
            .expect("open")
            .read()
            .expect("read")
            .expect("copy");
        assert_eq!(folded.revision, 12);
        assert!(rest.is_empty());
        assert_eq!(state(&folded, &[]), state(&snapshot, &batches));

        // Appends after a fold continue the new journal.
        copy.append(&[upsert(13, "x.a.test", 7)]).expect("append");
        let (again, rest) = LocalCopy::open(dir.path())
            .expect("open")
            .read()
            .expect("read")
            .expect("copy");
        assert_eq!((again.revision, rest.len()), (12, 1));
    }
}
