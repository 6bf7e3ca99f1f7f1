//! The loop that owns one history partition.
//!
//! ```text
//!  requests ──▶ [batch] ──engine──▶ records ──append (acks=all)──▶ Kafka
//!                                                                   │ read back under our epoch
//!      callers ◀── answer ◀── tasks to matching ◀── RocksDB batch ◀─┘ (state + events + offset)
//! ```
//! Ownership is a claim record with a higher epoch. A record counts only if its epoch equals
//! the epoch of the latest valid claim before it, so anything a fenced owner (a zombie) writes
//! after a newer claim is ignored by every reader, and the zombie itself, reading its records
//! back, finds the newer claim first and answers its callers with an error.

mod snapshot;
mod window;
mod work;

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use cairn_engine::{Changes, MutableState, PartitionId, limits::Limits};
use cairn_log::{LogProducer, LogReader, PartitionStream};
use cairn_schemas::{Assembler, Claim, Event, HistoryRecord, Transition};
use cairn_state::{Checkpoint, StateDb, TaskChange};
use prost::Message;
use tokio::sync::{mpsc, watch};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::{
    Clock, HistoryError,
    effects::{Committed, Effects},
    timers::TimerWheel,
    updates::UpdateEndings,
};
pub use snapshot::SnapshotConfig;
pub use window::DEFAULT_TASK_WINDOW;
pub use work::{Cache, Staged, Work};

/// What one request did: whether it succeeded, and how to answer its caller once the
/// batch it belongs to is durable (or failed).
pub struct Outcome {
    pub ok: bool,
    pub respond: Box<dyn FnOnce(Option<HistoryError>) + Send>,
}

/// A request to a partition loop: its name (for logs and metrics) and what it does to the
/// runs it touches.
pub struct Op {
    pub name: &'static str,
    pub apply: Box<dyn FnOnce(&mut Work<'_>) -> Outcome + Send>,
    /// The span of the call that asked for it (none for the partition's own work): the
    /// batch that runs it follows from it, a link between their traces.
    pub caller: tracing::Span,
}

/// Most requests taken into one batch.
const MAX_BATCH: usize = 512;
/// Bytes of records after which a batch's requests wait for the next Kafka round trip. A
/// round's records plus one request's (at most about 4 MiB, Temporal's gRPC limit) stay
/// below what any broker keeps of a partition before it is read back (librdkafka's mock, the
/// dev server's embedded broker, keeps the last 5 MiB).
const MAX_ROUND_BYTES: usize = 512 * 1024;
/// Most bytes appended before they are read back: a record larger than this (its fragments)
/// is appended and read back in parts.
const MAX_APPEND_BYTES: usize = 2 * 1024 * 1024;
/// Records applied to RocksDB per write batch while catching up.
const REPLAY_CHUNK: usize = 256;

pub struct Partition {
    pub id: PartitionId,
    topic: String,
    node: String,
    epoch: i64,
    next_offset: i64,
    db: StateDb,
    producer: LogProducer,
    stream: PartitionStream,
    reader: Arc<LogReader>,
    cache: Cache,
    timers: TimerWheel,
    clock: Arc<dyn Clock>,
    /// Where what a round committed goes to be acted on (see `effects`).
    effects: Effects,
    redispatch: watch::Receiver<u64>,
    /// The next offset applied to RocksDB, for the lag metric.
    applied: Arc<AtomicI64>,
    snapshots: Option<SnapshotConfig>,
    /// Transitions applied since the last snapshot began.
    since_snapshot: u64,
    /// When the next snapshot is due whatever happens: `interval` after the last began.
    snapshot_due: tokio::time::Instant,
    /// Offset of the last complete snapshot's last chunk in the snapshots topic; -1: none.
    last_snapshot: i64,
    /// Transitions between two snapshots: grows with what a snapshot copies.
    snapshot_every: u64,
    snapshotting: Option<tokio::task::JoinHandle<Result<Option<snapshot::Written>, HistoryError>>>,
    /// Whether the claim started from a snapshot rather than this node's own state.
    loaded_snapshot: bool,
    update_endings: Arc<UpdateEndings>,
    limits: Limits,
    max_record_bytes: usize,
    appended: Arc<crate::handle::Appended>,
    /// The tasks matching holds of this partition's queues.
    windows: window::Windows,
    /// What the batches applied since the windows last moved did to the task index.
    task_changes: Vec<TaskChange>,
}

pub struct PartitionParts {
    pub id: PartitionId,
    pub topic: String,
    pub node: String,
    pub db: StateDb,
    pub producer: LogProducer,
    pub reader: Arc<LogReader>,
    pub clock: Arc<dyn Clock>,
    /// Where what each round commits (ready tasks, transfers, changed workflows) is acted on.
    pub(crate) effects: Effects,
    /// Changes when every pending task must be handed to matching again.
    pub redispatch: watch::Receiver<u64>,
    /// Where this partition's snapshots go; none are taken or read without it.
    pub snapshots: Option<SnapshotConfig>,
    /// Where updates that ended without an event are told.
    pub(crate) update_endings: Arc<UpdateEndings>,
    /// The per-workflow limits runs here are held to.
    pub limits: Limits,
    /// The largest Kafka record written; larger records go as fragments.
    pub max_record_bytes: usize,
    /// Counts what the partition appends.
    pub(crate) appended: Arc<crate::handle::Appended>,
    /// Most open runs kept in memory.
    pub cached_runs: usize,
    /// Most tasks of one queue handed to matching at a time.
    pub task_window: usize,
}

impl Partition {
    /// Catches up with the log, claims the partition with a new epoch and loads its open runs.
    pub async fn claim(parts: PartitionParts) -> Result<Self, HistoryError> {
        let mut checkpoint = parts.db.checkpoint(parts.id)?;
        let mut last_snapshot = -1;
        let mut loaded_snapshot = false;
        if let Some(config) = &parts.snapshots
            && let Some(found) = snapshot::latest(&parts.reader, &config.topic, parts.id).await?
        {
            last_snapshot = found.last_offset;
            // A snapshot ahead of what this node holds saves replaying up to it.
            if checkpoint.is_none_or(|local| local.next_offset < found.checkpoint.next_offset) {
                match snapshot::load(&parts.reader, &config.topic, parts.id, &found, &parts.db)
                    .await
                {
                    Ok(()) => {
                        checkpoint = Some(found.checkpoint);
                        loaded_snapshot = true;
                    }
                    // Loading cleared the partition's state: it is rebuilt from the log,
                    // which refuses to go on if records it needs are gone.
                    Err(error @ HistoryError::Snapshot { .. }) => {
                        warn!(partition = parts.id, error = %cairn_runtime::report(&error), "snapshot not usable, rebuilding from the log");
                        checkpoint = None;
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        let checkpoint = checkpoint.unwrap_or(Checkpoint {
            next_offset: 0,
            epoch: 0,
        });
        // Records this node needs that Kafka no longer keeps (a retention shorter than the
        // time since the latest snapshot): refuse rather than serve without them, and
        // rather than wait for records that will never come.
        let kept_from = parts
            .reader
            .start_offset(&parts.topic, parts.id as i32)
            .await?;
        if kept_from > checkpoint.next_offset {
            return Err(HistoryError::LogTruncated {
                partition: parts.id,
                expected: checkpoint.next_offset,
                found: kept_from,
            });
        }
        let stream =
            parts
                .reader
                .open_partition(&parts.topic, parts.id as i32, checkpoint.next_offset)?;
        let snapshot_due = snapshot_due(parts.snapshots.as_ref());
        let snapshot_every = parts.snapshots.as_ref().map_or(u64::MAX, |c| c.every);
        let mut partition = Self {
            id: parts.id,
            topic: parts.topic,
            node: parts.node,
            epoch: checkpoint.epoch,
            next_offset: checkpoint.next_offset,
            db: parts.db,
            producer: parts.producer,
            stream,
            reader: Arc::clone(&parts.reader),
            cache: Cache::new(parts.cached_runs),
            timers: TimerWheel::default(),
            clock: parts.clock,
            effects: parts.effects,
            redispatch: parts.redispatch,
            applied: Arc::new(AtomicI64::new(checkpoint.next_offset)),
            snapshots: parts.snapshots,
            // The claim appends a record after the latest snapshot: the next interval
            // covers it, so that a quiet partition's history can be deleted whole.
            since_snapshot: 1,
            snapshot_due,
            last_snapshot,
            snapshot_every,
            snapshotting: None,
            loaded_snapshot,
            update_endings: parts.update_endings,
            limits: parts.limits,
            max_record_bytes: parts.max_record_bytes,
            appended: parts.appended,
            windows: window::Windows::new(parts.id, parts.task_window),
            task_changes: Vec::new(),
        };
        partition.redispatch.mark_unchanged();
        loop {
            let end = partition
                .reader
                .end_offset(&partition.topic, partition.id as i32)
                .await?;
            partition.replay_until(end).await?;
            let epoch = partition.epoch + 1;
            let record = HistoryRecord {
                epoch,
                writer: partition.node.clone(),
                claim: Some(Claim {
                    claimed_at: partition.clock.now(),
                }),
                transitions: vec![],
                fragment: None,
            };
            let offset = partition
                .producer
                .append(
                    &partition.topic,
                    partition.id as i32,
                    b"claim",
                    &record.encode()?,
                )
                .await?;
            let end = match offset {
                Some(offset) => offset + 1,
                None => {
                    partition
                        .producer
                        .end_offset(&partition.topic, partition.id as i32)
                        .await?
                }
            };
            partition.replay_until(end).await?;
            if partition.epoch == epoch {
                break;
            }
            // Another node claimed the same epoch first; try again above it.
            warn!(
                partition = partition.id,
                epoch, "ownership claim lost a race, claiming again"
            );
        }
        partition.load_open_runs()?;
        info!(
            partition = partition.id,
            epoch = partition.epoch,
            offset = partition.next_offset,
            "partition owned"
        );
        Ok(partition)
    }

    /// The epoch this owner claimed the partition with.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// Whether this owner started from a snapshot.
    pub fn loaded_snapshot(&self) -> bool {
        self.loaded_snapshot
    }

    /// Follows the next log offset applied to RocksDB.
    pub fn applied_offset(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.applied)
    }

    /// Reads the log up to `end` (exclusive), applying every record that counts.
    async fn replay_until(&mut self, end: i64) -> Result<(), HistoryError> {
        let mut pending: Vec<Transition> = Vec::new();
        let mut records = 0;
        let mut assembler = Assembler::default();
        while self.next_offset < end {
            let record = self.stream.next().await?;
            if record.offset < self.next_offset {
                continue;
            }
            self.check_contiguous(record.offset)?;
            self.next_offset = record.offset + 1;
            let decoded = match HistoryRecord::decode(&record.payload)
                .and_then(|decoded| assembler.push(decoded))
            {
                Ok(Some(decoded)) => decoded,
                Ok(None) => continue,
                Err(error) => {
                    warn!(partition = self.id, offset = record.offset, error = %cairn_runtime::report(&error), "skipping undecodable history record");
                    continue;
                }
            };
            if decoded.claim.is_some() {
                if decoded.epoch > self.epoch {
                    self.epoch = decoded.epoch;
                }
            } else if decoded.epoch == self.epoch {
                pending.extend(decoded.transitions);
            }
            records += 1;
            if records % REPLAY_CHUNK == 0 {
                self.apply(std::mem::take(&mut pending))?;
            }
        }
        self.apply(pending)?;
        debug!(partition = self.id, records, "replayed");
        Ok(())
    }

    /// Cairn's writers leave no gaps in a partition's offsets, so a gap means the broker
    /// deleted records this node never read (retention, or a broker that keeps only so
    /// much). Going on would silently lose their effects: refuse instead.
    fn check_contiguous(&self, offset: i64) -> Result<(), HistoryError> {
        if offset > self.next_offset {
            return Err(HistoryError::LogTruncated {
                partition: self.id,
                expected: self.next_offset,
                found: offset,
            });
        }
        Ok(())
    }

    /// Writes transitions and the checkpoint to RocksDB in one batch, on this thread: a batch
    /// goes to the memtable and the unsynced write-ahead log in microseconds, less than
    /// handing it to a blocking thread and back.
    fn apply(&mut self, transitions: Vec<Transition>) -> Result<(), HistoryError> {
        self.since_snapshot += transitions.len() as u64;
        let checkpoint = Checkpoint {
            next_offset: self.next_offset,
            epoch: self.epoch,
        };
        let changes = self.db.apply(self.id, &transitions, checkpoint)?;
        self.task_changes.extend(changes);
        self.applied.store(self.next_offset, Ordering::Relaxed);
        Ok(())
    }

    /// Takes up the partition's open runs from its indexes, reading no run that needs
    /// nothing: the messages runs owe other workflows (the runs the obligation marks name),
    /// the deadlines of the next span, and a window of each queue's waiting tasks.
    fn load_open_runs(&mut self) -> Result<(), HistoryError> {
        let mut transfers = Vec::new();
        for run in self.db.owing_runs(self.id)? {
            if let Some(state) = self.db.run(self.id, &run)? {
                transfers.extend(cairn_engine::transfer::pending(&state));
            }
        }
        self.commit(Committed {
            transfers,
            ..Committed::default()
        });
        self.timers.clear();
        self.load_deadlines(self.clock.now())?;
        self.dispatch_pending()
    }

    /// Moves the timer wheel's horizon a span past `now`, reading the deadlines it passes
    /// from the index.
    fn load_deadlines(&mut self, now: i64) -> Result<(), HistoryError> {
        let horizon = now.saturating_add(crate::timers::SPAN);
        let due = self
            .db
            .deadlines_between(self.id, self.timers.horizon(), horizon)?;
        self.timers.extend(horizon, due);
        Ok(())
    }

    /// Hands matching each queue's first window of waiting tasks, as if it held none.
    fn dispatch_pending(&mut self) -> Result<(), HistoryError> {
        self.task_changes.clear();
        let tasks = self.windows.reset(&self.db, self.clock.now())?;
        self.hand_over(tasks);
        Ok(())
    }

    fn hand_over(&self, tasks: Vec<cairn_engine::TaskRef>) {
        if !tasks.is_empty() {
            debug!(
                partition = self.id,
                tasks = tasks.len(),
                "dispatching pending tasks"
            );
            self.commit(Committed {
                tasks,
                ..Committed::default()
            });
        }
    }

    /// Hands what was made durable to the effects task.
    fn commit(&self, committed: Committed) {
        if self.effects.send(committed).is_err() {
            // Only at shutdown: the history handle, and the effects task with it, are gone.
            debug!(
                partition = self.id,
                "effects dropped: history is shutting down"
            );
        }
    }

    /// Serves requests until the channel closes or the partition is fenced.
    pub async fn run(
        mut self,
        requests: mpsc::Receiver<Op>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        self.serve(requests, stop).await;
        // Whoever waits here for a change of this partition's runs (a long poll) must learn
        // that the changes now happen elsewhere, and look again.
        // (Those whose runs left the cache are not told; their long polls end at their own
        // deadline and look again.)
        let open: Vec<_> = self
            .cache
            .runs()
            .map(|state| state.run.workflow())
            .collect();
        self.commit(Committed {
            changed: open,
            ..Committed::default()
        });
    }

    async fn serve(
        &mut self,
        mut requests: mpsc::Receiver<Op>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            let next_due = self.timers.next_due();
            let mut batch: VecDeque<Op> = VecDeque::new();
            tokio::select! {
                () = stop.cancelled() => return,
                op = requests.recv() => match op {
                    Some(op) => batch.push_back(op),
                    None => return,
                },
                () = sleep_until_nanos(next_due, self.clock.now()) => {}
                () = tokio::time::sleep_until(self.snapshot_due), if self.snapshots.is_some() => {
                    self.maybe_snapshot();
                    continue;
                }
                changed = self.redispatch.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if let Err(error) = self.dispatch_pending() {
                        warn!(partition = self.id, error = %cairn_runtime::report(&error), "pending tasks could not be read to hand over again");
                    }
                    continue;
                }
            }
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(op) => batch.push_back(op),
                    Err(_) => break,
                }
            }
            if let Err(error) = self.fire_due_timers(&mut batch) {
                warn!(partition = self.id, error = %cairn_runtime::report(&error), "deadlines could not be read, reloading partition from the log");
                if let Err(error) = self.recover().await {
                    warn!(partition = self.id, error = %cairn_runtime::report(&error), "partition could not recover, stopping");
                    return;
                }
            }
            while !batch.is_empty() {
                let span =
                    info_span!(parent: None, "batch", partition = self.id, requests = batch.len());
                for op in &batch {
                    span.follows_from(&op.caller);
                }
                match self.process(&mut batch).instrument(span).await {
                    Ok(()) => self.maybe_snapshot(),
                    Err(HistoryError::Fenced { .. }) => {
                        warn!(
                            partition = self.id,
                            "partition fenced by a newer owner, stopping"
                        );
                        return;
                    }
                    Err(error) => {
                        warn!(partition = self.id, error = %cairn_runtime::report(&error), "batch failed, reloading partition from the log");
                        if let Err(error) = self.recover().await {
                            warn!(partition = self.id, error = %cairn_runtime::report(&error), "partition could not recover, stopping");
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Starts a snapshot in the background once enough transitions were applied since the
    /// last one began, or its interval passed, unless one is still being written.
    fn maybe_snapshot(&mut self) {
        let Some(config) = &self.snapshots else {
            return;
        };
        let now = tokio::time::Instant::now();
        if let Some(task) = &self.snapshotting {
            if !task.is_finished() {
                if now >= self.snapshot_due {
                    // Due while the previous one is still being written: look again soon.
                    self.snapshot_due = now + SNAPSHOT_BUSY_RETRY;
                }
                return;
            }
            let task = self.snapshotting.take().expect("checked above");
            match futures::FutureExt::now_or_never(task) {
                Some(Ok(Ok(Some(written)))) => {
                    self.last_snapshot = written.last_offset;
                    self.appended
                        .snapshot_written(self.id, self.clock.now() / 1_000_000_000);
                    self.snapshot_every = snapshot_every(config.every, written.entries, self.id);
                }
                Some(Ok(Ok(None))) => {}
                // What the failed snapshot was to cover still needs covering, even if
                // nothing changes again.
                Some(Ok(Err(error))) => {
                    snapshot::failed(self.id, &error);
                    self.since_snapshot = self.since_snapshot.max(1);
                }
                _ => self.since_snapshot = self.since_snapshot.max(1),
            }
        }
        // By time only when something changed: the snapshot topic is compacted, so a quiet
        // partition's latest snapshot stays, however old.
        if self.since_snapshot < self.snapshot_every
            && (now < self.snapshot_due || self.since_snapshot == 0)
        {
            if now >= self.snapshot_due {
                self.snapshot_due = now + config.interval;
            }
            return;
        }
        self.since_snapshot = 0;
        self.snapshot_due = now + config.interval;
        // A snapshot that fails (or panics) is retried at the next interval; the loop
        // hears of it when it looks at the handle.
        self.snapshotting = Some(cairn_runtime::supervise(
            "snapshot",
            cairn_runtime::Failure::Logged,
            snapshot::write(
                self.db.clone(),
                self.producer.clone(),
                config.clone(),
                self.id,
                self.last_snapshot,
            ),
        ));
    }

    fn fire_due_timers(&mut self, batch: &mut VecDeque<Op>) -> Result<(), HistoryError> {
        let now = self.clock.now();
        if now >= self.timers.horizon() {
            self.load_deadlines(now)?;
        }
        for (run, deadline) in self.timers.take_due(now) {
            batch.push_back(Op {
                name: "fire_deadline",
                caller: tracing::Span::none(),
                apply: Box::new(move |work: &mut Work<'_>| {
                    // A run that is gone or moved on ignores its stale deadline.
                    let ok = work
                        .update(&run, |tx| {
                            tx.fire(&deadline);
                            Ok(())
                        })
                        .is_ok();
                    Outcome {
                        ok,
                        respond: Box::new(|_| {}),
                    }
                }),
            });
        }
        Ok(())
    }

    /// Runs requests from the front of `batch` through the engine, until their records
    /// reach [`MAX_ROUND_BYTES`], makes their effects durable, applies them and answers.
    /// Returns an error when the round's outcome is unknown.
    async fn process(&mut self, batch: &mut VecDeque<Op>) -> Result<(), HistoryError> {
        let now = self.clock.now();
        let mut responders = Vec::with_capacity(batch.len());
        let mut records = Vec::new();
        let mut bytes = 0;
        let mut tasks = Vec::new();
        let mut touched = Vec::new();
        let mut update_endings = Vec::new();
        let mut deleted = Vec::new();
        let mut deadlines = Vec::new();
        while bytes < MAX_ROUND_BYTES
            && let Some(op) = batch.pop_front()
        {
            let mut work = Work::new(self.id, &self.cache, &self.db, now, self.limits);
            self.appended.count_operation(op.name);
            debug!(operation = op.name, "request");
            let outcome = (op.apply)(&mut work);
            let staged = if outcome.ok {
                work.into_staged()
            } else {
                Ok(Vec::new())
            };
            let staged = match staged {
                Ok(staged) => staged,
                Err(error) => {
                    warn!(partition = self.id, error = %cairn_runtime::report(&error), "request's changes could not be computed");
                    (outcome.respond)(Some(HistoryError::Unavailable { partition: self.id }));
                    continue;
                }
            };
            responders.push(outcome.respond);
            if staged.is_empty() {
                continue;
            }
            let mut transitions = Vec::with_capacity(staged.len());
            for Staged {
                state,
                changes,
                sections,
            } in staged
            {
                if changes.deleted {
                    deleted.push(state.run.clone());
                }
                tasks.extend(changes.tasks.iter().cloned());
                if !changes.ended_updates.is_empty() {
                    update_endings.push((state.run.clone(), changes.ended_updates.clone()));
                }
                transitions.push(transition(&state, &changes, &sections)?);
                deadlines.push((
                    state.run.clone(),
                    cairn_engine::timer::changed_deadlines(&state, &sections),
                ));
                self.appended.transitions.fetch_add(1, Ordering::Relaxed);
                touched.push(state.run.clone());
                if starts_run(&changes) {
                    self.cache.set_current(&state.run);
                    self.appended
                        .count_workflow(&state.namespace, &state.workflow_type, "started");
                }
                if let Some(outcome) = closing_outcome(&changes) {
                    self.appended
                        .count_workflow(&state.namespace, &state.workflow_type, outcome);
                }
                self.cache.put(state);
            }
            let record = HistoryRecord {
                epoch: self.epoch,
                writer: self.node.clone(),
                claim: None,
                transitions,
                fragment: None,
            };
            let payloads = record.encode_within(self.max_record_bytes)?;
            bytes += payloads.iter().map(Vec::len).sum::<usize>();
            records.push(Pending {
                key: key_of(&record),
                payloads,
                transitions: record.transitions,
            });
        }
        if records.is_empty() {
            for respond in responders {
                respond(None);
            }
            return Ok(());
        }
        let result = self.make_durable(records).await;
        if let Err(error) = result {
            let fenced = matches!(error, HistoryError::Fenced { .. });
            for respond in responders {
                respond(Some(if fenced {
                    HistoryError::Fenced { partition: self.id }
                } else {
                    HistoryError::Unavailable { partition: self.id }
                }));
            }
            return Err(error);
        }
        for (run, ended) in update_endings {
            self.update_endings.record(&run, ended);
        }
        for run in deleted {
            self.cache.remove(&run);
        }
        for respond in responders {
            respond(None);
        }
        // Should the task index not read, the partition reloads and hands its windows again.
        let changes = std::mem::take(&mut self.task_changes);
        let settled = self.windows.settle(&self.db, changes, &tasks, now)?;
        let changed: Vec<_> = touched.iter().map(cairn_engine::RunKey::workflow).collect();
        for (run, deadlines) in deadlines {
            self.timers.schedule(&run, deadlines);
        }
        let mut transfers = Vec::new();
        for run in touched {
            if let Some(state) = self.cache.get(&run) {
                transfers.extend(cairn_engine::transfer::pending(state));
                if !state.is_open() {
                    // Closed runs are served from RocksDB; keep the cache to open ones.
                    self.cache.forget_state(&run);
                }
            }
        }
        // Everything held is durable now.
        self.cache.trim();
        self.commit(Committed {
            tasks: settled.handed,
            withdrawn: settled.withdrawn,
            transfers,
            changed,
        });
        Ok(())
    }

    /// Appends the records (each as one Kafka record, or as its fragments), reads the log
    /// back to the last of them (checking no newer claim came first) and applies them to
    /// RocksDB. Records go in chunks of at most [`MAX_APPEND_BYTES`], each read back before
    /// the next is appended, so no broker drops a fragment before it was read.
    async fn make_durable(&mut self, records: Vec<Pending>) -> Result<(), HistoryError> {
        let mut appends = VecDeque::new();
        let mut parts = Vec::new();
        let mut transitions = Vec::with_capacity(records.len());
        for (index, record) in records.into_iter().enumerate() {
            let count = record.payloads.len();
            for (fragment, payload) in record.payloads.into_iter().enumerate() {
                appends.push_back((
                    self.topic.clone(),
                    self.id as i32,
                    record.key.clone(),
                    payload,
                ));
                parts.push(Part {
                    record: index,
                    fragment,
                    count,
                });
            }
            transitions.push(Some(record.transitions));
        }
        let mut read_back = ReadBack {
            ours: HashMap::new(),
            unplaced: VecDeque::new(),
            parts,
            assembling: None,
            transitions,
            apply: Vec::new(),
        };
        let mut appended = 0;
        let mut outcome = Ok(());
        while !appends.is_empty() {
            let mut chunk = Vec::new();
            let mut bytes = 0;
            while let Some(next) = appends.front()
                && (chunk.is_empty() || bytes + next.3.len() <= MAX_APPEND_BYTES)
            {
                bytes += next.3.len();
                chunk.extend(appends.pop_front());
            }
            let first = appended;
            appended += chunk.len();
            outcome = self.append_chunk(chunk, first, &mut read_back).await;
            if outcome.is_err() {
                break;
            }
        }
        // Whatever of ours was read counts, for this node as for any reader of the log,
        // even when the batch as a whole failed: apply it before answering.
        self.apply(std::mem::take(&mut read_back.apply))?;
        outcome?;
        let missing = read_back.transitions.iter().filter(|t| t.is_some()).count();
        if missing > 0 {
            // Acknowledged, yet not whole in the log: a broker that inferred the record's
            // delivery (librdkafka's mock does, from a later request's success) may have lost
            // it. Nothing unread can be acknowledged; its callers retry.
            warn!(
                partition = self.id,
                records = missing,
                "kafka acknowledged records that are not in the log"
            );
            return Err(HistoryError::Unavailable { partition: self.id });
        }
        Ok(())
    }

    /// Appends one chunk of a batch, whose first append has index `first`, and reads the
    /// log back past it.
    async fn append_chunk(
        &mut self,
        chunk: Vec<(String, i32, Vec<u8>, Vec<u8>)>,
        first: usize,
        read_back: &mut ReadBack,
    ) -> Result<(), HistoryError> {
        let bytes: usize = chunk.iter().map(|(_, _, _, payload)| payload.len()).sum();
        let records = chunk.len();
        let sent = std::time::Instant::now();
        let offsets = self
            .producer
            .append_all(chunk)
            .instrument(info_span!(
                "kafka_append",
                partition = self.id,
                records,
                bytes
            ))
            .await?;
        self.appended
            .append_seconds
            .observe(sent.elapsed().as_secs_f64());
        self.appended.append_records.observe(records as f64);
        self.appended
            .records
            .fetch_add(records as u64, Ordering::Relaxed);
        self.appended
            .bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        // Records Kafka acknowledged without their offsets (a retried send it took for a
        // duplicate) are kept in the order they were appended, which is their order in the
        // log.
        for (index, offset) in offsets.iter().enumerate() {
            match offset {
                Some(offset) => {
                    read_back.ours.insert(*offset, first + index);
                }
                None => read_back.unplaced.push_back(first + index),
            }
        }
        let placed = offsets.iter().flatten().max().copied();
        let last = match placed {
            Some(last) if read_back.unplaced.is_empty() => last,
            _ => {
                self.producer
                    .end_offset(&self.topic, self.id as i32)
                    .await?
                    - 1
            }
        };
        self.read_back(last, read_back).await
    }

    /// Reads the log up to `last`, collecting the transitions of this batch's records.
    async fn read_back(&mut self, last: i64, batch: &mut ReadBack) -> Result<(), HistoryError> {
        while self.next_offset <= last {
            let record = self.stream.next().await?;
            if record.offset < self.next_offset {
                continue;
            }
            self.check_contiguous(record.offset)?;
            self.next_offset = record.offset + 1;
            if let Some(index) = batch.ours.get(&record.offset) {
                batch.read(*index);
                continue;
            }
            let Ok(other) = HistoryRecord::decode(&record.payload) else {
                continue;
            };
            // Someone else wrote to our partition: only a newer claim matters.
            if other.claim.is_some() && other.epoch > self.epoch {
                self.epoch = other.epoch;
                return Err(HistoryError::Fenced { partition: self.id });
            }
            // Only this owner writes transitions under its epoch: one of ours, unplaced.
            if other.claim.is_none()
                && other.epoch == self.epoch
                && let Some(index) = batch.unplaced.pop_front()
            {
                batch.read(index);
            }
        }
        Ok(())
    }

    /// After a batch with an unknown outcome: drop in-memory state and rebuild it from the
    /// log, which holds whatever of the batch was written.
    async fn recover(&mut self) -> Result<(), HistoryError> {
        self.cache.clear();
        self.timers.clear();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Everything up to the end of the log, including our own records if they landed.
        let end = self.reader.end_offset(&self.topic, self.id as i32).await?;
        self.replay_until(end).await?;
        self.load_open_runs()
    }
}

/// A record of a batch, before it is appended.
struct Pending {
    key: Vec<u8>,
    /// The record's encoding: one Kafka record, or its fragments in order.
    payloads: Vec<Vec<u8>>,
    transitions: Vec<Transition>,
}

/// Where one appended Kafka record belongs.
struct Part {
    record: usize,
    fragment: usize,
    count: usize,
}

/// A batch being read back from the log.
struct ReadBack {
    /// Append index by offset, for records Kafka placed.
    ours: HashMap<i64, usize>,
    /// Append indexes of records Kafka acknowledged without an offset, in log order.
    unplaced: VecDeque<usize>,
    parts: Vec<Part>,
    /// The record whose fragments are being read, and the fragment expected next.
    assembling: Option<(usize, usize)>,
    /// Each record's transitions, taken once the record is read whole.
    transitions: Vec<Option<Vec<Transition>>>,
    /// The transitions read so far, in log order.
    apply: Vec<Transition>,
}

impl ReadBack {
    /// One of the batch's appends was read. A record counts once its fragments were all
    /// read in order, as every reader of the log puts them together.
    fn read(&mut self, append: usize) {
        let part = &self.parts[append];
        let next = if part.fragment == 0 {
            Some((part.record, 1))
        } else if self.assembling == Some((part.record, part.fragment)) {
            Some((part.record, part.fragment + 1))
        } else {
            None
        };
        self.assembling = next;
        if next == Some((part.record, part.count)) {
            self.assembling = None;
            let transitions = self.transitions[part.record].take();
            self.apply
                .extend(transitions.expect("each record is read once"));
        }
    }
}

async fn sleep_until_nanos(due: Option<i64>, now: i64) {
    match due {
        Some(due) => {
            let wait = Duration::from_nanos(u64::try_from(due.saturating_sub(now)).unwrap_or(0));
            tokio::time::sleep(wait).await;
        }
        None => std::future::pending().await,
    }
}

/// Whether a transition creates its run (which then becomes its workflow's current run).
/// How a run closed, when the changes close it.
fn closing_outcome(changes: &Changes) -> Option<&'static str> {
    use cairn_engine::proto::enums::EventType;
    changes.events.iter().rev().find_map(|event| {
        match EventType::try_from(event.event_type).ok()? {
            EventType::WorkflowExecutionCompleted => Some("completed"),
            EventType::WorkflowExecutionFailed => Some("failed"),
            EventType::WorkflowExecutionTimedOut => Some("timed_out"),
            EventType::WorkflowExecutionCanceled => Some("canceled"),
            EventType::WorkflowExecutionTerminated => Some("terminated"),
            EventType::WorkflowExecutionContinuedAsNew => Some("continued_as_new"),
            _ => None,
        }
    })
}

fn starts_run(changes: &Changes) -> bool {
    changes
        .events
        .first()
        .is_some_and(|event| event.event_id == 1)
}

fn key_of(record: &HistoryRecord) -> Vec<u8> {
    record
        .transitions
        .first()
        .map(|t| t.run.workflow_id.as_bytes().to_vec())
        .unwrap_or_default()
}

fn transition(
    state: &MutableState,
    changes: &Changes,
    sections: &[cairn_engine::sections::Change],
) -> Result<Transition, HistoryError> {
    let events = changes
        .events
        .iter()
        .map(|event| Event {
            event_id: event.event_id,
            event_time: event
                .event_time
                .as_ref()
                .map(cairn_engine::time::from_timestamp)
                .unwrap_or_default(),
            event_type: cairn_engine::proto::enums::EventType::try_from(event.event_type)
                .map(|t| t.as_str_name().to_string())
                .unwrap_or_default(),
            data: event.encode_to_vec(),
        })
        .collect();
    Ok(Transition {
        run: state.run.clone(),
        events,
        changes: cairn_schemas::state_changes(sections)?,
        deleted: changes.deleted,
    })
}

/// How long a snapshot that fell due while another was being written waits to look again.
const SNAPSHOT_BUSY_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Entries of the cache a snapshot may copy per transition since the previous one.
const SNAPSHOT_ENTRIES_PER_TRANSITION: u64 = 8;

/// Transitions before the next snapshot, after one that copied `entries`: at least `every`,
/// and enough that copying costs each transition a bounded number of entries. A snapshot
/// copies the whole partition, so at a fixed count its cost per transition would grow with
/// the partition (a million runs cost a quarter of the server's time); a claim replays at
/// most about as many records as the partition holds runs. Partitions stretch the count by
/// up to seven eighths, each by its own share, so that partitions growing together do not
/// all copy at the same moment.
fn snapshot_every(every: u64, entries: u64, partition: PartitionId) -> u64 {
    let base = every.max(entries / SNAPSHOT_ENTRIES_PER_TRANSITION);
    base + base / 8 * u64::from(partition % 8)
}

/// When a new owner's first snapshot is due at the latest: one interval after its claim.
fn snapshot_due(config: Option<&SnapshotConfig>) -> tokio::time::Instant {
    let interval = config.map_or(std::time::Duration::from_secs(3600), |c| c.interval);
    tokio::time::Instant::now() + interval
}
