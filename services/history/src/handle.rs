//! The history service's API: routes each call to the loop that owns the run's partition and
//! waits until its effect is durable. Reads come from RocksDB, which holds only what Kafka
//! acknowledged and this owner read back.

use std::{panic::AssertUnwindSafe, sync::Arc};

use cairn_engine::{
    EngineError, MutableState, PartitionId, RunKey, TaskRef, WorkflowKey,
    activity::{ActivityOutcome, ActivityTask, HeartbeatReply},
    events::Tx,
    proto::{
        Attributes, HistoryEvent, common::Payloads, enums::WorkflowTaskFailedCause,
        failure::Failure, workflowservice::StartWorkflowExecutionRequest,
    },
    signal::Signal,
    start::{StartWorkflow, Started, WithStart},
    token::TaskToken,
    update::Admission,
    workflow_task::{Completion, CompletionOutcome},
};
use std::{collections::HashMap, sync::RwLock};

use cairn_log::{KafkaConfig, LogProducer, LogReader};
use cairn_state::StateDb;
use cairn_visibility::{CountRequest, Counts, Page, PageRequest};
use futures::FutureExt;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prost::Message;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::{
    Clock, HistoryError, Peers, SharedTaskSink,
    partition::{Op, Outcome, Partition, PartitionParts, SnapshotConfig, Work},
    poll::{StartedActivityTask, StartedWorkflowTask},
    queries::{Queries, QueryTask},
    transfers::Transfers,
    updates::UpdateEndings,
};

/// The request ID of a workflow task started for the worker completing the one before it
/// (Temporal's words, as the SDKs see them in the started event).
const RETURNED_TASK_REQUEST_ID: &str = "request-from-RespondWorkflowTaskCompleted";

#[derive(Debug, Clone)]
pub struct HistoryConfig {
    pub partitions: u32,
    pub topic: String,
    /// This node's name, stamped on the records it writes.
    pub node_id: String,
    pub kafka: KafkaConfig,
    /// Snapshots of each partition's state, so a node without state need not replay the
    /// whole log; `None` takes and reads none.
    pub snapshots: Option<SnapshotConfig>,
    /// The per-workflow limits runs are held to: Temporal's defaults unless configured.
    pub limits: cairn_engine::limits::Limits,
    /// The largest Kafka record this node writes; a larger history record goes as
    /// fragments. Keep it below the history topic's `max.message.bytes` (and the producer's
    /// `message.max.bytes`).
    pub max_record_bytes: usize,
    /// Most open runs each partition keeps in memory; the rest are read from RocksDB.
    pub cached_runs: usize,
    /// Most tasks of one queue each partition hands matching at a time; the rest wait in
    /// its task index until workers take the first.
    pub task_window: usize,
}

/// Open runs a partition keeps in memory unless configured.
pub const DEFAULT_CACHED_RUNS: usize = 4096;

/// Below Kafka's default `max.message.bytes` (1 MiB) with room for the batch's framing.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 900 * 1024;

/// A handle on this node's history partitions. Partitions are acquired (claimed with a new
/// epoch) and released as ownership moves; a request for a partition this node does not own
/// fails with [`HistoryError::NotOwner`]. The reads and task starts that other roles need
/// (matching starting a task, a frontend listing runs) go to the owner through [`Peers`]
/// when the partition is not local.
#[derive(Clone)]
pub struct History {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: HistoryConfig,
    producer: LogProducer,
    reader: Arc<LogReader>,
    sink: SharedTaskSink,
    db: StateDb,
    clock: Arc<dyn Clock>,
    changed: crate::Changed,
    peers: Option<Arc<dyn Peers>>,
    queries: Queries,
    /// Bumped to make every owned partition hand its pending tasks to matching again.
    redispatch: watch::Sender<u64>,
    owned: RwLock<HashMap<PartitionId, Owned>>,
    /// Serialises acquire and release so one partition is never claimed twice at once here.
    ownership: tokio::sync::Mutex<()>,
    /// Partitions acquired from a snapshot rather than from this node's own state.
    snapshot_loads: std::sync::atomic::AtomicU64,
    /// Transfers between workflows under way from this node's partitions.
    transfers: Arc<Transfers>,
    update_endings: Arc<UpdateEndings>,
    appended: Arc<Appended>,
    /// Cancelled when a task the node needs (a partition loop, the effects task, a transfer,
    /// the retention sweep) panicked: the node must stop so that another takes its
    /// partitions.
    pub(crate) failed: CancellationToken,
    /// Where partition loops hand what they committed.
    effects: crate::effects::Effects,
}

/// Runs started and closed: by namespace, then workflow type, then outcome.
type WorkflowCounts =
    HashMap<String, HashMap<String, std::collections::BTreeMap<&'static str, u64>>>;

/// What this node's partitions appended to the history topic since it started.
#[derive(Debug)]
pub struct Appended {
    /// Kafka records (a fragmented history record counts each fragment).
    pub records: std::sync::atomic::AtomicU64,
    pub bytes: std::sync::atomic::AtomicU64,
    /// Run transitions: one per run a request changed.
    pub transitions: std::sync::atomic::AtomicU64,
    /// Requests the partition loops ran, by operation name.
    operations: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// Runs started and closed, by namespace, workflow type and outcome (`started`,
    /// `completed`, `failed`, `timed_out`, `canceled`, `terminated`, `continued_as_new`).
    /// Keyed by namespace, then type, so that counting looks up by `&str` and allocates only
    /// for a namespace or type not seen before.
    workflows: std::sync::Mutex<WorkflowCounts>,
    /// Partitions this node claimed (each takeover, each start).
    pub claims: std::sync::atomic::AtomicU64,
    /// Seconds each append to Kafka took, from the send until every record was
    /// acknowledged.
    pub append_seconds: Histogram,
    /// Records per append.
    pub append_records: Histogram,
    /// When each partition's last snapshot was written by this node (Unix seconds).
    snapshots: std::sync::Mutex<std::collections::BTreeMap<PartitionId, i64>>,
}

impl Default for Appended {
    fn default() -> Self {
        Self {
            records: std::sync::atomic::AtomicU64::default(),
            bytes: std::sync::atomic::AtomicU64::default(),
            transitions: std::sync::atomic::AtomicU64::default(),
            operations: std::sync::Mutex::default(),
            workflows: std::sync::Mutex::default(),
            claims: std::sync::atomic::AtomicU64::default(),
            // 0.5 ms to about 8 s.
            append_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 15)),
            // 1 to 4,096 records.
            append_records: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            snapshots: std::sync::Mutex::default(),
        }
    }
}

impl Appended {
    pub(crate) fn count_workflow(
        &self,
        namespace: &str,
        workflow_type: &str,
        outcome: &'static str,
    ) {
        let mut counts = self
            .workflows
            .lock()
            .expect("workflow counts are not poisoned");
        if !counts.contains_key(namespace) {
            counts.insert(namespace.to_string(), HashMap::new());
        }
        let types = counts.get_mut(namespace).expect("inserted above");
        if !types.contains_key(workflow_type) {
            types.insert(workflow_type.to_string(), std::collections::BTreeMap::new());
        }
        *types
            .get_mut(workflow_type)
            .expect("inserted above")
            .entry(outcome)
            .or_default() += 1;
    }

    /// Runs started and closed so far, by namespace, workflow type and outcome.
    pub fn workflows(&self) -> Vec<(String, String, &'static str, u64)> {
        self.workflows
            .lock()
            .expect("workflow counts are not poisoned")
            .iter()
            .flat_map(|(namespace, types)| {
                types.iter().flat_map(move |(kind, outcomes)| {
                    outcomes.iter().map(move |(outcome, count)| {
                        (namespace.clone(), kind.clone(), *outcome, *count)
                    })
                })
            })
            .collect()
    }

    pub(crate) fn snapshot_written(&self, partition: PartitionId, at_unix_seconds: i64) {
        self.snapshots
            .lock()
            .expect("snapshot times are not poisoned")
            .insert(partition, at_unix_seconds);
    }

    /// When this node last wrote a snapshot of each partition (Unix seconds).
    pub fn snapshots(&self) -> Vec<(PartitionId, i64)> {
        self.snapshots
            .lock()
            .expect("snapshot times are not poisoned")
            .iter()
            .map(|(partition, at)| (*partition, *at))
            .collect()
    }

    pub(crate) fn count_operation(&self, name: &'static str) {
        *self
            .operations
            .lock()
            .expect("operation counts are not poisoned")
            .entry(name)
            .or_default() += 1;
    }

    /// How many requests of each operation the partition loops ran.
    pub fn operations(&self) -> Vec<(&'static str, u64)> {
        self.operations
            .lock()
            .expect("operation counts are not poisoned")
            .iter()
            .map(|(name, count)| (*name, *count))
            .collect()
    }
}

struct Owned {
    epoch: i64,
    applied: Arc<std::sync::atomic::AtomicI64>,
    sender: mpsc::Sender<Op>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl History {
    /// A history node that owns no partition yet. `peers` reaches the owners of partitions
    /// owned elsewhere; without it every partition is expected to be local.
    pub fn new(
        config: HistoryConfig,
        db: StateDb,
        sink: SharedTaskSink,
        clock: Arc<dyn Clock>,
        peers: Option<Arc<dyn Peers>>,
    ) -> Result<Self, HistoryError> {
        let producer = LogProducer::connect(&config.kafka)?;
        let reader = Arc::new(LogReader::connect(&config.kafka)?);
        let (changed, _) = tokio::sync::broadcast::channel(1024);
        let (effects, committed) = tokio::sync::mpsc::unbounded_channel();
        let history = Self {
            inner: Arc::new_cyclic(|inner| Inner {
                config,
                producer,
                reader,
                sink,
                db,
                clock,
                changed,
                peers,
                queries: Queries::default(),
                redispatch: watch::channel(0).0,
                owned: RwLock::new(HashMap::new()),
                ownership: tokio::sync::Mutex::new(()),
                snapshot_loads: std::sync::atomic::AtomicU64::new(0),
                transfers: Arc::new(Transfers::new(std::sync::Weak::clone(inner))),
                update_endings: Arc::new(UpdateEndings::default()),
                appended: Arc::new(Appended::default()),
                failed: CancellationToken::new(),
                effects,
            }),
        };
        // Without it nothing a partition commits reaches matching or another workflow: the
        // node must stop.
        cairn_runtime::supervise(
            "history-effects",
            cairn_runtime::Failure::StopsNode(history.inner.failed.clone()),
            crate::effects::carry_out(
                committed,
                Arc::clone(&history.inner.sink),
                Arc::clone(&history.inner.transfers),
                history.inner.changed.clone(),
            ),
        );
        Ok(history)
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// A single node that owns every partition (the dev server, tests).
    pub async fn start(
        config: HistoryConfig,
        db: StateDb,
        sink: SharedTaskSink,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, HistoryError> {
        let history = Self::new(config, db, sink, clock, None)?;
        let claims = (0..history.partitions()).map(|id| history.acquire(id));
        futures::future::try_join_all(claims).await?;
        Ok(history)
    }

    /// Claims a partition (catching up with the log first) and starts its loop. Returns the
    /// epoch of the claim; a partition already owned here keeps its epoch.
    pub async fn acquire(&self, id: PartitionId) -> Result<i64, HistoryError> {
        let _one_change_at_a_time = self.inner.ownership.lock().await;
        if let Some(owned) = self.read_owned().get(&id) {
            return Ok(owned.epoch);
        }
        let partition = Partition::claim(PartitionParts {
            id,
            topic: self.inner.config.topic.clone(),
            node: self.inner.config.node_id.clone(),
            db: self.inner.db.clone(),
            producer: self.inner.producer.clone(),
            reader: Arc::clone(&self.inner.reader),
            clock: Arc::clone(&self.inner.clock),
            effects: self.inner.effects.clone(),
            redispatch: self.inner.redispatch.subscribe(),
            snapshots: self.inner.config.snapshots.clone(),
            update_endings: Arc::clone(&self.inner.update_endings),
            limits: self.inner.config.limits,
            max_record_bytes: self.inner.config.max_record_bytes,
            appended: Arc::clone(&self.inner.appended),
            cached_runs: self.inner.config.cached_runs,
            task_window: self.inner.config.task_window,
        })
        .await?;
        self.inner
            .appended
            .claims
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let epoch = partition.epoch();
        let applied = partition.applied_offset();
        if partition.loaded_snapshot() {
            self.inner
                .snapshot_loads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let (sender, requests) = mpsc::channel(4096);
        let stop = CancellationToken::new();
        let inner = Arc::downgrade(&self.inner);
        let loop_stop = stop.clone();
        // A loop that panics takes its state with it while the group still assigns the
        // partition here: only this node stopping moves it to another.
        let failure = cairn_runtime::Failure::StopsNode(self.inner.failed.clone());
        let task = cairn_runtime::supervise("partition", failure, async move {
            let ran = AssertUnwindSafe(partition.run(requests, loop_stop))
                .catch_unwind()
                .await;
            // A loop that ends by itself was fenced (or failed): forget it so requests get
            // NotOwner.
            if let Some(inner) = inner.upgrade() {
                let mut owned = inner.owned.write().expect("ownership lock is not poisoned");
                if owned.get(&id).is_some_and(|o| o.epoch == epoch) {
                    owned.remove(&id);
                }
            }
            if let Err(panic) = ran {
                std::panic::resume_unwind(panic);
            }
        });
        self.inner
            .owned
            .write()
            .expect("ownership lock is not poisoned")
            .insert(
                id,
                Owned {
                    epoch,
                    applied,
                    sender,
                    stop,
                    task,
                },
            );
        Ok(epoch)
    }

    /// Stops a partition's loop (requests still queued get `Unavailable`) and waits for it.
    pub async fn release(&self, id: PartitionId) {
        let _one_change_at_a_time = self.inner.ownership.lock().await;
        let owned = self
            .inner
            .owned
            .write()
            .expect("ownership lock is not poisoned")
            .remove(&id);
        if let Some(owned) = owned {
            owned.stop.cancel();
            if let Err(error) = owned.task.await {
                tracing::error!(partition = id, error = %error, "partition loop panicked");
            }
            info!(partition = id, "partition released");
        }
    }

    /// Cancelled when a task this node's history needs (a partition loop, the effects task,
    /// a transfer, the retention sweep) panicked: the node must stop.
    pub fn failure(&self) -> CancellationToken {
        self.inner.failed.clone()
    }

    pub fn owns(&self, partition: PartitionId) -> bool {
        self.read_owned().contains_key(&partition)
    }

    /// The partitions this node owns, with the epoch of each claim.
    pub fn owned(&self) -> Vec<(PartitionId, i64)> {
        let mut owned: Vec<_> = self
            .read_owned()
            .iter()
            .map(|(id, owned)| (*id, owned.epoch))
            .collect();
        owned.sort_unstable();
        owned
    }

    /// What this node's partitions appended to the history topic since it started.
    pub fn appended(&self) -> &Appended {
        &self.inner.appended
    }

    /// How many partitions this node acquired from a snapshot.
    pub fn snapshot_loads(&self) -> u64 {
        self.inner
            .snapshot_loads
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Each owned partition with its epoch and the next log offset applied to RocksDB.
    pub fn positions(&self) -> Vec<(PartitionId, i64, i64)> {
        let mut positions: Vec<_> = self
            .read_owned()
            .iter()
            .map(|(id, owned)| {
                let applied = owned.applied.load(std::sync::atomic::Ordering::Relaxed);
                (*id, owned.epoch, applied)
            })
            .collect();
        positions.sort_unstable();
        positions
    }

    /// Where the partitions' records are read from, for lag against the log's end.
    pub fn log(&self) -> (&LogReader, &str) {
        (&self.inner.reader, &self.inner.config.topic)
    }

    /// Stops every partition loop and waits for them.
    pub async fn shutdown(&self) {
        for (id, _) in self.owned() {
            self.release(id).await;
        }
    }

    /// Makes every owned partition hand all its pending tasks to matching again (after
    /// matching ownership moved, a backlog may have been lost with its node).
    pub fn redispatch(&self) {
        self.inner
            .redispatch
            .send_modify(|generation| *generation += 1);
    }

    pub fn partitions(&self) -> u32 {
        self.inner.config.partitions
    }

    /// Queries in flight for runs of this node's partitions.
    pub fn queries(&self) -> &Queries {
        &self.inner.queries
    }

    /// Receives, after every durable batch, the workflows it changed.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Vec<WorkflowKey>>> {
        self.inner.changed.subscribe()
    }

    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    fn partition_of(&self, workflow: &WorkflowKey) -> PartitionId {
        workflow.partition(self.inner.config.partitions)
    }

    fn read_owned(&self) -> std::sync::RwLockReadGuard<'_, HashMap<PartitionId, Owned>> {
        self.inner
            .owned
            .read()
            .expect("ownership lock is not poisoned")
    }

    /// The peers to ask when `partition` is owned elsewhere; `None` when it is local (or
    /// this node has no peers, so everything is local).
    pub(crate) fn remote(&self, partition: PartitionId) -> Option<&Arc<dyn Peers>> {
        let peers = self.inner.peers.as_ref()?;
        if self.read_owned().contains_key(&partition) {
            return None;
        }
        Some(peers)
    }

    /// Whether `workflow` lives in a partition another node owns (only in a cluster): a
    /// long poll on it here would never hear of its changes.
    pub fn owned_elsewhere(&self, workflow: &WorkflowKey) -> bool {
        self.remote(self.partition_of(workflow)).is_some()
    }

    /// Runs `f` in the partition's loop and returns its value once its effects are durable.
    pub(crate) async fn submit<T: Send + 'static>(
        &self,
        partition: PartitionId,
        name: &'static str,
        f: impl FnOnce(&mut Work<'_>) -> Result<T, HistoryError> + Send + 'static,
    ) -> Result<T, HistoryError> {
        let (reply, result) = oneshot::channel();
        let op = Op {
            name,
            caller: tracing::Span::current(),
            apply: Box::new(move |work: &mut Work<'_>| {
                let value = f(work);
                let ok = value.is_ok();
                Outcome {
                    ok,
                    respond: Box::new(move |error| {
                        let _caller_may_be_gone = reply.send(match error {
                            Some(error) => Err(error),
                            None => value,
                        });
                    }),
                }
            }),
        };
        let sender = self
            .read_owned()
            .get(&partition)
            .map(|owned| owned.sender.clone())
            .ok_or(HistoryError::NotOwner { partition })?;
        sender
            .send(op)
            .await
            .map_err(|_| HistoryError::Unavailable { partition })?;
        result
            .await
            .map_err(|_| HistoryError::Unavailable { partition })?
    }

    pub async fn start_workflow(
        &self,
        namespace_id: String,
        namespace: String,
        request: StartWorkflowExecutionRequest,
        run_id: String,
    ) -> Result<Started, HistoryError> {
        self.signal_with_start(namespace_id, namespace, request, run_id, None)
            .await
    }

    /// Starts the workflow (by its ID policies) and, if a signal is given, signals the run
    /// that answers, all in one durable record.
    pub async fn signal_with_start(
        &self,
        namespace_id: String,
        namespace: String,
        request: StartWorkflowExecutionRequest,
        run_id: String,
        signal: Option<Signal>,
    ) -> Result<Started, HistoryError> {
        self.start_and(
            namespace_id,
            namespace,
            request,
            run_id,
            signal.map(WithStart::Signal),
        )
        .await
    }

    /// A start, eager when `eager` (see [`History::start_eagerly`]).
    pub async fn start_eagerly_if(
        &self,
        eager: bool,
        namespace_id: String,
        namespace: String,
        request: StartWorkflowExecutionRequest,
        run_id: String,
    ) -> Result<(Started, Option<StartedWorkflowTask>), HistoryError> {
        if eager {
            self.start_eagerly(namespace_id, namespace, request, run_id)
                .await
        } else {
            let started = self
                .start_workflow(namespace_id, namespace, request, run_id)
                .await?;
            Ok((started, None))
        }
    }

    /// Starts the workflow and, when this request creates the run and its first workflow task
    /// is due now, records that task as started for the caller's own worker (eager workflow
    /// start): it never goes through matching.
    pub async fn start_eagerly(
        &self,
        namespace_id: String,
        namespace: String,
        request: StartWorkflowExecutionRequest,
        run_id: String,
    ) -> Result<(Started, Option<StartedWorkflowTask>), HistoryError> {
        let identity = request.identity.clone();
        let request_id = request.request_id.clone();
        let workflow_id = request.workflow_id.clone();
        let (started, task) = self
            .start_and_then(
                namespace_id.clone(),
                namespace,
                request,
                run_id,
                None,
                move |work, run| {
                    let Some(state) = work.state(run)? else {
                        return Ok(None);
                    };
                    let Some(scheduled) =
                        state.workflow_task.as_ref().map(|t| t.scheduled_event_id)
                    else {
                        return Ok(None);
                    };
                    let task = work.update(run, |tx| {
                        tx.start_workflow_task(scheduled, &request_id, &identity)
                    })?;
                    work.withdraw_tasks(run);
                    Ok(Some(task))
                },
            )
            .await?;
        let Some(task) = task else {
            return Ok((started, None));
        };
        let run = RunKey {
            namespace_id,
            workflow_id,
            run_id: started.run_id.clone(),
        };
        let state = self.describe(run.clone()).await?;
        let history = self.events(&run, 1, task.started_event_id + 1).await?;
        Ok((
            started,
            Some(StartedWorkflowTask {
                state,
                task,
                history,
                queries: Vec::new(),
            }),
        ))
    }

    /// Starts the workflow (by its ID policies) and admits an update to the run that answers,
    /// in one durable record (update-with-start).
    pub async fn update_with_start(
        &self,
        namespace_id: String,
        namespace: String,
        request: StartWorkflowExecutionRequest,
        run_id: String,
        update: cairn_engine::proto::update::Request,
    ) -> Result<Started, HistoryError> {
        self.start_and(
            namespace_id,
            namespace,
            request,
            run_id,
            Some(WithStart::Update(update)),
        )
        .await
    }

    async fn start_and(
        &self,
        namespace_id: String,
        namespace: String,
        request: StartWorkflowExecutionRequest,
        run_id: String,
        also: Option<WithStart>,
    ) -> Result<Started, HistoryError> {
        self.start_and_then(
            namespace_id,
            namespace,
            request,
            run_id,
            also,
            |_, _| Ok(()),
        )
        .await
        .map(|(started, ())| started)
    }

    /// Starts the workflow by its ID policies, applies `also` to the run that answers, and
    /// runs `then` on a run this request created, all in one record.
    async fn start_and_then<T: Default + Send + 'static>(
        &self,
        namespace_id: String,
        namespace: String,
        request: StartWorkflowExecutionRequest,
        run_id: String,
        also: Option<WithStart>,
        then: impl FnOnce(&mut Work<'_>, &RunKey) -> Result<T, HistoryError> + Send + 'static,
    ) -> Result<(Started, T), HistoryError> {
        let operation = match &also {
            Some(WithStart::Signal(_)) => "signal_with_start",
            Some(WithStart::Update(_)) => "update_with_start",
            None => "start_workflow",
        };
        let start = StartWorkflow {
            namespace_id,
            namespace,
            request,
            run_id,
            with: also,
        };
        self.submit(
            self.partition_of(&start.workflow()),
            operation,
            move |work| {
                let (started, created) = cairn_engine::start::start_workflow(work, start)?;
                let value = match created {
                    Some(run) => then(work, &run)?,
                    None => T::default(),
                };
                Ok((started, value))
            },
        )
        .await
    }

    /// Admits an update to a run (the current one for an empty run ID). Returns the run and
    /// whether the update is new.
    pub async fn update(
        &self,
        run: RunKey,
        request: cairn_engine::proto::update::Request,
    ) -> Result<(RunKey, Admission), HistoryError> {
        self.submit(
            run.partition(self.inner.config.partitions),
            "admit_update",
            move |work| {
                let run = work.resolve(&run)?;
                let admission = work.update(&run, |tx| tx.admit_update(&request))?;
                Ok((run, admission))
            },
        )
        .await
    }

    /// Updates that ended without an event, for callers waiting on them.
    pub fn update_endings(&self) -> &UpdateEndings {
        &self.inner.update_endings
    }

    pub async fn signal(&self, run: RunKey, signal: Signal) -> Result<(), HistoryError> {
        self.submit(
            run.partition(self.inner.config.partitions),
            "signal",
            move |work| work.update(&run, |tx| tx.signal(signal)),
        )
        .await
    }

    pub async fn request_cancel(
        &self,
        run: RunKey,
        identity: String,
        reason: String,
    ) -> Result<(), HistoryError> {
        self.submit(
            run.partition(self.inner.config.partitions),
            "request_cancel",
            move |work| work.update(&run, |tx| tx.request_cancel(&identity, &reason)),
        )
        .await
    }

    /// Deletes a run (the current one for an empty run ID), terminating it first if open.
    pub async fn delete(&self, run: RunKey) -> Result<(), HistoryError> {
        self.submit(
            run.partition(self.inner.config.partitions),
            "delete",
            move |work| work.update(&run, |tx| tx.delete()),
        )
        .await
    }

    pub async fn terminate(
        &self,
        run: RunKey,
        reason: String,
        details: Option<Payloads>,
        identity: String,
    ) -> Result<(), HistoryError> {
        self.submit(
            run.partition(self.inner.config.partitions),
            "terminate",
            move |work| work.update(&run, |tx| tx.terminate(&reason, details, &identity)),
        )
        .await
    }

    /// Records a workflow task as started for a poller and returns what the worker needs.
    pub async fn record_workflow_task_started(
        &self,
        task: &TaskRef,
        request_id: String,
        identity: String,
    ) -> Result<StartedWorkflowTask, HistoryError> {
        let run = task.run.clone();
        let partition = run.partition(self.inner.config.partitions);
        if let Some(peers) = self.remote(partition) {
            return peers
                .record_workflow_task_started(task.clone(), request_id, identity)
                .await;
        }
        let scheduled = task.scheduled_event_id;
        let (state, started) = self
            .submit(partition, "record_workflow_task_started", move |work| {
                let started = work.update(&run, |tx| {
                    tx.start_workflow_task(scheduled, &request_id, &identity)
                })?;
                let state = work
                    .state(&run)?
                    .ok_or_else(|| EngineError::run_not_found(&run))?;
                Ok((state, started))
            })
            .await?;
        let queries = self.inner.queries.take_attached(&state.run);
        self.started_view(state, started, queries).await
    }

    /// What the worker of a workflow task just started gets: the run, the task and its
    /// history. A worker on its sticky queue has the run cached: it gets only what is new
    /// since the task it last completed, as Temporal sends it.
    async fn started_view(
        &self,
        state: MutableState,
        started: cairn_engine::workflow_task::StartedWorkflowTask,
        queries: Vec<QueryTask>,
    ) -> Result<StartedWorkflowTask, HistoryError> {
        let sticky = state.workflow_task.as_ref().is_some_and(|t| t.is_sticky());
        let from = if sticky {
            state.last_completed_started_event_id + 1
        } else {
            1
        };
        let mut history = self
            .events(&state.run, from, started.started_event_id + 1)
            .await?;
        history.extend(started.transient_events.iter().cloned());
        Ok(StartedWorkflowTask {
            state,
            task: started,
            history,
            queries,
        })
    }

    /// Ends sticky execution of a run; a task waiting on the sticky queue moves to the
    /// normal queue.
    pub async fn reset_sticky(&self, run: RunKey) -> Result<(), HistoryError> {
        let partition = run.partition(self.inner.config.partitions);
        if let Some(peers) = self.remote(partition) {
            return peers.reset_sticky(run).await;
        }
        self.submit(partition, "reset_sticky", move |work| {
            work.update(&run, |tx| {
                tx.reset_sticky();
                Ok(())
            })
        })
        .await
    }

    /// Completes a workflow task. With `return_new_task`, a workflow task the completion
    /// scheduled is started at once for the same worker and returned, as Temporal answers
    /// `return_new_workflow_task`: it never goes through matching.
    pub async fn complete_workflow_task(
        &self,
        token: TaskToken,
        completion: Completion,
        return_new_task: bool,
    ) -> Result<(CompletionOutcome, Option<StartedWorkflowTask>), HistoryError> {
        let run = token.run();
        let identity = completion.identity.clone();
        let (outcome, started) = self
            .submit(
                run.partition(self.inner.config.partitions),
                "complete_workflow_task",
                move |work| {
                    let outcome = work.update(&run, |tx| {
                        tx.complete_workflow_task(
                            token.scheduled_event_id,
                            token.started_event_id,
                            &completion,
                        )
                    })?;
                    let mut started = None;
                    let next = work
                        .read(&run, |state| state.workflow_task.clone())?
                        .flatten()
                        .filter(|task| !task.is_started());
                    if return_new_task
                        && matches!(outcome, CompletionOutcome::Accepted { .. })
                        && let Some(next) = next
                    {
                        started = Some(work.update(&run, |tx| {
                            tx.start_workflow_task(
                                next.scheduled_event_id,
                                RETURNED_TASK_REQUEST_ID,
                                &identity,
                            )
                        })?);
                        work.withdraw_workflow_task(&run);
                    }
                    // The whole state only when the worker gets a new task with it.
                    let started = match started {
                        Some(started) => Some((
                            work.state(&run)?
                                .ok_or_else(|| EngineError::run_not_found(&run))?,
                            started,
                        )),
                        None => None,
                    };
                    Ok((outcome, started))
                },
            )
            .await?;
        let started = match started {
            Some((state, started)) => {
                let queries = self.inner.queries.take_attached(&state.run);
                Some(self.started_view(state, started, queries).await?)
            }
            None => None,
        };
        Ok((outcome, started))
    }

    pub async fn fail_workflow_task(
        &self,
        token: TaskToken,
        cause: WorkflowTaskFailedCause,
        failure: Option<Failure>,
        identity: String,
    ) -> Result<(), HistoryError> {
        let run = token.run();
        self.submit(
            run.partition(self.inner.config.partitions),
            "fail_workflow_task",
            move |work| {
                work.update(&run, |tx| {
                    tx.fail_workflow_task(
                        token.scheduled_event_id,
                        token.started_event_id,
                        cause,
                        failure,
                        &identity,
                    )
                })
            },
        )
        .await
    }

    pub async fn record_activity_task_started(
        &self,
        task: &TaskRef,
        request_id: String,
        identity: String,
    ) -> Result<StartedActivityTask, HistoryError> {
        let run = task.run.clone();
        let partition = run.partition(self.inner.config.partitions);
        if let Some(peers) = self.remote(partition) {
            return peers
                .record_activity_task_started(task.clone(), request_id, identity)
                .await;
        }
        let (scheduled, attempt) = (task.scheduled_event_id, task.attempt);
        self.submit(partition, "record_activity_task_started", move |work| {
            let started = work.update(&run, |tx| {
                tx.start_activity(scheduled, attempt, &request_id, &identity)
            })?;
            let event = match work.event(&run, scheduled)?.and_then(|e| e.attributes) {
                Some(Attributes::ActivityTaskScheduledEventAttributes(event)) => event,
                _ => {
                    return Err(HistoryError::MissingEvent {
                        workflow_id: run.workflow_id.clone(),
                        run_id: run.run_id.clone(),
                        event_id: scheduled,
                    });
                }
            };
            let task = work.read(&run, |state| {
                ActivityTask::from_scheduled(state, started.info, &event)
            })?;
            task.ok_or_else(|| EngineError::run_not_found(&run).into())
        })
        .await
    }

    /// Closes an activity attempt named by a task token, or by run and activity ID.
    pub async fn close_activity(
        &self,
        target: ActivityTarget,
        identity: String,
        outcome: ActivityOutcome,
    ) -> Result<(), HistoryError> {
        let run = target.run.clone();
        self.submit(
            run.partition(self.inner.config.partitions),
            "close_activity",
            move |work| {
                work.update(&run, |tx| {
                    let scheduled = target.scheduled_event_id(tx)?;
                    tx.close_activity(scheduled, target.attempt, &identity, outcome)
                })
            },
        )
        .await
    }

    /// Records a heartbeat; answers whether the activity was canceled, paused or reset.
    pub async fn heartbeat_activity(
        &self,
        target: ActivityTarget,
        details: Option<Payloads>,
    ) -> Result<HeartbeatReply, HistoryError> {
        let run = target.run.clone();
        self.submit(
            run.partition(self.inner.config.partitions),
            "heartbeat_activity",
            move |work| {
                work.update(&run, |tx| {
                    let scheduled = target.scheduled_event_id(tx)?;
                    tx.heartbeat_activity(scheduled, target.attempt, details)
                })
            },
        )
        .await
    }

    /// Applies an operator's action on pending activities (pause, unpause, reset, new
    /// options) to a run (the current one for an empty run ID).
    pub async fn control_activities<T: Send + 'static>(
        &self,
        run: RunKey,
        action: impl FnOnce(&mut Tx<'_>) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, HistoryError> {
        self.submit(
            run.partition(self.inner.config.partitions),
            "control_activities",
            move |work| work.update(&run, action),
        )
        .await
    }

    /// The durable state of a run; an empty run ID means the workflow's current run.
    pub async fn describe(&self, run: RunKey) -> Result<MutableState, HistoryError> {
        let partition = run.partition(self.inner.config.partitions);
        if let Some(peers) = self.remote(partition) {
            return peers.describe(run).await;
        }
        self.read_run(partition, &run, StateDb::run)
    }

    /// A run's own fields (status, event counts, the workflow task) without its
    /// collections: what a history long poll looks at on every change of the run. An empty
    /// run ID means the workflow's current run.
    pub async fn progress(&self, run: RunKey) -> Result<MutableState, HistoryError> {
        let partition = run.partition(self.inner.config.partitions);
        if let Some(peers) = self.remote(partition) {
            return peers.progress(run).await;
        }
        self.read_run(partition, &run, StateDb::run_fields)
    }

    /// Reads a run (the workflow's current one for an empty run ID) from the store here.
    fn read_run(
        &self,
        partition: PartitionId,
        run: &RunKey,
        read: fn(
            &StateDb,
            PartitionId,
            &RunKey,
        ) -> Result<Option<MutableState>, cairn_state::StateError>,
    ) -> Result<MutableState, HistoryError> {
        // On this thread: see `events`.
        let db = &self.inner.db;
        let run_id = if run.run_id.is_empty() {
            db.current_run(partition, &run.workflow())?
                .ok_or_else(|| EngineError::run_not_found(run))?
        } else {
            run.run_id.clone()
        };
        let key = RunKey {
            run_id,
            ..run.clone()
        };
        read(db, partition, &key)?
            .ok_or_else(|| HistoryError::Engine(EngineError::run_not_found(run)))
    }

    /// Durable events of a run with IDs in `[from, to)`.
    pub async fn events(
        &self,
        run: &RunKey,
        from: i64,
        to: i64,
    ) -> Result<Vec<HistoryEvent>, HistoryError> {
        let partition = run.partition(self.inner.config.partitions);
        if let Some(peers) = self.remote(partition) {
            return peers.events(run.clone(), from, to).await;
        }
        // On this thread: a run's events and state are a short range of the store that its
        // memtables and block cache hold, read in microseconds; handing each read to a
        // blocking thread and back cost more than the read (a saturated node spent a third of
        // its CPU in the kernel's scheduler, waking threads).
        let encoded = self.inner.db.events(partition, run, from, to, usize::MAX)?;
        Ok(encoded
            .iter()
            .filter_map(|bytes| HistoryEvent::decode(bytes.as_slice()).ok())
            .collect())
    }

    /// This node's cache of the partitions it owns.
    pub(crate) fn db(&self) -> &StateDb {
        &self.inner.db
    }

    /// How much room this node's cache takes.
    pub fn store_size(&self) -> cairn_state::StoreSize {
        self.inner.db.size()
    }

    /// A partition's part of a listing page (see `cairn_visibility::page`), read from its
    /// visibility index.
    pub async fn visibility_page(
        &self,
        partition: PartitionId,
        request: PageRequest,
    ) -> Result<Page, HistoryError> {
        if let Some(peers) = self.remote(partition) {
            return peers.visibility_page(partition, request).await;
        }
        let db = self.inner.db.clone();
        blocking(move || Ok(db.visibility_page(partition, &request)?)).await
    }

    /// How many tasks of a queue wait in a partition for a worker to start them, from its
    /// task index.
    pub async fn waiting_tasks(
        &self,
        partition: PartitionId,
        namespace_id: String,
        task_queue: String,
        kind: cairn_engine::TaskKind,
    ) -> Result<i64, HistoryError> {
        if let Some(peers) = self.remote(partition) {
            return peers
                .waiting_tasks(partition, namespace_id, task_queue, kind)
                .await;
        }
        let db = self.inner.db.clone();
        blocking(move || {
            let queue = cairn_state::queue_key(&namespace_id, &task_queue, kind);
            Ok(db.waiting_tasks(partition, &queue)?)
        })
        .await
    }

    /// The tasks waiting in each queue, over the partitions this node owns: namespace ID,
    /// queue, kind and count. Summed over the nodes of a cluster, a queue's backlog.
    pub fn waiting_by_queue(&self) -> Vec<(String, String, cairn_engine::TaskKind, i64)> {
        let mut totals = std::collections::BTreeMap::new();
        for (partition, _) in self.owned() {
            let Ok(queues) = self.inner.db.task_queues(partition) else {
                continue;
            };
            for (queue, count) in queues {
                if let Some((namespace_id, name, kind)) = cairn_state::parse_queue(&queue) {
                    totals
                        .entry((namespace_id, name, kind as u8))
                        .or_insert((kind, 0))
                        .1 += count;
                }
            }
        }
        totals
            .into_iter()
            .map(|((namespace_id, name, _), (kind, count))| (namespace_id, name, kind, count))
            .collect()
    }

    /// How many runs of a partition a query matches, from its visibility index.
    pub async fn visibility_count(
        &self,
        partition: PartitionId,
        request: CountRequest,
    ) -> Result<Counts, HistoryError> {
        if let Some(peers) = self.remote(partition) {
            return peers.visibility_count(partition, request).await;
        }
        let db = self.inner.db.clone();
        blocking(move || Ok(db.visibility_count(partition, &request)?)).await
    }
}

/// Which activity a worker's call refers to.
#[derive(Debug, Clone)]
pub struct ActivityTarget {
    pub run: RunKey,
    pub scheduled_event_id: i64,
    /// `None` for the by-ID RPCs, which name no attempt.
    pub attempt: Option<i32>,
    pub activity_id: String,
}

impl ActivityTarget {
    pub fn from_token(token: &TaskToken) -> Self {
        Self {
            run: token.run(),
            scheduled_event_id: token.scheduled_event_id,
            attempt: Some(token.attempt),
            activity_id: token.activity_id.clone(),
        }
    }

    pub fn by_id(run: RunKey, activity_id: String) -> Self {
        Self {
            run,
            scheduled_event_id: 0,
            attempt: None,
            activity_id,
        }
    }

    fn scheduled_event_id(&self, tx: &cairn_engine::events::Tx<'_>) -> Result<i64, EngineError> {
        if self.scheduled_event_id > 0 {
            Ok(self.scheduled_event_id)
        } else {
            tx.activity_by_id(&self.activity_id)
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HistoryError> + Send + 'static,
) -> Result<T, HistoryError> {
    tokio::task::spawn_blocking(f)
        .await
        .expect("state reads do not panic")
}
