//! The node's RocksDB cache of the history partitions it owns: each run's mutable state (as
//! the sections transitions change, one row each, so applying a transition writes what it
//! changed and nothing more), its history events, the current run of each workflow ID, and per partition the log position
//! the cache reflects. Everything here can be rebuilt from the history topic; a partition's
//! changes and its log offset are always written in one batch, so after a crash the cache is
//! exactly the log up to that offset.
//!
//! Keys start with the partition (4 bytes, big-endian) and a table byte; string components
//! are length-prefixed so no ID can run into the next.

mod deadlines;
mod keys;
mod obligations;
mod tasks;
mod visibility;

use std::{path::Path, sync::Arc};

use cairn_engine::{
    MutableState, PartitionId, RunKey, WorkflowKey,
    sections::{Section, SectionKind},
};
use cairn_schemas::Transition;
use rocksdb::{DB, Direction, IteratorMode, Options, WriteBatch};

pub use deadlines::DueDeadline;
use keys::Table;
pub use tasks::{
    QueueKey, TaskChange, TaskChangeKind, TaskKey, parse_queue, parse_task, queue_key, queue_of,
};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("rocksdb operation failed")]
    RocksDb(#[from] rocksdb::Error),
    #[error("stored record in table {table} does not decode")]
    Corrupt {
        table: &'static str,
        #[source]
        source: cairn_schemas::DecodeError,
    },
    #[error("stored record in table {table} is malformed")]
    Malformed { table: &'static str },
}

/// Where a partition's cache stands in its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The offset of the next record to apply.
    pub next_offset: i64,
    /// The epoch of the latest ownership claim applied.
    pub epoch: i64,
}

/// RocksDB's cache of uncompressed blocks, per node.
const BLOCK_CACHE_BYTES: usize = 64 << 20;

#[derive(Clone)]
pub struct StateDb {
    db: Arc<DB>,
    block_cache: rocksdb::Cache,
    /// The options the store was opened with: they hold its statistics.
    options: Arc<Options>,
}

/// How much room the store takes and how well its cache serves reads, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreSize {
    /// Table files on disk.
    pub table_bytes: u64,
    /// Memtables not yet flushed.
    pub memtable_bytes: u64,
    /// The block cache's use.
    pub block_cache_bytes: u64,
    /// Block reads the cache answered, since the store opened.
    pub block_cache_hits: u64,
    /// Block reads that went to the table files, since the store opened.
    pub block_cache_misses: u64,
}

impl StateDb {
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // Most reads are point lookups of keys a new run does not have yet (its row, its
        // marks): a Bloom filter answers those without searching every level's blocks.
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        let block_cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        table.set_block_cache(&block_cache);
        options.set_block_based_table_factory(&table);
        // Counters only: histograms and timers of every operation cost throughput.
        options.enable_statistics();
        options.set_statistics_level(rocksdb::statistics::StatsLevel::ExceptHistogramOrTimers);
        let db = DB::open(&options, path)?;
        Ok(Self {
            db: Arc::new(db),
            block_cache,
            options: Arc::new(options),
        })
    }

    /// How much room the store takes now.
    pub fn size(&self) -> StoreSize {
        let property = |name: &str| {
            self.db
                .property_int_value(name)
                .ok()
                .flatten()
                .unwrap_or_default()
        };
        StoreSize {
            table_bytes: property("rocksdb.total-sst-files-size"),
            memtable_bytes: property("rocksdb.cur-size-all-mem-tables"),
            block_cache_bytes: self.block_cache.get_usage() as u64,
            block_cache_hits: self
                .options
                .get_ticker_count(rocksdb::statistics::Ticker::BlockCacheHit),
            block_cache_misses: self
                .options
                .get_ticker_count(rocksdb::statistics::Ticker::BlockCacheMiss),
        }
    }

    /// Where the partition's cache stands in its log. A cache written in another format of
    /// the mutable state (before an upgrade that changed its schema) cannot be read: it is
    /// discarded here, and the caller rebuilds it from the log.
    pub fn checkpoint(&self, partition: PartitionId) -> Result<Option<Checkpoint>, StateError> {
        let Some(value) = self.db.get(keys::checkpoint(partition))? else {
            return Ok(None);
        };
        match parse_checkpoint(&value) {
            Some(checkpoint) => Ok(Some(checkpoint)),
            None => {
                self.clear_partition(partition)?;
                Ok(None)
            }
        }
    }

    /// Applies a log record in one atomic batch: the runs' changed sections, their new
    /// events, the current-run pointers, the visibility and task indexes and the
    /// checkpoint after it. Returns what it did to the task index.
    pub fn apply(
        &self,
        partition: PartitionId,
        transitions: &[Transition],
        checkpoint: Checkpoint,
    ) -> Result<Vec<TaskChange>, StateError> {
        let mut batch = WriteBatch::default();
        let mut visible = visibility::Staged::default();
        let mut tasks = tasks::Staged::default();
        let mut deadlines = deadlines::Staged::default();
        for transition in transitions {
            let run = &transition.run;
            let sections = decode_changes(transition)?;
            self.stage_visibility(&mut batch, &mut visible, partition, transition, &sections)?;
            let open = !transition.deleted && visible.is_open(run);
            self.stage_tasks(
                &mut batch, &mut tasks, partition, transition, &sections, open,
            )?;
            self.stage_deadlines(
                &mut batch,
                &mut deadlines,
                partition,
                transition,
                &sections,
                open,
            )?;
            Self::stage_obligations(
                &mut batch,
                partition,
                transition,
                visible.notify_parent(run),
            );
            if transition.deleted {
                batch.delete_range(keys::run(partition, run), keys::run_end(partition, run));
                batch.delete_range(
                    keys::event(partition, run, 0),
                    keys::event(partition, run, i64::MAX),
                );
                let current = keys::current(partition, &run.workflow());
                if self.db.get(&current)?.as_deref() == Some(run.run_id.as_bytes()) {
                    batch.delete(current);
                }
                continue;
            }
            for change in &transition.changes {
                match (&change.value, change.kind) {
                    // Removing the run's own fields removes the whole state.
                    (None, SectionKind::Run) => {
                        batch
                            .delete_range(keys::run(partition, run), keys::run_end(partition, run));
                    }
                    (None, kind) => {
                        batch.delete(keys::section(partition, run, kind, change.id, &change.name))
                    }
                    (Some(value), kind) => batch.put(
                        keys::section(partition, run, kind, change.id, &change.name),
                        value,
                    ),
                }
            }
            // A run becomes its workflow's current run when it is created.
            if transition.events.first().is_some_and(|e| e.event_id == 1) {
                batch.put(
                    keys::current(partition, &run.workflow()),
                    run.run_id.as_bytes(),
                );
            }
            for event in &transition.events {
                batch.put(keys::event(partition, run, event.event_id), &event.data);
            }
        }
        self.stage_counts(&mut batch, visible, partition)?;
        let changes = self.stage_task_counts(&mut batch, tasks, partition)?;
        batch.put(keys::checkpoint(partition), checkpoint_value(checkpoint));
        self.db.write(batch)?;
        Ok(changes)
    }

    pub fn run(
        &self,
        partition: PartitionId,
        run: &RunKey,
    ) -> Result<Option<MutableState>, StateError> {
        let start = keys::run(partition, run);
        let end = keys::run_end(partition, run);
        let mut sections = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(&start, Direction::Forward))
        {
            let (key, value) = item?;
            if key.as_ref() >= end.as_slice() {
                break;
            }
            sections.push(decode_section(&key, &value)?);
        }
        Ok(cairn_engine::sections::assemble(sections))
    }

    /// A run's own fields (its `Run` section: status, IDs, event counts, the workflow
    /// task...) without its collections and large values, which stay empty: one read,
    /// however many activities or timers the run has.
    pub fn run_fields(
        &self,
        partition: PartitionId,
        run: &RunKey,
    ) -> Result<Option<MutableState>, StateError> {
        let key = keys::section(partition, run, SectionKind::Run, 0, "");
        let Some(value) = self.db.get(&key)? else {
            return Ok(None);
        };
        match decode_section(&key, &value)? {
            Section::Run(fields) => Ok(Some(*fields)),
            _ => Err(StateError::Malformed { table: "runs" }),
        }
    }

    pub fn current_run(
        &self,
        partition: PartitionId,
        workflow: &WorkflowKey,
    ) -> Result<Option<String>, StateError> {
        match self.db.get(keys::current(partition, workflow))? {
            Some(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| StateError::Malformed { table: "current" }),
            None => Ok(None),
        }
    }

    /// Every run of the partition, open or closed, in key order.
    pub fn runs(&self, partition: PartitionId) -> Result<Vec<MutableState>, StateError> {
        let prefix = keys::table_prefix(partition, Table::Run);
        let mut out = Vec::new();
        let mut run_prefix: Vec<u8> = Vec::new();
        let mut sections = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(&prefix, Direction::Forward))
        {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let (run_len, _, _) =
                keys::split_section(&key).ok_or(StateError::Malformed { table: "runs" })?;
            if key[..run_len] != run_prefix[..] {
                out.extend(cairn_engine::sections::assemble(std::mem::take(
                    &mut sections,
                )));
                run_prefix = key[..run_len].to_vec();
            }
            sections.push(decode_section(&key, &value)?);
        }
        out.extend(cairn_engine::sections::assemble(sections));
        Ok(out)
    }

    /// Encoded `HistoryEvent`s of a run with IDs in `[from, to)`, at most `limit` of them.
    pub fn events(
        &self,
        partition: PartitionId,
        run: &RunKey,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StateError> {
        let start = keys::event(partition, run, from.max(1));
        let end = keys::event(partition, run, to);
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(&start, Direction::Forward))
        {
            let (key, value) = item?;
            if key.as_ref() >= end.as_slice() || out.len() >= limit {
                break;
            }
            out.push(value.to_vec());
        }
        Ok(out)
    }

    /// Copies the partition's cache as of one moment, every entry but the checkpoint, in
    /// chunks of about `chunk_bytes` handed to `chunk` in key order (at least one chunk, maybe
    /// empty), without holding more than one chunk in memory. `chunk` returns false to stop.
    /// Returns the checkpoint the copy is as of and the entries it held; `None`, with no
    /// chunk, when the partition has no checkpoint.
    pub fn export(
        &self,
        partition: PartitionId,
        chunk_bytes: usize,
        mut chunk: impl FnMut(Checkpoint, Vec<(Vec<u8>, Vec<u8>)>) -> bool,
    ) -> Result<Option<(Checkpoint, u64)>, StateError> {
        let snapshot = self.db.snapshot();
        let Some(value) = snapshot.get(keys::checkpoint(partition))? else {
            return Ok(None);
        };
        let checkpoint = parse_checkpoint(&value).ok_or(StateError::Malformed {
            table: "checkpoint",
        })?;
        let prefix = partition.to_be_bytes();
        let checkpoint_key = keys::checkpoint(partition);
        let mut entries = Vec::new();
        let mut size = 0;
        let mut count = 0;
        for item in snapshot.iterator(IteratorMode::From(&prefix, Direction::Forward)) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            if key.as_ref() == checkpoint_key.as_slice() {
                continue;
            }
            if size + key.len() + value.len() > chunk_bytes && !entries.is_empty() {
                if !chunk(checkpoint, std::mem::take(&mut entries)) {
                    return Ok(Some((checkpoint, count)));
                }
                size = 0;
            }
            size += key.len() + value.len();
            count += 1;
            entries.push((key.to_vec(), value.to_vec()));
        }
        chunk(checkpoint, entries);
        Ok(Some((checkpoint, count)))
    }

    /// Writes entries exported from the same partition, in one batch. The checkpoint goes
    /// with the last batch of an import only, so an import cut short leaves no checkpoint
    /// and the partition is rebuilt from the log.
    pub fn import(
        &self,
        partition: PartitionId,
        entries: &[(Vec<u8>, Vec<u8>)],
        checkpoint: Option<Checkpoint>,
    ) -> Result<(), StateError> {
        let prefix = partition.to_be_bytes();
        let checkpoint_key = keys::checkpoint(partition);
        let mut batch = WriteBatch::default();
        for (key, value) in entries {
            if !key.starts_with(&prefix) || *key == checkpoint_key {
                return Err(StateError::Malformed { table: "import" });
            }
            batch.put(key, value);
        }
        if let Some(checkpoint) = checkpoint {
            batch.put(checkpoint_key, checkpoint_value(checkpoint));
        }
        self.db.write(batch)?;
        Ok(())
    }

    /// Forgets everything cached for a partition (before rebuilding it from the log).
    pub fn clear_partition(&self, partition: PartitionId) -> Result<(), StateError> {
        let start = partition.to_be_bytes().to_vec();
        let end = match partition.checked_add(1) {
            Some(next) => next.to_be_bytes().to_vec(),
            None => vec![0xff; 5],
        };
        let mut batch = WriteBatch::default();
        batch.delete_range(start, end);
        self.db.write(batch)?;
        Ok(())
    }
}

impl StateDb {
    /// Every entry under `prefix`, in key order: the rest of its key, and its value.
    pub(crate) fn under(&self, prefix: &[u8]) -> Result<Vec<Suffixed>, StateError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(prefix, Direction::Forward))
        {
            let (key, value) = item?;
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key[prefix.len()..].to_vec(), value.to_vec()));
        }
        Ok(out)
    }

    /// Adds `delta` to the count stored at `key`, in `batch`; a count that reaches zero is
    /// removed.
    pub(crate) fn stage_count(
        &self,
        batch: &mut WriteBatch,
        key: Vec<u8>,
        delta: i64,
    ) -> Result<(), StateError> {
        if delta == 0 {
            return Ok(());
        }
        let now = self.db.get(&key)?.as_deref().map_or(0, read_count) + delta;
        if now == 0 {
            batch.delete(key);
        } else {
            batch.put(key, now.to_be_bytes());
        }
        Ok(())
    }
}

/// An entry found under a prefix: the rest of its key, and its value.
pub(crate) type Suffixed = (Vec<u8>, Vec<u8>);

/// A count as [`StateDb::stage_count`] stores it.
pub(crate) fn read_count(bytes: &[u8]) -> i64 {
    bytes.try_into().map(i64::from_be_bytes).unwrap_or_default()
}

/// The layout of what the store keeps of a partition beyond the state's own sections (the
/// visibility and task indexes): raised when it changes, so older caches and snapshots are rebuilt.
const STORE_LAYOUT: &[u8] = b"visibility/1 tasks/1 deadlines/1 obligations/2";

/// The format of a partition's cache: the mutable state's format and the store's layout.
/// A checkpoint or a snapshot in another format is not read.
pub fn store_format() -> [u8; 8] {
    let mut described = cairn_schemas::state_format().to_vec();
    described.extend_from_slice(STORE_LAYOUT);
    xxhash_rust::xxh3::xxh3_64(&described).to_be_bytes()
}

/// Offset, epoch and the store's format: 24 bytes.
fn checkpoint_value(checkpoint: Checkpoint) -> Vec<u8> {
    let mut value = Vec::with_capacity(24);
    value.extend_from_slice(&checkpoint.next_offset.to_be_bytes());
    value.extend_from_slice(&checkpoint.epoch.to_be_bytes());
    value.extend_from_slice(&store_format());
    value
}

/// A checkpoint in the current store format; `None` for any other.
fn parse_checkpoint(value: &[u8]) -> Option<Checkpoint> {
    if value.len() != 24 || value[16..] != store_format() {
        return None;
    }
    let next_offset = i64::from_be_bytes(value[..8].try_into().ok()?);
    let epoch = i64::from_be_bytes(value[8..16].try_into().ok()?);
    Some(Checkpoint { next_offset, epoch })
}

/// The sections a transition puts that the indexes read (the run's own fields, memo, search
/// attributes, schedule, activities, timers), decoded once; `None` for the others.
fn decode_changes(transition: &Transition) -> Result<Vec<Option<Section>>, StateError> {
    transition
        .changes
        .iter()
        .map(|change| match (&change.value, change.kind) {
            (
                Some(value),
                SectionKind::Run
                | SectionKind::Memo
                | SectionKind::SearchAttributes
                | SectionKind::Schedule
                | SectionKind::Activity
                | SectionKind::Timer,
            ) => cairn_schemas::decode_section(change.kind, change.id, &change.name, value)
                .map(Some)
                .map_err(|source| StateError::Corrupt {
                    table: "runs",
                    source,
                }),
            _ => Ok(None),
        })
        .collect()
}

fn decode_section(key: &[u8], value: &[u8]) -> Result<Section, StateError> {
    let (_, kind, rest) =
        keys::split_section(key).ok_or(StateError::Malformed { table: "runs" })?;
    let id = rest.try_into().map(i64::from_be_bytes).unwrap_or_default();
    let name = std::str::from_utf8(rest).unwrap_or_default();
    cairn_schemas::decode_section(kind, id, name, value).map_err(|source| StateError::Corrupt {
        table: "runs",
        source,
    })
}

#[cfg(test)]
mod tests;
