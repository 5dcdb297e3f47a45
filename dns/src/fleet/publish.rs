//! Writing the feed: one batch at a time, or a whole new copy from a snapshot.

use std::collections::HashMap;
use std::sync::LazyLock;

use rand::distr::{Alphanumeric, SampleString};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, RedisResult, Script, ScriptInvocation};

use redis::streams::StreamRangeReply;

use super::reader::decode_entry;
use super::{Keys, Meta, json_error, read_meta};
use crate::feed::{Batch, Change, Revision, Snapshot};

/// Appends a batch to the log and applies it to the state, only if it is the one after
/// `meta.revision` in the current epoch. Returns 1 (written), 0 (already there), -1 (no copy,
/// or another epoch: read `meta` again), -2 (not the next revision: read `meta` again).
///
/// KEYS: meta, log, then the hashes the operations name by index.
/// ARGV: epoch, revision, changes (JSON), log length, then per operation: `set` / `del` /
/// `drop`, key index, field, value.
static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch ~= ARGV[1] then return -1 end
local current = tonumber(redis.call('HGET', KEYS[1], 'revision'))
local revision = tonumber(ARGV[2])
if revision <= current then return 0 end
if revision ~= current + 1 then return -2 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], ARGV[2] .. '-0', 'b', ARGV[3])
for i = 5, #ARGV, 4 do
  local key = KEYS[tonumber(ARGV[i + 1])]
  if ARGV[i] == 'set' then redis.call('HSET', key, ARGV[i + 2], ARGV[i + 3])
  elseif ARGV[i] == 'del' then redis.call('HDEL', key, ARGV[i + 2])
  else redis.call('UNLINK', key) end
end
redis.call('HSET', KEYS[1], 'revision', ARGV[2])
return 1
",
    )
});

/// Hosts per `HSET` while writing a copy.
const COPY_CHUNK: usize = 1_000;
/// How long a replaced copy stays readable, so a node loading it can finish or notice.
const OLD_COPY_TTL_MS: u64 = 60_000;

/// What became of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    Written,
    /// It was published before (a retry, or another publisher).
    AlreadyThere,
    /// Redis holds no copy, another epoch, or a revision this batch does not follow: read
    /// [`Publisher::meta`] again and continue from there (or write a new copy).
    Stale,
}

/// The writing side of the feed. Cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    conn: ConnectionManager,
    keys: Keys,
    log_length: u64,
}

impl Publisher {
    /// `log_length`: about how many batches the log keeps for nodes that fall behind.
    pub fn new(conn: ConnectionManager, keys: Keys, log_length: u64) -> Self {
        Self {
            conn,
            keys,
            log_length,
        }
    }

    pub async fn meta(&mut self) -> RedisResult<Option<Meta>> {
        read_meta(&mut self.conn, &self.keys).await
    }

    /// The batch of `revision` in `epoch`'s log, while the log holds it.
    pub async fn logged(&mut self, epoch: &str, revision: Revision) -> RedisResult<Option<Batch>> {
        let id = format!("{revision}-0");
        let reply: StreamRangeReply = self.conn.xrange(self.keys.log(epoch), &id, &id).await?;
        reply.ids.first().map(decode_entry).transpose()
    }

    /// Publishes `batches` (in revision order) into `epoch`'s copy, in one round trip: each
    /// batch's log entry, state and revision atomically. One outcome per batch; after a
    /// [`Published::Stale`] the rest are stale too (nothing of them was written).
    pub async fn publish(&mut self, epoch: &str, batches: &[Batch]) -> RedisResult<Vec<Published>> {
        let invocations = batches
            .iter()
            .map(|batch| self.invocation(epoch, batch))
            .collect::<RedisResult<Vec<_>>>()?;
        let mut pipe = redis::pipe();
        // Loading first makes the pipeline work on a Redis that restarted meanwhile.
        pipe.load_script(&PUBLISH).ignore();
        for invocation in &invocations {
            pipe.invoke_script(invocation);
        }
        let outcomes: Vec<i64> = pipe.query_async(&mut self.conn).await?;
        Ok(outcomes
            .into_iter()
            .map(|outcome| match outcome {
                1 => Published::Written,
                0 => Published::AlreadyThere,
                _ => Published::Stale,
            })
            .collect())
    }

    /// The publish script's call for one batch.
    fn invocation(&self, epoch: &str, batch: &Batch) -> RedisResult<ScriptInvocation<'static>> {
        let mut invocation = PUBLISH.prepare_invoke();
        invocation
            .key(self.keys.meta())
            .key(self.keys.log(epoch))
            .arg(epoch)
            .arg(batch.revision)
            .arg(serde_json::to_string(&batch.changes).map_err(json_error)?)
            .arg(self.log_length);
        // KEYS[1] and KEYS[2] are taken; each hash gets the next index once.
        let mut hashes: HashMap<String, usize> = HashMap::new();
        let mut hash_index = |key: String, invocation: &mut ScriptInvocation| {
            let next = hashes.len() + 3;
            *hashes.entry(key).or_insert_with_key(|key| {
                invocation.key(key.as_str());
                next
            })
        };
        for change in &batch.changes {
            let (op, key, field, value) = match change {
                Change::ZoneUpsert(zone) => (
                    "set",
                    self.keys.zones(epoch),
                    zone.name.as_str(),
                    serde_json::to_string(zone).map_err(json_error)?,
                ),
                Change::ZoneDelete { zone } => {
                    let hosts = hash_index(self.keys.hosts(epoch, zone), &mut invocation);
                    invocation.arg("drop").arg(hosts).arg("").arg("");
                    ("del", self.keys.zones(epoch), zone.as_str(), String::new())
                }
                Change::HostUpsert { zone, host } => (
                    "set",
                    self.keys.hosts(epoch, zone),
                    host.name.as_str(),
                    serde_json::to_string(host).map_err(json_error)?,
                ),
                Change::HostDelete { zone, name } => (
                    "del",
                    self.keys.hosts(epoch, zone),
                    name.as_str(),
                    String::new(),
                ),
            };
            let index = hash_index(key, &mut invocation);
            invocation.arg(op).arg(index).arg(field).arg(value);
        }
        Ok(invocation)
    }

    /// Writes `snapshot` as a new copy and makes it the current one; the previous copy
    /// expires a minute later. Nodes continue from the new copy's log, or reload it when
    /// they are behind its revision.
    pub async fn republish(&mut self, snapshot: &Snapshot) -> RedisResult<Meta> {
        let old = self.meta().await?;
        let epoch = Alphanumeric.sample_string(&mut rand::rng(), 12);
        let zones_key = self.keys.zones(&epoch);
        for zs in &snapshot.zones {
            let zone = &zs.zone;
            let value = serde_json::to_string(zone).map_err(json_error)?;
            let () = self.conn.hset(&zones_key, &zone.name, value).await?;
            let hosts_key = self.keys.hosts(&epoch, &zone.name);
            for chunk in zs.hosts.chunks(COPY_CHUNK) {
                let fields = chunk
                    .iter()
                    .map(|h| Ok((h.name.as_str(), serde_json::to_string(h)?)))
                    .collect::<Result<Vec<_>, serde_json::Error>>()
                    .map_err(json_error)?;
                let () = self.conn.hset_multiple(&hosts_key, &fields).await?;
            }
        }
        let meta = Meta {
            epoch,
            revision: snapshot.revision,
        };
        let () = self
            .conn
            .hset_multiple(
                self.keys.meta(),
                &[
                    ("epoch", meta.epoch.clone()),
                    ("revision", meta.revision.to_string()),
                ],
            )
            .await?;
        if let Some(old) = old.filter(|old| old.epoch != meta.epoch) {
            self.expire_copy(&old.epoch).await?;
        }
        Ok(meta)
    }

    async fn expire_copy(&mut self, epoch: &str) -> RedisResult<()> {
        let zones_key = self.keys.zones(epoch);
        let zones: Vec<String> = self.conn.hkeys(&zones_key).await?;
        let mut pipe = redis::pipe();
        for key in zones
            .iter()
            .map(|zone| self.keys.hosts(epoch, zone))
            .chain([zones_key.clone(), self.keys.log(epoch)])
        {
            pipe.pexpire(key, OLD_COPY_TTL_MS as i64).ignore();
        }
        pipe.query_async(&mut self.conn).await
    }
}
