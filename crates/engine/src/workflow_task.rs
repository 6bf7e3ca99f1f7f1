//! Workflow tasks: started, completed, failed and timed out, with Temporal's transient
//! retries (a failed task's next attempts stay out of history until one completes).

use crate::{
    EngineError, commands,
    events::{Tx, workflow_task_scheduled},
    proto::{
        HistoryEvent,
        enums::{TimeoutType, WorkflowTaskFailedCause},
        failure::Failure,
        history,
    },
    time,
};

/// What a worker needs to know about the workflow task it was given.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StartedWorkflowTask {
    pub scheduled_event_id: i64,
    pub started_event_id: i64,
    pub attempt: i32,
    /// The scheduled and started events of a transient task: not in history, but shown to the
    /// worker after the history it reads.
    pub transient_events: Vec<HistoryEvent>,
}

/// The worker's completion of a workflow task.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub identity: String,
    pub commands: Vec<crate::proto::command::Command>,
    /// SDK and metering metadata the service copies into `WorkflowTaskCompleted`.
    pub completed_attributes: Option<crate::proto::history::WorkflowTaskCompletedEventAttributes>,
    pub force_create_new_workflow_task: bool,
    /// The worker's sticky queue, when it asks for the next tasks of this run.
    pub sticky: Option<Sticky>,
    /// Protocol messages: the worker's answers to updates.
    pub messages: Vec<crate::proto::protocol::Message>,
}

/// A worker's request for sticky execution: its own queue, and how long a task may wait
/// there before it moves back to the run's normal queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Sticky {
    pub task_queue: String,
    pub schedule_to_start_timeout: crate::time::Nanos,
}

/// How a completion went: accepted, or failed for a bad command (the task is then recorded
/// as failed, and the worker gets `InvalidArgument` with the message).
#[derive(Debug, Clone, PartialEq)]
pub enum CompletionOutcome {
    /// Accepted. Activities the worker asked to run eagerly are already recorded as started
    /// for it and listed here; they never reach matching.
    Accepted {
        eager_activities: Vec<crate::activity::ActivityTask>,
    },
    CommandRejected {
        cause: WorkflowTaskFailedCause,
        message: String,
    },
    /// A speculative task that only rejected updates: nothing was written, and the worker
    /// must drop the task's events, keeping history up to this event.
    Discarded { reset_history_event_id: i64 },
}

impl Tx<'_> {
    /// Records the pending workflow task as started by a poller.
    pub fn start_workflow_task(
        &mut self,
        scheduled_event_id: i64,
        request_id: &str,
        identity: &str,
    ) -> Result<StartedWorkflowTask, EngineError> {
        if !self.state.is_open() {
            return Err(EngineError::workflow_completed());
        }
        let Some(task) = self.state.workflow_task.clone() else {
            return Err(EngineError::workflow_task_not_found());
        };
        if task.scheduled_event_id != scheduled_event_id {
            return Err(EngineError::workflow_task_not_found());
        }
        if task.is_started() {
            if task.request_id == request_id {
                return Ok(self.started_view());
            }
            return Err(EngineError::FailedPrecondition(
                "Workflow task already started.".into(),
            ));
        }
        let mut task = task;
        if task.transient && task.scheduled_event_id != self.state.next_event_id {
            // Events arrived since this retry was scheduled: it becomes an ordinary task.
            task.transient = false;
            task.speculative = false;
            task.attempt = 1;
            task.timeout = self.state.workflow_task_timeout;
            task.scheduled_event_id = self.state.next_event_id;
            task.scheduled_time = self.now;
            self.append(workflow_task_scheduled(&task));
        }
        task.started_time = self.now;
        self.send_updates();
        task.request_id = request_id.to_string();
        task.identity = identity.to_string();
        task.started_event_id = if task.transient {
            task.scheduled_event_id + 1
        } else {
            self.append(started_attributes(&task, self.state, &self.limits))
        };
        self.state.workflow_task = Some(task);
        Ok(self.started_view())
    }

    fn started_view(&self) -> StartedWorkflowTask {
        let task = self
            .state
            .workflow_task
            .as_ref()
            .expect("a started workflow task exists");
        let transient_events = if task.transient {
            let scheduled = HistoryEvent {
                event_id: task.scheduled_event_id,
                event_time: Some(time::timestamp(task.scheduled_time)),
                event_type: crate::proto::enums::EventType::WorkflowTaskScheduled as i32,
                task_id: task.scheduled_event_id,
                attributes: Some(workflow_task_scheduled(task).into()),
                ..Default::default()
            };
            let started = HistoryEvent {
                event_id: task.started_event_id,
                event_time: Some(time::timestamp(task.started_time)),
                event_type: crate::proto::enums::EventType::WorkflowTaskStarted as i32,
                task_id: task.started_event_id,
                attributes: Some(started_attributes(task, self.state, &self.limits).into()),
                ..Default::default()
            };
            vec![scheduled, started]
        } else {
            Vec::new()
        };
        StartedWorkflowTask {
            scheduled_event_id: task.scheduled_event_id,
            started_event_id: task.started_event_id,
            attempt: task.attempt,
            transient_events,
        }
    }

    /// Checks that a worker's token names the workflow task that is started right now.
    fn check_started_task(
        &self,
        scheduled_event_id: i64,
        started_event_id: i64,
    ) -> Result<(), EngineError> {
        if !self.state.is_open() {
            return Err(EngineError::workflow_completed());
        }
        match &self.state.workflow_task {
            Some(task)
                if task.is_started()
                    && task.scheduled_event_id == scheduled_event_id
                    && task.started_event_id == started_event_id =>
            {
                Ok(())
            }
            _ => Err(EngineError::workflow_task_not_found()),
        }
    }

    /// Writes a transient task's scheduled and started events, which a completion makes real,
    /// exactly as the worker was shown them (same times and history size).
    fn write_transient_events(&mut self) {
        let task = self
            .state
            .workflow_task
            .clone()
            .expect("a started workflow task exists");
        if !task.transient {
            return;
        }
        debug_assert_eq!(task.scheduled_event_id, self.state.next_event_id);
        // As the worker saw it: computed before the scheduled event is written.
        let started = started_attributes(&task, self.state, &self.limits);
        self.write_at(workflow_task_scheduled(&task).into(), task.scheduled_time);
        self.write_at(started.into(), task.started_time);
    }

    /// Completes the started workflow task with the worker's commands.
    pub fn complete_workflow_task(
        &mut self,
        scheduled_event_id: i64,
        started_event_id: i64,
        completion: &Completion,
    ) -> Result<CompletionOutcome, EngineError> {
        self.check_started_task(scheduled_event_id, started_event_id)?;
        commands::check_sequence(&completion.commands).map_err(EngineError::InvalidArgument)?;
        if let Err(message) = crate::update::validate_messages(self.state, &completion.messages) {
            let cause = WorkflowTaskFailedCause::BadUpdateWorkflowExecutionMessage;
            let rejection = commands::Rejection::new(cause, message);
            self.fail_started_task(cause, Some(rejection.failure()), &completion.identity);
            return Ok(CompletionOutcome::CommandRejected {
                cause,
                message: rejection.message,
            });
        }
        if let Err(rejection) = commands::validate(&self.limits, self.state, &completion.commands) {
            let attempt = self.state.workflow_task.as_ref().map_or(1, |t| t.attempt);
            if attempt > 1 && rejection.cause != WorkflowTaskFailedCause::UnhandledCommand {
                // Like Temporal, a retry that fails again is dropped rather than recorded: it
                // stays started until its timeout, so a broken worker cannot spin.
                return Err(EngineError::InvalidArgument(rejection.message));
            }
            self.fail_started_task(
                rejection.cause,
                Some(rejection.failure()),
                &completion.identity,
            );
            return Ok(CompletionOutcome::CommandRejected {
                cause: rejection.cause,
                message: rejection.message,
            });
        }
        if self.discards_speculative_task(completion) {
            return Ok(self.discard_speculative_task(completion));
        }
        self.write_transient_events();
        let completed = history::WorkflowTaskCompletedEventAttributes {
            scheduled_event_id,
            started_event_id,
            identity: completion.identity.clone(),
            ..completion.completed_attributes.clone().unwrap_or_default()
        };
        let build_id = crate::reset::build_id_of(&completed).to_string();
        let completed_event_id = self.append(completed);
        self.state
            .note_reset_point(&build_id, completed_event_id, self.now);
        self.state.last_completed_started_event_id = started_event_id;
        self.state.workflow_task = None;
        self.take_sticky(completion.sticky.as_ref());
        let mut needs_task = completion.force_create_new_workflow_task;
        let mut answered = vec![false; completion.messages.len()];
        let mut ended = Vec::new();
        for command in &completion.commands {
            if !self.state.is_open() {
                break;
            }
            if let Some(
                crate::proto::command::command::Attributes::ProtocolMessageCommandAttributes(a),
            ) = &command.attributes
            {
                // The message is handled where the worker placed it among the commands.
                if let Some(index) = completion
                    .messages
                    .iter()
                    .position(|m| m.id == a.message_id)
                    && !answered[index]
                {
                    answered[index] = true;
                    self.apply_update_message(&completion.messages[index], &mut ended);
                }
                continue;
            }
            self.user_metadata = command.user_metadata.clone();
            needs_task |= commands::apply(self, command, completed_event_id, &completion.identity);
            self.user_metadata = None;
        }
        // Messages no command placed follow all commands.
        for (index, message) in completion.messages.iter().enumerate() {
            if !answered[index] && self.state.is_open() {
                self.apply_update_message(message, &mut ended);
            }
        }
        self.changes.ended_updates.extend(ended);
        // A heartbeat need not answer updates; a run that closed aborted them already.
        if self.state.is_open() && !completion.force_create_new_workflow_task {
            self.reject_unprocessed_updates();
        }
        // Updates admitted while the task ran need a task of their own.
        needs_task |= self.has_admitted_updates();
        if self.state.is_open()
            && let Some(reason) = self.limits.history_exceeded(self.state)
        {
            // Temporal's hard limit: a run whose history grew too large ends here.
            self.terminate(reason, None, "history-service")?;
        }
        let mut eager_activities = Vec::new();
        if self.state.is_open() {
            let flushed = self.flush_buffered();
            if flushed > 0 || needs_task {
                self.schedule_workflow_task_if_none();
            }
            eager_activities = self.start_eager_activities(
                &completion.commands,
                started_event_id,
                &completion.identity,
            );
        }
        Ok(CompletionOutcome::Accepted { eager_activities })
    }

    /// Whether a completion leaves no trace: a speculative task, no new events, and nothing
    /// from the worker but rejections of updates.
    fn discards_speculative_task(&self, completion: &Completion) -> bool {
        let speculative = self
            .state
            .workflow_task
            .as_ref()
            .is_some_and(|task| task.speculative);
        speculative
            && !self.state.has_buffered_events()
            && !completion.force_create_new_workflow_task
            && crate::update::only_rejections(&completion.messages)
            && completion.commands.iter().all(|command| {
                matches!(
                    command.attributes,
                    Some(crate::proto::command::command::Attributes::ProtocolMessageCommandAttributes(_))
                )
            })
    }

    fn discard_speculative_task(&mut self, completion: &Completion) -> CompletionOutcome {
        let mut ended = Vec::new();
        for message in &completion.messages {
            self.apply_update_message(message, &mut ended);
        }
        self.changes.ended_updates.extend(ended);
        self.reject_unprocessed_updates();
        self.state.workflow_task = None;
        self.take_sticky(completion.sticky.as_ref());
        if self.has_admitted_updates() {
            self.schedule_speculative_workflow_task();
        }
        CompletionOutcome::Discarded {
            reset_history_event_id: self.state.next_event_id - 1,
        }
    }

    /// Sticky execution as the completing worker asks for it: a completion without sticky
    /// attributes ends it, as in Temporal.
    fn take_sticky(&mut self, sticky: Option<&Sticky>) {
        match sticky {
            Some(sticky) if !sticky.task_queue.is_empty() => {
                self.state.sticky_task_queue = sticky.task_queue.clone();
                self.state.sticky_schedule_to_start_timeout = sticky.schedule_to_start_timeout;
            }
            _ => self.clear_sticky_queue(),
        }
    }

    /// Whether updates wait for a workflow task to carry their requests to the worker.
    fn has_admitted_updates(&self) -> bool {
        self.state
            .updates
            .iter()
            .any(crate::update::UpdateInfo::awaits_request_message)
    }

    /// The worker reports that it could not process the workflow task.
    pub fn fail_workflow_task(
        &mut self,
        scheduled_event_id: i64,
        started_event_id: i64,
        cause: WorkflowTaskFailedCause,
        failure: Option<Failure>,
        identity: &str,
    ) -> Result<(), EngineError> {
        self.check_started_task(scheduled_event_id, started_event_id)?;
        if cause == WorkflowTaskFailedCause::GrpcMessageTooLarge {
            // As Temporal: a completion too large to send never succeeds, so the workflow
            // ends at once instead of retrying the task forever; the terminate closes the
            // started task as forced.
            return self.terminate(GRPC_MESSAGE_TOO_LARGE, None, "history-service");
        }
        self.fail_started_task(cause, failure, identity);
        Ok(())
    }

    /// Records the started task as failed (a transient attempt leaves no event), writes the
    /// events that waited for it and schedules the next attempt.
    fn fail_started_task(
        &mut self,
        cause: WorkflowTaskFailedCause,
        failure: Option<Failure>,
        identity: &str,
    ) {
        let task = self
            .state
            .workflow_task
            .take()
            .expect("a started workflow task exists");
        if !task.transient {
            self.append(history::WorkflowTaskFailedEventAttributes {
                scheduled_event_id: task.scheduled_event_id,
                started_event_id: task.started_event_id,
                cause: cause as i32,
                failure,
                identity: identity.to_string(),
                ..Default::default()
            });
        }
        self.retry_workflow_task(task.attempt);
    }

    fn retry_workflow_task(&mut self, failed_attempt: i32) {
        // The worker that failed or lost the task is not trusted with the next one.
        self.clear_sticky_queue();
        let flushed = self.flush_buffered();
        // New events make the next task an ordinary one (its worker must see them).
        let attempt = if flushed > 0 { 1 } else { failed_attempt + 1 };
        self.schedule_workflow_task(attempt);
    }

    /// The started workflow task ran past its start-to-close timeout.
    pub fn time_out_workflow_task(
        &mut self,
        scheduled_event_id: i64,
        started_event_id: i64,
    ) -> Result<(), EngineError> {
        self.check_started_task(scheduled_event_id, started_event_id)?;
        let task = self.state.workflow_task.take().expect("checked above");
        if !task.transient {
            self.append(history::WorkflowTaskTimedOutEventAttributes {
                scheduled_event_id: task.scheduled_event_id,
                started_event_id: task.started_event_id,
                timeout_type: TimeoutType::StartToClose as i32,
            });
        }
        self.retry_workflow_task(task.attempt);
        Ok(())
    }

    /// Fails a started workflow task because the run is being closed from outside
    /// (termination), as Temporal does, writing the events that waited for it.
    pub fn force_close_workflow_task(&mut self) {
        let Some(task) = self.state.workflow_task.take() else {
            return;
        };
        if task.is_started() && !task.transient {
            self.append(history::WorkflowTaskFailedEventAttributes {
                scheduled_event_id: task.scheduled_event_id,
                started_event_id: task.started_event_id,
                cause: WorkflowTaskFailedCause::ForceCloseCommand as i32,
                identity: "history-service".into(),
                ..Default::default()
            });
        }
        self.flush_buffered();
    }
}

fn started_attributes(
    task: &crate::state::WorkflowTaskInfo,
    state: &crate::state::MutableState,
    limits: &crate::limits::Limits,
) -> history::WorkflowTaskStartedEventAttributes {
    history::WorkflowTaskStartedEventAttributes {
        scheduled_event_id: task.scheduled_event_id,
        identity: task.identity.clone(),
        request_id: task.request_id.clone(),
        history_size_bytes: state.history_size_bytes,
        suggest_continue_as_new: limits.suggests_continue_as_new(state),
        ..Default::default()
    }
}

impl Tx<'_> {
    fn clear_sticky_queue(&mut self) {
        self.state.sticky_task_queue.clear();
        self.state.sticky_schedule_to_start_timeout = 0;
    }

    /// Ends sticky execution (ResetStickyTaskQueue, or the sticky worker shut down). A task
    /// still waiting on the sticky queue moves to the normal queue; nothing is written.
    pub fn reset_sticky(&mut self) {
        self.clear_sticky_queue();
        let Some(task) = &mut self.state.workflow_task else {
            return;
        };
        if task.is_started() || !task.is_sticky() {
            return;
        }
        task.task_queue = std::mem::take(&mut task.normal_task_queue);
        self.changes
            .tasks
            .push(crate::TaskRef::workflow(&self.state.run, task));
    }

    /// A task waited on the sticky queue past its schedule-to-start timeout: it is recorded as
    /// timed out and scheduled again on the normal queue.
    pub fn time_out_sticky_workflow_task(&mut self, scheduled_event_id: i64) {
        let due = self.state.workflow_task.as_ref().is_some_and(|t| {
            t.scheduled_event_id == scheduled_event_id
                && !t.is_started()
                && t.is_sticky()
                && t.scheduled_time + self.state.sticky_schedule_to_start_timeout <= self.now
        });
        if !due || !self.state.is_open() {
            return;
        }
        let task = self.state.workflow_task.take().expect("checked above");
        if !task.transient {
            self.append(history::WorkflowTaskTimedOutEventAttributes {
                scheduled_event_id: task.scheduled_event_id,
                started_event_id: 0,
                timeout_type: TimeoutType::ScheduleToStart as i32,
            });
        }
        self.retry_workflow_task(task.attempt);
    }
}

/// The reason a workflow is terminated with when its worker could not send a completion
/// (Temporal's words).
pub const GRPC_MESSAGE_TOO_LARGE: &str = "GrpcMessageTooLarge";

/// Most activities one completion may start eagerly (Temporal's default).
pub const MAX_EAGER_ACTIVITIES: usize = 3;

impl Tx<'_> {
    /// Starts, for the completing worker, the activities it asked to run eagerly on the
    /// workflow's own task queue (Temporal's eager activity dispatch): they skip matching.
    fn start_eager_activities(
        &mut self,
        commands: &[crate::proto::command::Command],
        started_event_id: i64,
        identity: &str,
    ) -> Vec<crate::activity::ActivityTask> {
        use crate::proto::command::command::Attributes as C;
        let mut started = Vec::new();
        for command in commands {
            let Some(C::ScheduleActivityTaskCommandAttributes(a)) = &command.attributes else {
                continue;
            };
            if !a.request_eager_execution || started.len() >= MAX_EAGER_ACTIVITIES {
                continue;
            }
            let Some(activity) = self.state.activity_by_id(&a.activity_id) else {
                continue;
            };
            if activity.task_queue != self.state.task_queue
                || activity.is_started()
                || activity.attempt != 1
            {
                continue;
            }
            let (scheduled_event_id, stamp) =
                (activity.scheduled_event_id, activity.current_stamp());
            // Derived from the task, so replaying the same completion gives the same ID.
            let request_id = format!("eager-{started_event_id}-{scheduled_event_id}");
            let Ok(activity) =
                self.start_activity(scheduled_event_id, stamp, &request_id, identity)
            else {
                continue;
            };
            self.changes.tasks.retain(|t| {
                !(t.kind == crate::TaskKind::Activity && t.scheduled_event_id == scheduled_event_id)
            });
            started.push(crate::activity::ActivityTask {
                run: self.state.run.clone(),
                workflow_type: self.state.workflow_type.clone(),
                info: activity.info,
                input: crate::activity::opt_bytes(&a.input),
                header: crate::activity::opt_bytes(&a.header),
            });
        }
        started
    }
}
