//! Starting a run: its first events, timeouts, and the workflow ID policies.

use super::builders::{
    Run, T0, TASK_QUEUE, attrs, run_key, start_request, types, workflow_task_ref,
};
use crate::{
    EngineError, ExecutionStatus, MutableState,
    proto::enums::{
        EventType, WorkflowIdConflictPolicy as Conflict, WorkflowIdReusePolicy as Reuse,
    },
    start::{StartDecision, decide_start, start_with_signal},
    time::{self, secs},
};

#[test]
fn new_run_writes_started_then_first_workflow_task_scheduled() {
    let run = Run::start();

    assert_eq!(
        types(&run.history),
        [
            EventType::WorkflowExecutionStarted,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert_eq!(run.history[0].event_id, 1);
    assert_eq!(run.history[1].event_id, 2);
    assert_eq!(run.state.next_event_id, 3);
    assert_eq!(run.state.status, ExecutionStatus::Running);
    assert_eq!(run.state.start_time, T0);

    let started = attrs!(run.history[0], WorkflowExecutionStartedEventAttributes);
    assert_eq!(
        started.workflow_type.as_ref().unwrap().name,
        "OrderWorkflow"
    );
    assert_eq!(started.task_queue.as_ref().unwrap().name, TASK_QUEUE);
    assert_eq!(started.input, start_request().input);
    assert_eq!(started.attempt, 1);
    assert_eq!(started.workflow_id, "order-1");
    assert_eq!(started.original_execution_run_id, "run-1");
    assert_eq!(started.first_execution_run_id, "run-1");
    assert_eq!(started.identity, "client-1");
    assert_eq!(
        started.workflow_task_timeout,
        Some(time::duration(secs(10))),
        "Temporal's default"
    );
    assert_eq!(
        started.workflow_execution_expiration_time, None,
        "no execution timeout"
    );

    let scheduled = attrs!(run.history[1], WorkflowTaskScheduledEventAttributes);
    assert_eq!(scheduled.task_queue.as_ref().unwrap().name, TASK_QUEUE);
    assert_eq!(
        scheduled.start_to_close_timeout,
        Some(time::duration(secs(10)))
    );
    assert_eq!(scheduled.attempt, 1);
}

#[test]
fn signal_with_start_writes_the_signal_before_the_first_workflow_task() {
    let signal = crate::signal::Signal {
        name: "go".into(),
        request_id: "signal-1".into(),
        ..Default::default()
    };
    let (state, changes) =
        start_with_signal(run_key(), "default", &start_request(), signal, T0).unwrap();
    assert_eq!(
        types(&changes.events),
        [
            EventType::WorkflowExecutionStarted,
            EventType::WorkflowExecutionSignaled,
            EventType::WorkflowTaskScheduled
        ]
    );
    assert_eq!(state.workflow_task.as_ref().unwrap().scheduled_event_id, 3);
    assert_eq!(changes.tasks, [workflow_task_ref(3, 1)]);
    assert_eq!(state.signal_count, 1);
}

#[test]
fn new_run_hands_its_first_workflow_task_to_matching() {
    let run = Run::start();

    assert_eq!(run.tasks, [workflow_task_ref(2, 1)]);
    let task = run.workflow_task_info();
    assert_eq!(task.scheduled_event_id, 2);
    assert!(!task.is_started());
    assert!(!task.is_transient());
}

#[test]
fn workflow_task_timeout_is_capped_at_two_minutes_and_at_the_run_timeout() {
    let long = Run::start_with(
        &crate::proto::workflowservice::StartWorkflowExecutionRequest {
            workflow_task_timeout: Some(time::duration(secs(600))),
            ..start_request()
        },
    );
    assert_eq!(long.state.workflow_task_timeout, secs(120));

    let short_run = Run::start_with(
        &crate::proto::workflowservice::StartWorkflowExecutionRequest {
            workflow_run_timeout: Some(time::duration(secs(5))),
            ..start_request()
        },
    );
    assert_eq!(short_run.state.workflow_task_timeout, secs(5));
}

#[test]
fn execution_timeout_bounds_the_run_and_sets_both_expirations() {
    let run = Run::start_with(
        &crate::proto::workflowservice::StartWorkflowExecutionRequest {
            workflow_execution_timeout: Some(time::duration(secs(60))),
            workflow_run_timeout: Some(time::duration(secs(90))),
            ..start_request()
        },
    );

    assert_eq!(
        run.state.run_timeout,
        secs(60),
        "a run never outlives its execution"
    );
    assert_eq!(run.state.execution_expiration, Some(T0 + secs(60)));
    assert_eq!(run.state.run_expiration, Some(T0 + secs(60)));
    let started = attrs!(run.history[0], WorkflowExecutionStartedEventAttributes);
    assert_eq!(started.workflow_run_timeout, Some(time::duration(secs(60))));
    assert_eq!(
        started.workflow_execution_expiration_time,
        Some(time::timestamp(T0 + secs(60)))
    );
}

fn closed(status: ExecutionStatus) -> MutableState {
    let mut state = Run::start().state;
    state.status = status;
    state
}

fn decide(
    current: Option<&MutableState>,
    request_id: &str,
    reuse: Reuse,
    conflict: Conflict,
) -> Result<StartDecision, EngineError> {
    decide_start(current, request_id, reuse, conflict)
}

fn already_started() -> EngineError {
    EngineError::AlreadyStarted {
        start_request_id: "start-request-1".into(),
        run_id: run_key().run_id,
    }
}

#[test]
fn start_without_a_current_run_creates_one() {
    assert_eq!(
        decide(None, "r", Reuse::RejectDuplicate, Conflict::Fail),
        Ok(StartDecision::New)
    );
}

#[test]
fn retried_start_request_answers_with_the_run_it_started() {
    let running = Run::start().state;
    let existing = StartDecision::Existing {
        run_id: "run-1".into(),
        started: true,
    };

    // The request ID wins over every policy, as Temporal checks it first.
    assert_eq!(
        decide(
            Some(&running),
            "start-request-1",
            Reuse::AllowDuplicate,
            Conflict::Fail
        ),
        Ok(existing.clone())
    );
    let completed = closed(ExecutionStatus::Completed);
    assert_eq!(
        decide(
            Some(&completed),
            "start-request-1",
            Reuse::RejectDuplicate,
            Conflict::Fail
        ),
        Ok(existing)
    );
}

#[test]
fn running_workflow_with_fail_conflict_policy_is_already_started() {
    let running = Run::start().state;
    assert_eq!(
        decide(
            Some(&running),
            "other",
            Reuse::AllowDuplicate,
            Conflict::Fail
        ),
        Err(already_started())
    );
    assert_eq!(
        decide(
            Some(&running),
            "other",
            Reuse::AllowDuplicate,
            Conflict::Unspecified
        ),
        Err(already_started()),
        "the frontend defaults an unset conflict policy to Fail"
    );
}

#[test]
fn running_workflow_with_use_existing_answers_with_it_without_starting() {
    let running = Run::start().state;
    assert_eq!(
        decide(
            Some(&running),
            "other",
            Reuse::AllowDuplicate,
            Conflict::UseExisting
        ),
        Ok(StartDecision::Existing {
            run_id: "run-1".into(),
            started: false
        })
    );
}

#[test]
fn running_workflow_with_terminate_existing_is_terminated_then_replaced() {
    let running = Run::start().state;
    assert_eq!(
        decide(
            Some(&running),
            "other",
            Reuse::AllowDuplicate,
            Conflict::TerminateExisting
        ),
        Ok(StartDecision::TerminateThenNew)
    );
    #[allow(deprecated)]
    let terminate_if_running = Reuse::TerminateIfRunning;
    assert_eq!(
        decide(
            Some(&running),
            "other",
            terminate_if_running,
            Conflict::Unspecified
        ),
        Ok(StartDecision::TerminateThenNew),
        "older clients ask for this through the reuse policy"
    );
}

#[test]
fn closed_workflow_with_reject_duplicate_is_already_started() {
    for status in [
        ExecutionStatus::Completed,
        ExecutionStatus::Failed,
        ExecutionStatus::Terminated,
    ] {
        let current = closed(status);
        assert_eq!(
            decide(
                Some(&current),
                "other",
                Reuse::RejectDuplicate,
                Conflict::Fail
            ),
            Err(already_started())
        );
    }
}

#[test]
fn allow_duplicate_failed_only_refuses_after_success_and_allows_after_failure() {
    let completed = closed(ExecutionStatus::Completed);
    assert_eq!(
        decide(
            Some(&completed),
            "other",
            Reuse::AllowDuplicateFailedOnly,
            Conflict::Fail
        ),
        Err(already_started())
    );
    // Temporal's "failed" statuses: Failed, Canceled, Terminated, TimedOut.
    for status in [
        ExecutionStatus::Failed,
        ExecutionStatus::Canceled,
        ExecutionStatus::Terminated,
        ExecutionStatus::TimedOut,
    ] {
        let current = closed(status);
        assert_eq!(
            decide(
                Some(&current),
                "other",
                Reuse::AllowDuplicateFailedOnly,
                Conflict::Fail
            ),
            Ok(StartDecision::New),
            "{status:?}"
        );
    }
}

#[test]
fn allow_duplicate_starts_again_after_any_close_and_ignores_the_conflict_policy() {
    for status in [ExecutionStatus::Completed, ExecutionStatus::Failed] {
        let current = closed(status);
        assert_eq!(
            decide(
                Some(&current),
                "other",
                Reuse::AllowDuplicate,
                Conflict::Fail
            ),
            Ok(StartDecision::New)
        );
        assert_eq!(
            decide(
                Some(&current),
                "other",
                Reuse::AllowDuplicate,
                Conflict::UseExisting
            ),
            Ok(StartDecision::New)
        );
    }
}
