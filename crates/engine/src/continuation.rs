//! How a run ends and whether its workflow goes on in a new run: continue-as-new asked by
//! the workflow, a retry by the workflow's retry policy after a failure or a run timeout, or
//! the next run of a cron schedule.
//!
//! The closing event names the new run, and the operation hands the new run's definition
//! out in [`Changes::next_run`]; the history owner creates that run in the same durable
//! record, so a workflow is never left between two runs. The new run's ID derives from the
//! closing run's, so replaying an operation names the same run.

use prost::Message;

use crate::{
    ExecutionStatus, RunKey,
    events::Tx,
    proto::{
        command::ContinueAsNewWorkflowExecutionCommandAttributes,
        common::{Header, Memo, Payloads, SearchAttributes},
        enums::{ContinueAsNewInitiator as Initiator, RetryState, TimeoutType},
        failure::{Failure, TimeoutFailureInfo, failure::FailureInfo},
        history,
    },
    retry::RetryPolicy,
    start::{RunStart, timeouts},
    time::{self, Nanos},
};

#[cfg(doc)]
use crate::Changes;

/// Runs of one workflow ID that follow each other begin at least this far apart, as in
/// Temporal: a workflow that continues as new (or fails) at once waits out the rest.
pub const MIN_RUN_INTERVAL: Nanos = time::NANOS_PER_SEC;

/// The ID of the run that continues `run`, closing at `now`.
pub fn next_run_id(run: &RunKey, now: Nanos) -> String {
    let name = format!(
        "{}/{}/{}/next",
        run.namespace_id, run.workflow_id, run.run_id
    );
    crate::ids::derived_run_id(&name, now)
}

impl Tx<'_> {
    /// The workflow completed with `result`; a cron workflow goes on at its next time.
    pub fn complete_run(&mut self, result: Option<Payloads>, completed_id: i64) {
        let next = self.cron_run(None, result.clone());
        let id = self.append(history::WorkflowExecutionCompletedEventAttributes {
            result,
            workflow_task_completed_event_id: completed_id,
            new_execution_run_id: run_id_of(next.as_deref()),
        });
        self.close(ExecutionStatus::Completed, id);
        self.hand_on(next);
    }

    /// The workflow failed: it is retried if its policy allows, else a cron workflow goes
    /// on at its next time.
    pub fn fail_run(&mut self, failure: Option<Failure>, completed_id: i64) {
        let (retry_state, next) = self.retry_or_cron(failure.as_ref());
        let id = self.append(history::WorkflowExecutionFailedEventAttributes {
            failure,
            retry_state: retry_state as i32,
            workflow_task_completed_event_id: completed_id,
            new_execution_run_id: run_id_of(next.as_deref()),
        });
        self.close(ExecutionStatus::Failed, id);
        self.hand_on(next);
    }

    /// The run or the whole execution timed out. A run timeout is retried like a failure;
    /// once the execution expired nothing goes on.
    pub fn time_out_run(&mut self) {
        let execution_expired = self
            .state
            .execution_expiration
            .is_some_and(|expiry| expiry <= self.now);
        let (retry_state, next) = if execution_expired {
            (RetryState::Timeout, None)
        } else {
            let failure = Failure {
                message: "workflow timeout".into(),
                failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
                    timeout_type: TimeoutType::StartToClose as i32,
                    last_heartbeat_details: None,
                })),
                ..Default::default()
            };
            self.retry_or_cron(Some(&failure))
        };
        // A started workflow task is failed first, as for termination.
        self.force_close_workflow_task();
        let id = self.append(history::WorkflowExecutionTimedOutEventAttributes {
            retry_state: retry_state as i32,
            new_execution_run_id: run_id_of(next.as_deref()),
        });
        self.close(ExecutionStatus::TimedOut, id);
        self.hand_on(next);
    }

    /// The workflow asked to continue as a new run. Unset fields keep the closing run's.
    #[allow(deprecated)] // `failure` and `inherit_build_id` are still written by Temporal 1.32
    pub fn continue_as_new(
        &mut self,
        a: &ContinueAsNewWorkflowExecutionCommandAttributes,
        completed_id: i64,
    ) {
        let state = &self.state;
        let mut next = self.next_run(Initiator::Workflow, 1);
        if let Some(workflow_type) = a.workflow_type.as_ref().filter(|t| !t.name.is_empty()) {
            next.workflow_type = workflow_type.name.clone();
        }
        if let Some(queue) = a.task_queue.as_ref().filter(|q| !q.name.is_empty()) {
            next.task_queue = queue.name.clone();
        }
        next.input = a.input.clone();
        next.header = a.header.clone();
        if a.memo.is_some() {
            next.memo = a.memo.clone();
        }
        if a.search_attributes.is_some() {
            next.search_attributes = a.search_attributes.clone();
        }
        let run_timeout = match time::from_duration(a.workflow_run_timeout.as_ref()) {
            0 => state.run_timeout,
            given => given,
        };
        let task_timeout = match time::from_duration(a.workflow_task_timeout.as_ref()) {
            0 => state.workflow_task_timeout,
            given => given,
        };
        (next.run_timeout, next.task_timeout) =
            timeouts(state.execution_timeout, run_timeout, task_timeout);
        if a.retry_policy.is_some() {
            next.retry_policy = Some(RetryPolicy::for_activity(a.retry_policy.as_ref()));
        }
        if !a.cron_schedule.is_empty() {
            next.cron_schedule = a.cron_schedule.clone();
        }
        next.backoff =
            time::from_duration(a.backoff_start_interval.as_ref()).max(self.rest_of_min_interval());
        next.last_completion_result = a.last_completion_result.clone();
        next.continued_failure = a.failure.clone();
        let id = self.append(history::WorkflowExecutionContinuedAsNewEventAttributes {
            new_execution_run_id: next.run.run_id.clone(),
            workflow_type: Some(crate::proto::common::WorkflowType {
                name: next.workflow_type.clone(),
            }),
            task_queue: Some(crate::events::task_queue(&next.task_queue)),
            input: next.input.clone(),
            workflow_run_timeout: Some(time::duration(next.run_timeout)),
            workflow_task_timeout: Some(time::duration(next.task_timeout)),
            workflow_task_completed_event_id: completed_id,
            backoff_start_interval: a.backoff_start_interval,
            failure: a.failure.clone(),
            last_completion_result: a.last_completion_result.clone(),
            header: next.header.clone(),
            memo: next.memo.clone(),
            search_attributes: next.search_attributes.clone(),
            inherit_build_id: true,
            ..Default::default()
        });
        self.close(ExecutionStatus::ContinuedAsNew, id);
        self.hand_on(Some(Box::new(next)));
    }

    /// Hands the workflow on to its next run, if any: a child's parent hears of the end
    /// only when the last run closes.
    fn hand_on(&mut self, next: Option<Box<RunStart>>) {
        if next.is_some() {
            self.state.notify_parent = false;
            self.aborted_updates_continue();
        }
        self.changes.next_run = next;
    }

    /// A retry if the policy allows one for `failure`, else the next cron run if any.
    fn retry_or_cron(&self, failure: Option<&Failure>) -> (RetryState, Option<Box<RunStart>>) {
        let retry = match &self.state.retry_policy {
            None => Err(RetryState::RetryPolicyNotSet),
            Some(policy) => {
                let (error_type, non_retryable) = application_failure(failure);
                policy.next(
                    self.state.attempt,
                    error_type,
                    non_retryable,
                    self.now,
                    self.state.execution_expiration,
                )
            }
        };
        match retry {
            Ok(backoff) => {
                let mut next = self.next_run(Initiator::Retry, self.state.attempt + 1);
                next.backoff = backoff.max(self.rest_of_min_interval());
                next.continued_failure = failure.cloned();
                (RetryState::InProgress, Some(Box::new(next)))
            }
            Err(retry_state) => (retry_state, self.cron_run(failure, None)),
        }
    }

    /// The next run of a cron workflow, at the first schedule time from now.
    fn cron_run(
        &self,
        failure: Option<&Failure>,
        result: Option<Payloads>,
    ) -> Option<Box<RunStart>> {
        if self.state.cron_schedule.is_empty() {
            return None;
        }
        let schedule = crate::cron::Schedule::parse(&self.state.cron_schedule).ok()?;
        let backoff = schedule.backoff(self.state.execution_time, self.now)?;
        let mut next = self.next_run(Initiator::CronSchedule, 1);
        next.backoff = backoff;
        next.continued_failure = failure.cloned();
        next.last_completion_result = result;
        Some(Box::new(next))
    }

    /// A run like this one (same type, queue, input, timeouts and policies) that continues it.
    fn next_run(&self, initiator: Initiator, attempt: i32) -> RunStart {
        let state = &self.state;
        RunStart {
            run: RunKey {
                run_id: next_run_id(&state.run, self.now),
                ..state.run.clone()
            },
            namespace: state.namespace.clone(),
            workflow_type: state.workflow_type.clone(),
            task_queue: state.task_queue.clone(),
            input: decoded::<Payloads>(&state.start_input),
            header: decoded::<Header>(&state.start_header),
            memo: decoded::<Memo>(&state.memo),
            search_attributes: decoded::<SearchAttributes>(&state.search_attributes),
            priority: None,
            execution_timeout: state.execution_timeout,
            execution_expiration: state.execution_expiration,
            run_timeout: state.run_timeout,
            task_timeout: state.workflow_task_timeout,
            request_id: String::new(),
            identity: state.identity.clone(),
            first_run_id: state.first_run_id.clone(),
            attempt,
            retry_policy: state.retry_policy.clone(),
            cron_schedule: state.cron_schedule.clone(),
            backoff: 0,
            initiator,
            continued_run_id: state.run.run_id.clone(),
            continued_failure: None,
            last_completion_result: None,
            parent: state.parent.clone(),
            scheduled_by: state.scheduled_by.clone(),
            schedule: None,
            reset_points: state.reset_points.clone(),
            user_metadata: None,
            root: state.root.clone(),
        }
    }

    /// What is left of [`MIN_RUN_INTERVAL`] since this run began (after its own backoff).
    fn rest_of_min_interval(&self) -> Nanos {
        (MIN_RUN_INTERVAL - (self.now - self.state.execution_time)).max(0)
    }
}

fn run_id_of(next: Option<&RunStart>) -> String {
    next.map(|next| next.run.run_id.clone()).unwrap_or_default()
}

fn decoded<M: Message + Default>(bytes: &[u8]) -> Option<M> {
    if bytes.is_empty() {
        return None;
    }
    M::decode(bytes).ok()
}

/// The application error type and non-retryable flag of a failure; other failures (timeouts)
/// have no type and may be retried.
fn application_failure(failure: Option<&Failure>) -> (&str, bool) {
    match failure.and_then(|f| f.failure_info.as_ref()) {
        Some(FailureInfo::ApplicationFailureInfo(info)) => (&info.r#type, info.non_retryable),
        _ => ("", false),
    }
}
