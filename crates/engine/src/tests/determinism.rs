//! Property tests: random sequences of operations (signals, workflow tasks with random
//! commands, activity attempts, deadlines fired on time, early or late) applied to one run.
//!
//! - Applying the same sequence twice from the same state gives the same state, history and
//!   dispatched tasks, and so does resuming from a checkpoint of the state persisted as Avro.
//! - After every step the history is well formed: event IDs contiguous from 1,
//!   `next_event_id` just past the last event, nothing after a close event; a refused
//!   operation changes nothing; events are only buffered behind a started workflow task; a
//!   closed run holds no pending work.
//! - After every step the state changes a transition record carries rebuild the state the
//!   engine computed (applied to the state before, or put together from nothing).

use apache_avro::{SpecificSingleObjectReader, SpecificSingleObjectWriter};
use proptest::{collection::vec, prelude::*};

use super::builders::{
    Run, app_failure, assert_history_invariants, cancel_timer, command, complete_workflow,
    payloads, record_marker, request_cancel_activity, schedule_activity_with_attempts, start_timer,
};
use crate::{
    Changes, EngineError, MutableState,
    activity::ActivityOutcome,
    events::Tx,
    proto::{
        command::{Command, FailWorkflowExecutionCommandAttributes, command::Attributes as C},
        enums::WorkflowTaskFailedCause,
    },
    sections,
    signal::Signal,
    time::NANOS_PER_SEC,
    timer::{self, Deadline},
    workflow_task::Completion,
};

/// A command a random workflow task completes with. IDs come from small ranges so that
/// duplicates, cancels of real timers and of unknown ones all happen.
#[derive(Debug, Clone)]
enum Cmd {
    ScheduleActivity {
        id: u8,
        maximum_attempts: u8,
    },
    StartTimer {
        id: u8,
        seconds: u8,
    },
    CancelTimer {
        id: u8,
    },
    /// Cancels the `pick`-th pending activity, or an unknown one when none is pending.
    CancelActivity {
        pick: u8,
    },
    Marker,
    CompleteWorkflow,
    FailWorkflow,
}

#[derive(Debug, Clone)]
enum Op {
    Advance {
        millis: u32,
    },
    Signal {
        name: u8,
        request_id: Option<u8>,
    },
    StartWorkflowTask {
        same_poll: bool,
    },
    CompleteWorkflowTask {
        commands: Vec<Cmd>,
        force: bool,
    },
    FailWorkflowTask,
    StartActivity {
        pick: u8,
    },
    CompleteActivity {
        pick: u8,
    },
    FailActivity {
        pick: u8,
        non_retryable: bool,
    },
    ActivityCanceled {
        pick: u8,
    },
    Heartbeat {
        pick: u8,
    },
    /// Fires the `pick`-th deadline, at its due time or whenever it is now (early or stale).
    Fire {
        pick: u8,
        on_time: bool,
    },
    /// Fires every deadline that is due, as the timer wheel does.
    FireDue,
    Terminate,
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        4 => (0..8u8, 0..4u8).prop_map(|(id, maximum_attempts)| Cmd::ScheduleActivity { id, maximum_attempts }),
        4 => (0..8u8, 0..30u8).prop_map(|(id, seconds)| Cmd::StartTimer { id, seconds }),
        1 => (0..8u8).prop_map(|id| Cmd::CancelTimer { id }),
        1 => any::<u8>().prop_map(|pick| Cmd::CancelActivity { pick }),
        1 => Just(Cmd::Marker),
    ]
}

/// A task's commands: a few, sometimes ending with one that closes the workflow.
fn commands() -> impl Strategy<Value = Vec<Cmd>> {
    let close = prop_oneof![Just(Cmd::CompleteWorkflow), Just(Cmd::FailWorkflow)];
    (vec(cmd(), 0..4), proptest::option::weighted(0.1, close)).prop_map(|(mut commands, close)| {
        commands.extend(close);
        commands
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..5_000u32).prop_map(|millis| Op::Advance { millis }),
        1 => (5_000..60_000u32).prop_map(|millis| Op::Advance { millis }),
        3 => (0..3u8, proptest::option::of(0..4u8)).prop_map(|(name, request_id)| Op::Signal { name, request_id }),
        5 => any::<bool>().prop_map(|same_poll| Op::StartWorkflowTask { same_poll }),
        5 => (commands(), proptest::bool::weighted(0.1)).prop_map(|(commands, force)| Op::CompleteWorkflowTask { commands, force }),
        1 => Just(Op::FailWorkflowTask),
        4 => any::<u8>().prop_map(|pick| Op::StartActivity { pick }),
        3 => any::<u8>().prop_map(|pick| Op::CompleteActivity { pick }),
        3 => (any::<u8>(), any::<bool>()).prop_map(|(pick, non_retryable)| Op::FailActivity { pick, non_retryable }),
        1 => any::<u8>().prop_map(|pick| Op::ActivityCanceled { pick }),
        2 => any::<u8>().prop_map(|pick| Op::Heartbeat { pick }),
        4 => (any::<u8>(), any::<bool>()).prop_map(|(pick, on_time)| Op::Fire { pick, on_time }),
        3 => Just(Op::FireDue),
    ]
}

/// Random operations, sometimes with a termination somewhere among them.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    (
        vec(op(), 1..150),
        proptest::option::weighted(0.3, any::<prop::sample::Index>()),
    )
        .prop_map(|(mut ops, terminate)| {
            if let Some(at) = terminate {
                ops.insert(at.index(ops.len() + 1), Op::Terminate);
            }
            ops
        })
}

fn pick<T>(items: &[T], pick: u8) -> Option<&T> {
    (!items.is_empty()).then(|| &items[usize::from(pick) % items.len()])
}

fn to_command(state: &MutableState, cmd: &Cmd) -> Command {
    match cmd {
        Cmd::ScheduleActivity {
            id,
            maximum_attempts,
        } => schedule_activity_with_attempts(&format!("a{id}"), i32::from(*maximum_attempts)),
        Cmd::StartTimer { id, seconds } => start_timer(&format!("t{id}"), i64::from(*seconds)),
        Cmd::CancelTimer { id } => cancel_timer(&format!("t{id}")),
        Cmd::CancelActivity { pick: p } => request_cancel_activity(
            pick(&state.activities, *p).map_or(999, |a| a.scheduled_event_id),
        ),
        Cmd::Marker => record_marker("version"),
        Cmd::CompleteWorkflow => complete_workflow("done"),
        Cmd::FailWorkflow => command(C::FailWorkflowExecutionCommandAttributes(
            FailWorkflowExecutionCommandAttributes {
                failure: Some(app_failure("gave up", "GaveUp", true)),
            },
        )),
    }
}

/// The scheduled event ID and attempt of the `pick`-th pending activity.
fn activity(state: &MutableState, p: u8) -> Option<(i64, i32)> {
    pick(&state.activities, p).map(|a| (a.scheduled_event_id, a.attempt))
}

/// Applies one operation at `run.now`; `step` numbers the poll request IDs.
fn apply(tx: &mut Tx<'_>, op: &Op, step: usize) -> Result<(), EngineError> {
    let none = || Err(EngineError::NotFound("nothing to act on".into()));
    match op {
        Op::Advance { .. } | Op::Fire { .. } | Op::FireDue => unreachable!("handled by the caller"),
        Op::Signal { name, request_id } => tx.signal(Signal {
            name: format!("s{name}"),
            input: Some(payloads("x")),
            request_id: request_id.map(|r| format!("sig-{r}")).unwrap_or_default(),
            ..Default::default()
        }),
        Op::StartWorkflowTask { same_poll } => {
            let Some(task) = tx.state.workflow_task.clone() else {
                return none();
            };
            // A repeated poll reuses the request ID of the one that started the task.
            let request_id = if *same_poll && task.is_started() {
                task.request_id
            } else {
                format!("poll-{step}")
            };
            tx.start_workflow_task(task.scheduled_event_id, &request_id, "w")
                .map(drop)
        }
        Op::CompleteWorkflowTask { commands, force } => {
            let Some(task) = tx.state.workflow_task.clone() else {
                return none();
            };
            let completion = Completion {
                identity: "w".into(),
                commands: commands.iter().map(|c| to_command(tx.state, c)).collect(),
                force_create_new_workflow_task: *force,
                ..Default::default()
            };
            tx.complete_workflow_task(task.scheduled_event_id, task.started_event_id, &completion)
                .map(drop)
        }
        Op::FailWorkflowTask => {
            let Some(task) = tx.state.workflow_task.clone() else {
                return none();
            };
            let cause = WorkflowTaskFailedCause::WorkflowWorkerUnhandledFailure;
            tx.fail_workflow_task(
                task.scheduled_event_id,
                task.started_event_id,
                cause,
                None,
                "w",
            )
        }
        Op::StartActivity { pick } => {
            let Some((id, attempt)) = activity(tx.state, *pick) else {
                return none();
            };
            tx.start_activity(id, attempt, &format!("poll-{step}"), "w")
                .map(drop)
        }
        Op::CompleteActivity { pick } => {
            let Some((id, attempt)) = activity(tx.state, *pick) else {
                return none();
            };
            tx.close_activity(
                id,
                Some(attempt),
                "w",
                ActivityOutcome::Completed {
                    result: Some(payloads("r")),
                },
            )
        }
        Op::FailActivity {
            pick,
            non_retryable,
        } => {
            let Some((id, attempt)) = activity(tx.state, *pick) else {
                return none();
            };
            let failure = app_failure("boom", "Boom", *non_retryable);
            let details = Some(payloads("progress"));
            tx.close_activity(
                id,
                Some(attempt),
                "w",
                ActivityOutcome::Failed {
                    failure,
                    last_heartbeat_details: details,
                },
            )
        }
        Op::ActivityCanceled { pick } => {
            let Some((id, _)) = activity(tx.state, *pick) else {
                return none();
            };
            // The by-ID form: no attempt in the token.
            tx.close_activity(id, None, "w", ActivityOutcome::Canceled { details: None })
        }
        Op::Heartbeat { pick } => {
            let Some((id, attempt)) = activity(tx.state, *pick) else {
                return none();
            };
            tx.heartbeat_activity(id, Some(attempt), Some(payloads("beat")))
                .map(drop)
        }
        Op::Terminate => tx.terminate("test", None, "admin"),
    }
}

/// Runs one operation and checks the invariants every step must keep.
fn step(run: &mut Run, op: &Op, index: usize) {
    let start = run.state.clone();
    step_only(run, op, index);
    check_changes_replay(&start, &run.state);
}

/// What a transition record carries rebuilds the state the engine computed: the changes
/// applied to the state before, and the sections of the state put together.
fn check_changes_replay(before: &MutableState, after: &MutableState) {
    let changes = sections::diff(Some(before), after);
    assert_eq!(
        sections::apply(Some(before.clone()), changes.clone()).as_ref(),
        Some(after),
        "applying {changes:?} gives the state after"
    );
    if before == after {
        assert!(changes.is_empty(), "an unchanged state has no changes");
    }
    // The owner schedules only the deadlines of what changed: with those scheduled before,
    // they must cover every deadline of the state after.
    let scheduled = timer::deadlines(before);
    let added = timer::changed_deadlines(after, &changes);
    for deadline in timer::deadlines(after) {
        assert!(
            scheduled.contains(&deadline) || added.contains(&deadline),
            "{deadline:?} is never scheduled"
        );
    }
    assert_eq!(
        sections::assemble(sections::sections(after)).as_ref(),
        Some(after),
        "a state's sections put together give it back"
    );
    // The deadline index is kept section by section: over every section of an open run it
    // must hold exactly the run's deadlines.
    if after.is_open() {
        let mut by_section: Vec<_> = sections::sections(after)
            .iter()
            .flat_map(timer::section_deadlines)
            .collect();
        let mut whole = timer::deadlines(after);
        by_section.sort();
        whole.sort();
        assert_eq!(by_section, whole, "the sections' deadlines are the run's");
    }
    assert_eq!(
        sections::apply(None, sections::diff(None, after)).as_ref(),
        Some(after),
        "a new run's changes give its state"
    );
}

fn step_only(run: &mut Run, op: &Op, index: usize) {
    match op {
        Op::Advance { millis } => run.advance(i64::from(*millis) * (NANOS_PER_SEC / 1000)),
        Op::Fire { pick: p, on_time } => {
            let mut deadlines = timer::deadlines(&run.state);
            deadlines.sort();
            if let Some((due, deadline)) = pick(&deadlines, *p).cloned() {
                if *on_time {
                    run.now = run.now.max(due);
                }
                fire(run, &deadline);
            }
        }
        Op::FireDue => {
            let mut deadlines = timer::deadlines(&run.state);
            deadlines.sort();
            for (due, deadline) in deadlines {
                if due <= run.now {
                    fire(run, &deadline);
                }
            }
        }
        _ => {
            let before = run.state.clone();
            let (result, changes) = run.op(|tx| apply(tx, op, index));
            if result.is_err() {
                assert_eq!(
                    changes,
                    Changes::default(),
                    "refused {op:?} wrote something"
                );
                assert_eq!(run.state, before, "refused {op:?} changed the state");
            }
        }
    }
    check_invariants(run);
}

fn fire(run: &mut Run, deadline: &Deadline) {
    let before = run.state.clone();
    run.op(|tx| tx.fire(deadline));
    check_changes_replay(&before, &run.state);
    check_invariants(run);
}

fn check_invariants(run: &Run) {
    assert_history_invariants(run);
    let state = &run.state;
    assert!(
        !state.has_buffered_events() || state.has_started_workflow_task(),
        "events are buffered only behind a started workflow task"
    );
    if !state.is_open() {
        assert!(
            state.workflow_task.is_none() && state.activities.is_empty() && state.timers.is_empty()
        );
        assert!(timer::deadlines(state).is_empty());
    }
    if let Some(task) = &state.workflow_task {
        assert!(task.scheduled_event_id <= state.next_event_id);
        assert!(
            task.transient == (task.attempt > 1),
            "only retries are transient"
        );
    }
}

fn play(mut run: Run, ops: &[Op], first_index: usize) -> Run {
    for (offset, op) in ops.iter().enumerate() {
        step(&mut run, op, first_index + offset);
    }
    run
}

/// The state as the history owner persists it, read back.
fn persisted(state: &MutableState) -> MutableState {
    let mut bytes = Vec::new();
    SpecificSingleObjectWriter::<MutableState>::new()
        .expect("the state has a schema")
        .write_ref(state, &mut bytes)
        .expect("the state encodes");
    SpecificSingleObjectReader::<MutableState>::new()
        .expect("the state has a schema")
        .read(&mut bytes.as_slice())
        .expect("the state decodes")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_same_operations_from_the_same_state_give_the_same_run(ops in ops()) {
        let first = play(Run::start(), &ops, 0);
        let second = play(Run::start(), &ops, 0);

        prop_assert_eq!(&first.state, &second.state);
        prop_assert_eq!(&first.history, &second.history);
        prop_assert_eq!(&first.tasks, &second.tasks);
    }

    #[test]
    fn resuming_from_a_persisted_checkpoint_reaches_the_same_run(ops in ops(), split in any::<prop::sample::Index>()) {
        let split = split.index(ops.len() + 1);
        let checkpoint = play(Run::start(), &ops[..split], 0);
        let mut restored = checkpoint.clone();
        restored.state = persisted(&checkpoint.state);
        prop_assert_eq!(&restored.state, &checkpoint.state, "the persisted state reads back unchanged");

        let straight = play(checkpoint, &ops[split..], split);
        let resumed = play(restored, &ops[split..], split);

        prop_assert_eq!(&straight.state, &resumed.state);
        prop_assert_eq!(&straight.history, &resumed.history);
        prop_assert_eq!(&straight.tasks, &resumed.tasks);
    }
}
