//! The history service's API: routes each call to the loop that owns the run's partition and
//! waits until its effect is durable. Reads come from RocksDB, which holds only what Kafka
//! acknowledged and this owner read back.

use std::sync::Arc;

use cairn_engine::{
    EngineError, MutableState, PartitionId, RunKey, TaskRef, WorkflowKey,
    activity::ActivityOutcome,
    proto::{
        HistoryEvent, common::Payloads, enums::WorkflowTaskFailedCause, failure::Failure,
        workflowservice::StartWorkflowExecutionRequest,
    },
    signal::Signal,
    start::{StartDecision, decide_start},
    token::TaskToken,
    workflow_task::{Completion, CompletionOutcome},
};
use cairn_log::{KafkaConfig, LogProducer, LogReader};
use cairn_state::StateDb;
use prost::Message;
use tokio::sync::{mpsc, oneshot};

use crate::{
    Clock, HistoryError, SharedTaskSink,
    partition::{Op, Outcome, Partition, PartitionParts, Work, not_found},
    poll::{StartedActivityTask, StartedWorkflowTask},
};

#[derive(Debug, Clone)]
pub struct HistoryConfig {
    pub partitions: u32,
    pub topic: String,
    /// This node's name, stamped on the records it writes.
    pub node_id: String,
    pub kafka: KafkaConfig,
}

#[derive(Clone)]
pub struct History {
    inner: Arc<Inner>,
}

struct Inner {
    partitions: u32,
    senders: Vec<mpsc::Sender<Op>>,
    db: StateDb,
    clock: Arc<dyn Clock>,
    changed: crate::Changed,
    stop: tokio_util::sync::CancellationToken,
    loops: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// The result of a start: the run that answers it and whether this request created it.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub run_id: String,
    pub started: bool,
}

impl History {
    /// Claims every partition (catching up with the log first) and starts their loops.
    pub async fn start(
        config: HistoryConfig,
        db: StateDb,
        sink: SharedTaskSink,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, HistoryError> {
        let producer = LogProducer::connect(&config.kafka)?;
        let reader = Arc::new(LogReader::connect(&config.kafka)?);
        let (changed, _) = tokio::sync::broadcast::channel(1024);
        let claims = (0..config.partitions).map(|id| {
            Partition::claim(PartitionParts {
                id,
                topic: config.topic.clone(),
                node: config.node_id.clone(),
                db: db.clone(),
                producer: producer.clone(),
                reader: Arc::clone(&reader),
                sink: Arc::clone(&sink),
                clock: Arc::clone(&clock),
                changed: changed.clone(),
            })
        });
        let partitions = futures::future::try_join_all(claims).await?;
        let mut senders = Vec::with_capacity(partitions.len());
        let stop = tokio_util::sync::CancellationToken::new();
        let mut loops = Vec::with_capacity(partitions.len());
        for partition in partitions {
            let (tx, rx) = mpsc::channel(4096);
            senders.push(tx);
            loops.push(tokio::spawn(partition.run(rx, stop.clone())));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                partitions: config.partitions,
                senders,
                db,
                clock,
                changed,
                stop,
                loops: std::sync::Mutex::new(loops),
            }),
        })
    }

    /// Stops every partition loop (requests still queued get `Unavailable`) and waits for them.
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        let loops = std::mem::take(
            &mut *self
                .inner
                .loops
                .lock()
                .expect("loop list lock is not poisoned"),
        );
        for handle in loops {
            if let Err(error) = handle.await {
                tracing::error!(error = %error, "partition loop panicked");
            }
        }
    }

    pub fn partitions(&self) -> u32 {
        self.inner.partitions
    }

    /// Receives, after every durable batch, the workflows it changed.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Vec<WorkflowKey>>> {
        self.inner.changed.subscribe()
    }

    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    fn partition_of(&self, workflow: &WorkflowKey) -> PartitionId {
        workflow.partition(self.inner.partitions)
    }

    /// Runs `f` in the partition's loop and returns its value once its effects are durable.
    async fn submit<T: Send + 'static>(
        &self,
        partition: PartitionId,
        f: impl FnOnce(&mut Work<'_>) -> Result<T, HistoryError> + Send + 'static,
    ) -> Result<T, HistoryError> {
        let (reply, result) = oneshot::channel();
        let op: Op = Box::new(move |work: &mut Work<'_>| {
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
        });
        let sender = &self.inner.senders[partition as usize];
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
        let workflow = WorkflowKey {
            namespace_id: namespace_id.clone(),
            workflow_id: request.workflow_id.clone(),
        };
        self.submit(self.partition_of(&workflow), move |work| {
            let current = work.current_state(&workflow)?;
            let conflict = if signal.is_some() && request.workflow_id_conflict_policy == 0 {
                // Signal-with-start signals a running workflow instead of failing.
                cairn_engine::proto::enums::WorkflowIdConflictPolicy::UseExisting
            } else {
                request.workflow_id_conflict_policy()
            };
            let decision = decide_start(
                current.as_ref(),
                &request.request_id,
                request.workflow_id_reuse_policy(),
                conflict,
            )?;
            let run_id = match decision {
                StartDecision::Existing { run_id, started } => {
                    if let Some(signal) = signal {
                        let run = RunKey {
                            namespace_id: namespace_id.clone(),
                            workflow_id: workflow.workflow_id.clone(),
                            run_id: run_id.clone(),
                        };
                        work.update(&run, |tx| tx.signal(signal))?;
                    }
                    return Ok(Started { run_id, started });
                }
                StartDecision::TerminateThenNew => {
                    let current = current.expect("terminate needs a current run");
                    work.update(&current.run, |tx| {
                        tx.terminate(
                            "TerminateExisting WorkflowIdConflictPolicy",
                            None,
                            &request.identity,
                        )
                    })?;
                    run_id
                }
                StartDecision::New => run_id,
            };
            let run = RunKey {
                namespace_id,
                workflow_id: workflow.workflow_id.clone(),
                run_id: run_id.clone(),
            };
            let (state, changes) =
                cairn_engine::start::start(run.clone(), &namespace, &request, work.now());
            work.stage(state, changes);
            if let Some(signal) = signal {
                // Temporal writes the signal right after the started event, before the first
                // workflow task is scheduled; the engine schedules it once, up front.
                work.update(&run, |tx| tx.signal(signal))?;
            }
            Ok(Started {
                run_id,
                started: true,
            })
        })
        .await
    }

    pub async fn signal(&self, run: RunKey, signal: Signal) -> Result<(), HistoryError> {
        self.submit(run.partition(self.inner.partitions), move |work| {
            work.update(&run, |tx| tx.signal(signal))
        })
        .await
    }

    pub async fn request_cancel(
        &self,
        run: RunKey,
        identity: String,
        reason: String,
    ) -> Result<(), HistoryError> {
        self.submit(run.partition(self.inner.partitions), move |work| {
            work.update(&run, |tx| tx.request_cancel(&identity, &reason))
        })
        .await
    }

    pub async fn terminate(
        &self,
        run: RunKey,
        reason: String,
        details: Option<Payloads>,
        identity: String,
    ) -> Result<(), HistoryError> {
        self.submit(run.partition(self.inner.partitions), move |work| {
            work.update(&run, |tx| tx.terminate(&reason, details, &identity))
        })
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
        let scheduled = task.scheduled_event_id;
        let (state, started) = self
            .submit(run.partition(self.inner.partitions), move |work| {
                let started = work.update(&run, |tx| {
                    tx.start_workflow_task(scheduled, &request_id, &identity)
                })?;
                let state = work.state(&run)?.ok_or_else(|| not_found(&run))?;
                Ok((state, started))
            })
            .await?;
        // A worker polling its sticky queue has the run cached: it gets only what is new
        // since the task it last completed, as Temporal sends it.
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
        })
    }

    /// Ends sticky execution of a run; a task waiting on the sticky queue moves to the
    /// normal queue.
    pub async fn reset_sticky(&self, run: RunKey) -> Result<(), HistoryError> {
        self.submit(run.partition(self.inner.partitions), move |work| {
            work.update(&run, |tx| {
                tx.reset_sticky();
                Ok(())
            })
        })
        .await
    }

    pub async fn complete_workflow_task(
        &self,
        token: TaskToken,
        completion: Completion,
    ) -> Result<(CompletionOutcome, MutableState), HistoryError> {
        let run = token.run();
        self.submit(run.partition(self.inner.partitions), move |work| {
            let outcome = work.update(&run, |tx| {
                tx.complete_workflow_task(
                    token.scheduled_event_id,
                    token.started_event_id,
                    &completion,
                )
            })?;
            let state = work.state(&run)?.ok_or_else(|| not_found(&run))?;
            Ok((outcome, state))
        })
        .await
    }

    pub async fn fail_workflow_task(
        &self,
        token: TaskToken,
        cause: WorkflowTaskFailedCause,
        failure: Option<Failure>,
        identity: String,
    ) -> Result<(), HistoryError> {
        let run = token.run();
        self.submit(run.partition(self.inner.partitions), move |work| {
            work.update(&run, |tx| {
                tx.fail_workflow_task(
                    token.scheduled_event_id,
                    token.started_event_id,
                    cause,
                    failure,
                    &identity,
                )
            })
        })
        .await
    }

    pub async fn record_activity_task_started(
        &self,
        task: &TaskRef,
        request_id: String,
        identity: String,
    ) -> Result<StartedActivityTask, HistoryError> {
        let run = task.run.clone();
        let (scheduled, attempt) = (task.scheduled_event_id, task.attempt);
        self.submit(run.partition(self.inner.partitions), move |work| {
            let started = work.update(&run, |tx| {
                tx.start_activity(scheduled, attempt, &request_id, &identity)
            })?;
            let state = work.state(&run)?.ok_or_else(|| not_found(&run))?;
            Ok(StartedActivityTask {
                state,
                info: started.info,
            })
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
        self.submit(run.partition(self.inner.partitions), move |work| {
            work.update(&run, |tx| {
                let scheduled = target.scheduled_event_id(tx)?;
                tx.close_activity(scheduled, target.attempt, &identity, outcome)
            })
        })
        .await
    }

    /// Records a heartbeat; returns whether cancellation of the activity was requested.
    pub async fn heartbeat_activity(
        &self,
        target: ActivityTarget,
        details: Option<Payloads>,
    ) -> Result<bool, HistoryError> {
        let run = target.run.clone();
        self.submit(run.partition(self.inner.partitions), move |work| {
            work.update(&run, |tx| {
                let scheduled = target.scheduled_event_id(tx)?;
                tx.heartbeat_activity(scheduled, target.attempt, details)
            })
        })
        .await
    }

    /// The durable state of a run; an empty run ID means the workflow's current run.
    pub async fn describe(&self, run: RunKey) -> Result<MutableState, HistoryError> {
        let db = self.inner.db.clone();
        let partition = run.partition(self.inner.partitions);
        blocking(move || {
            let run_id = if run.run_id.is_empty() {
                db.current_run(partition, &run.workflow())?
                    .ok_or_else(|| not_found(&run))?
            } else {
                run.run_id.clone()
            };
            let key = RunKey {
                run_id,
                ..run.clone()
            };
            db.run(partition, &key)?
                .ok_or_else(|| HistoryError::Engine(not_found(&run)))
        })
        .await
    }

    /// Durable events of a run with IDs in `[from, to)`.
    pub async fn events(
        &self,
        run: &RunKey,
        from: i64,
        to: i64,
    ) -> Result<Vec<HistoryEvent>, HistoryError> {
        let db = self.inner.db.clone();
        let partition = run.partition(self.inner.partitions);
        let run = run.clone();
        blocking(move || {
            let encoded = db.events(partition, &run, from, to, usize::MAX)?;
            Ok(encoded
                .iter()
                .filter_map(|bytes| HistoryEvent::decode(bytes.as_slice()).ok())
                .collect())
        })
        .await
    }

    /// Every run stored in a partition (for visibility).
    pub async fn runs(&self, partition: PartitionId) -> Result<Vec<MutableState>, HistoryError> {
        let db = self.inner.db.clone();
        blocking(move || Ok(db.runs(partition)?)).await
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
