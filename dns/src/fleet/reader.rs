//! Reading the feed on a node: the current copy as a snapshot, then the log.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use redis::{AsyncCommands, RedisResult};

use super::{BATCH_FIELD, Keys, Meta, corrupt, json_error, read_meta};
use crate::feed::{
    Batch, Feed, FeedError, HostRecords, Revision, Snapshot, ZoneData, ZoneSnapshot,
};
use crate::squash::Squashed;

/// How long one blocking read of the log waits (the follower checks for shutdown between).
const BLOCK: Duration = Duration::from_secs(1);
/// Log entries read at once.
const READ_COUNT: usize = 1_000;
/// Hosts asked for per `HSCAN` call while loading a copy.
const SCAN_COUNT: usize = 10_000;
/// A copy that keeps changing under the reader is read again this many times at most.
const LOAD_ATTEMPTS: usize = 5;

/// A hash field and its value, as `HSCAN` pages them.
type Field = (Vec<u8>, Vec<u8>);

/// A node's view of the fleet feed.
pub struct RedisFeed {
    /// Only for the blocking log read: a blocked command holds up the commands queued
    /// behind it on the same connection.
    log_conn: ConnectionManager,
    conn: ConnectionManager,
    keys: Keys,
    /// The copy being followed; `None` until one is seen.
    epoch: Mutex<Option<String>>,
}

impl RedisFeed {
    /// Connects lazily: a node starts, and serves its local copy, while Redis is down.
    pub fn new(url: &str, keys: Keys) -> RedisResult<Self> {
        Ok(Self {
            log_conn: super::connect(url, BLOCK + Duration::from_secs(2))?,
            conn: super::connect(url, Duration::from_secs(5))?,
            keys,
            epoch: Mutex::new(None),
        })
    }

    fn epoch(&self) -> Option<String> {
        self.epoch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_epoch(&self, epoch: Option<String>) {
        *self.epoch.lock().unwrap_or_else(PoisonError::into_inner) = epoch;
    }

    /// One attempt at a consistent snapshot; `None` if there is no copy, or it changed too
    /// much meanwhile.
    async fn load(&self) -> RedisResult<Option<(String, Snapshot)>> {
        let mut conn = self.conn.clone();
        let Some(start) = read_meta(&mut conn, &self.keys).await? else {
            return Ok(None);
        };
        // Scanning takes a while and the publisher goes on: hosts may be read at different
        // revisions between `start` and `end`. The log in between is then replayed on top,
        // which makes every name exact as of `end` (changes replace a name's whole state).
        let zone_values: HashMap<String, Vec<u8>> =
            conn.hgetall(self.keys.zones(&start.epoch)).await?;
        let mut zones = Vec::with_capacity(zone_values.len());
        for (name, value) in zone_values {
            let data: ZoneData = serde_json::from_slice(&value).map_err(json_error)?;
            let hosts = self.scan_hosts(&mut conn, &start.epoch, &name).await?;
            zones.push(ZoneSnapshot { zone: data, hosts });
        }
        let Some(end) = read_meta(&mut conn, &self.keys).await? else {
            return Ok(None);
        };
        if end.epoch != start.epoch || end.revision < start.revision {
            return Ok(None);
        }
        let between = if end.revision > start.revision {
            let batches = self
                .read_log(&mut conn, &start.epoch, start.revision, end.revision)
                .await?;
            if batches.first().map(|b| b.revision) != Some(start.revision + 1)
                || batches.len() as u64 != end.revision - start.revision
            {
                return Ok(None); // trimmed while we scanned
            }
            batches
        } else {
            Vec::new()
        };
        Ok(Some((
            end.epoch,
            Snapshot {
                revision: end.revision,
                zones: Squashed::new(&between).apply(zones),
            },
        )))
    }

    async fn scan_hosts(
        &self,
        conn: &mut ConnectionManager,
        epoch: &str,
        zone: &str,
    ) -> RedisResult<Vec<HostRecords>> {
        let key = self.keys.hosts(epoch, zone);
        let mut hosts = Vec::new();
        let mut cursor = "0".to_owned();
        loop {
            let (next, page): (String, Vec<Field>) = redis::cmd("HSCAN")
                .arg(&key)
                .arg(&cursor)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                .query_async(conn)
                .await?;
            for (_, value) in page {
                hosts.push(serde_json::from_slice(&value).map_err(json_error)?);
            }
            if next == "0" {
                return Ok(hosts);
            }
            cursor = next;
        }
    }

    /// The log's batches in `(after, upto]`.
    async fn read_log(
        &self,
        conn: &mut ConnectionManager,
        epoch: &str,
        after: Revision,
        upto: Revision,
    ) -> RedisResult<Vec<Batch>> {
        let reply: StreamRangeReply = conn
            .xrange(
                self.keys.log(epoch),
                format!("{}-0", after + 1),
                format!("{upto}-0"),
            )
            .await?;
        reply.ids.iter().map(decode_entry).collect()
    }

    /// Waits briefly for log entries after `after` in `epoch`'s log.
    async fn read_new(&self, epoch: &str, after: Revision) -> RedisResult<Vec<Batch>> {
        let mut conn = self.log_conn.clone();
        let reply: Option<StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(self.keys.log(epoch))
            .arg(format!("{after}-0"))
            .query_async(&mut conn)
            .await?;
        reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .map(|entry| decode_entry(&entry))
            .collect()
    }

    /// Nothing came: see whether the copy moved on (a new epoch, a trimmed log) or vanished.
    async fn recheck(&self, epoch: &str, after: Revision) -> Result<Vec<Batch>, FeedError> {
        let mut conn = self.conn.clone();
        let meta = read_meta(&mut conn, &self.keys)
            .await
            .map_err(unavailable)?;
        let Some(Meta {
            epoch: current,
            revision,
        }) = meta
        else {
            // Flushed or restarted empty: keep serving until the publisher refills it, and
            // look again in a while.
            self.set_epoch(None);
            tokio::time::sleep(BLOCK).await;
            return Ok(Vec::new());
        };
        if revision < after {
            return Err(FeedError::Resync(format!(
                "the feed is at revision {revision}, behind this node's {after}"
            )));
        }
        if current != epoch {
            // A new copy of the same data: its log continues from its revision.
            self.set_epoch(Some(current.clone()));
        }
        if revision == after {
            return Ok(Vec::new());
        }
        let upto = revision.min(after + READ_COUNT as u64);
        let batches = self
            .read_log(&mut conn, &current, after, upto)
            .await
            .map_err(unavailable)?;
        follows(batches, after)
    }
}

impl Feed for RedisFeed {
    async fn snapshot(&self) -> Result<Snapshot, FeedError> {
        for _ in 0..LOAD_ATTEMPTS {
            if let Some((epoch, snapshot)) = self.load().await.map_err(unavailable)? {
                self.set_epoch(Some(epoch));
                return Ok(snapshot);
            }
        }
        Err(FeedError::Unavailable(
            "Redis holds no complete copy (yet): the web publisher writes one".into(),
        ))
    }

    async fn next(&self, after: Revision) -> Result<Vec<Batch>, FeedError> {
        let Some(epoch) = self.epoch() else {
            return self.recheck("", after).await;
        };
        let batches = self.read_new(&epoch, after).await.map_err(unavailable)?;
        if batches.is_empty() {
            return self.recheck(&epoch, after).await;
        }
        follows(batches, after)
    }
}

/// `batches` if they continue from `after`; otherwise the log no longer holds what the node
/// needs.
fn follows(batches: Vec<Batch>, after: Revision) -> Result<Vec<Batch>, FeedError> {
    match batches.first() {
        Some(first) if first.revision != after + 1 => Err(FeedError::Resync(format!(
            "the log continues at revision {}, this node is at {after}",
            first.revision
        ))),
        None => Err(FeedError::Resync(format!(
            "the log no longer holds revision {}",
            after + 1
        ))),
        Some(_) => Ok(batches),
    }
}

pub(super) fn decode_entry(entry: &StreamId) -> RedisResult<Batch> {
    let revision = entry
        .id
        .strip_suffix("-0")
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| corrupt(format!("log entry id {}", entry.id)))?;
    let value = entry
        .map
        .get(BATCH_FIELD)
        .ok_or_else(|| corrupt(format!("log entry {} has no batch", entry.id)))?;
    let bytes: Vec<u8> = redis::from_redis_value_ref(value)?;
    let changes = serde_json::from_slice(&bytes).map_err(json_error)?;
    Ok(Batch { revision, changes })
}

fn unavailable(e: redis::RedisError) -> FeedError {
    FeedError::Unavailable(e.to_string())
}
