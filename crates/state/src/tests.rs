use cairn_engine::{
    MutableState, RunKey,
    proto::{
        common::WorkflowType, taskqueue::TaskQueue, workflowservice::StartWorkflowExecutionRequest,
    },
};
use cairn_schemas::{Event, Transition};
use prost::Message;

use super::*;

fn started(workflow_id: &str) -> Transition {
    started_with_state(workflow_id).0
}

/// A new run's first transition, and the state it creates.
pub(crate) fn started_with_state(workflow_id: &str) -> (Transition, MutableState) {
    let run = RunKey {
        namespace_id: "ns".into(),
        workflow_id: workflow_id.into(),
        run_id: format!("{workflow_id}-run"),
    };
    let request = StartWorkflowExecutionRequest {
        workflow_id: workflow_id.into(),
        workflow_type: Some(WorkflowType {
            name: "Greet".into(),
        }),
        task_queue: Some(TaskQueue {
            name: "q".into(),
            ..Default::default()
        }),
        request_id: "r1".into(),
        ..Default::default()
    };
    let (state, changes) = cairn_engine::start::start(run.clone(), "default", &request, 1_000);
    let events = changes
        .events
        .iter()
        .map(|e| Event {
            event_id: e.event_id,
            event_time: 1_000,
            event_type: String::new(),
            data: e.encode_to_vec(),
        })
        .collect();
    let changes =
        cairn_schemas::state_changes(&cairn_engine::sections::diff(None, &state)).unwrap();
    (
        Transition {
            run,
            events,
            changes,
            deleted: false,
        },
        state,
    )
}

#[test]
fn applied_transitions_read_back_with_their_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(dir.path()).unwrap();
    assert_eq!(db.checkpoint(7).unwrap(), None);
    let (transition, state) = started_with_state("wf-1");
    db.apply(
        7,
        std::slice::from_ref(&transition),
        Checkpoint {
            next_offset: 5,
            epoch: 2,
        },
    )
    .unwrap();

    assert_eq!(
        db.checkpoint(7).unwrap(),
        Some(Checkpoint {
            next_offset: 5,
            epoch: 2
        })
    );
    assert_eq!(db.run(7, &transition.run).unwrap().as_ref(), Some(&state));
    assert_eq!(
        db.current_run(7, &transition.run.workflow())
            .unwrap()
            .as_deref(),
        Some("wf-1-run")
    );
    let events = db.events(7, &transition.run, 1, i64::MAX, 100).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0], transition.events[0].data);
    assert_eq!(db.events(7, &transition.run, 2, 3, 100).unwrap().len(), 1);
    assert_eq!(db.runs(7).unwrap().len(), 1);
    assert!(
        db.runs(6).unwrap().is_empty(),
        "partitions do not see each other's runs"
    );
}

#[test]
fn state_survives_reopen_and_clearing_a_partition_spares_the_others() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = StateDb::open(dir.path()).unwrap();
        db.apply(
            1,
            &[started("a")],
            Checkpoint {
                next_offset: 1,
                epoch: 1,
            },
        )
        .unwrap();
        db.apply(
            2,
            &[started("b")],
            Checkpoint {
                next_offset: 1,
                epoch: 1,
            },
        )
        .unwrap();
    }
    let db = StateDb::open(dir.path()).unwrap();
    assert_eq!(db.runs(1).unwrap().len(), 1);
    db.clear_partition(1).unwrap();
    assert!(db.runs(1).unwrap().is_empty());
    assert_eq!(db.checkpoint(1).unwrap(), None);
    assert_eq!(db.runs(2).unwrap().len(), 1);
}

#[test]
fn a_cache_in_another_state_format_is_discarded_for_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(dir.path()).unwrap();
    db.apply(
        3,
        &[started("old")],
        Checkpoint {
            next_offset: 9,
            epoch: 4,
        },
    )
    .unwrap();
    // A checkpoint as an older release wrote it: offset and epoch, no state format.
    db.db
        .put(
            keys::checkpoint(3),
            [9_i64.to_be_bytes(), 4_i64.to_be_bytes()].concat(),
        )
        .unwrap();

    assert_eq!(
        db.checkpoint(3).unwrap(),
        None,
        "the log must be replayed from the start"
    );
    assert!(
        db.runs(3).unwrap().is_empty(),
        "nothing of the old cache is left to misread"
    );
}

#[test]
fn an_export_imported_elsewhere_is_the_same_partition_and_a_cut_import_has_no_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let source = StateDb::open(&dir.path().join("source")).unwrap();
    let checkpoint = Checkpoint {
        next_offset: 9,
        epoch: 3,
    };
    source
        .apply(4, &[started("wf-1"), started("wf-2")], checkpoint)
        .unwrap();
    source.apply(5, &[started("other")], checkpoint).unwrap();
    // Chunks of one entry each: no chunk holds more than its share.
    let mut chunks = Vec::new();
    let (as_of, count) = source
        .export(4, 1, |at, entries| {
            assert_eq!(at, checkpoint);
            chunks.push(entries);
            true
        })
        .unwrap()
        .expect("partition 4 has a checkpoint");
    assert_eq!(as_of, checkpoint);
    assert!(chunks.len() > 1 && chunks.iter().all(|chunk| chunk.len() == 1));
    assert_eq!(count, chunks.len() as u64);
    assert_eq!(source.export(6, 1, |_, _| true).unwrap(), None);

    let target = StateDb::open(&dir.path().join("target")).unwrap();
    let (head, tail) = chunks.split_at(1);
    target.import(4, &head[0], None).unwrap();
    assert_eq!(
        target.checkpoint(4).unwrap(),
        None,
        "a cut import counts for nothing"
    );
    target.import(4, &tail.concat(), Some(checkpoint)).unwrap();
    assert_eq!(target.checkpoint(4).unwrap(), Some(checkpoint));
    assert_eq!(target.runs(4).unwrap(), source.runs(4).unwrap());
    let run = started("wf-2").run;
    assert_eq!(
        target.events(4, &run, 1, i64::MAX, usize::MAX).unwrap(),
        source.events(4, &run, 1, i64::MAX, usize::MAX).unwrap()
    );
    assert!(
        target.runs(5).unwrap().is_empty(),
        "only partition 4 was exported"
    );
    assert!(
        target.import(5, &chunks.concat(), None).is_err(),
        "entries of one partition are refused by another"
    );
}

#[test]
fn a_deleted_run_loses_its_state_events_and_current_pointer_and_spares_its_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(dir.path()).unwrap();
    let checkpoint = |next_offset| Checkpoint {
        next_offset,
        epoch: 1,
    };
    let doomed = started("wf-1");
    let (neighbour, neighbour_state) = started_with_state("wf-2");
    db.apply(7, &[doomed.clone(), neighbour.clone()], checkpoint(1))
        .unwrap();
    let deletion = Transition {
        events: vec![],
        deleted: true,
        ..doomed.clone()
    };
    db.apply(7, &[deletion], checkpoint(2)).unwrap();

    assert_eq!(db.run(7, &doomed.run).unwrap(), None);
    assert!(
        db.events(7, &doomed.run, 1, i64::MAX, 100)
            .unwrap()
            .is_empty()
    );
    assert_eq!(db.current_run(7, &doomed.run.workflow()).unwrap(), None);
    assert_eq!(db.run(7, &neighbour.run).unwrap(), Some(neighbour_state));
    assert_eq!(
        db.events(7, &neighbour.run, 1, i64::MAX, 100)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(db.checkpoint(7).unwrap(), Some(checkpoint(2)));
}

#[test]
fn changed_sections_apply_over_the_stored_ones() {
    use cairn_engine::{sections, state::TimerInfo};

    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(dir.path()).unwrap();
    let checkpoint = |next_offset| Checkpoint {
        next_offset,
        epoch: 1,
    };
    let (first, before) = started_with_state("wf-1");
    db.apply(7, std::slice::from_ref(&first), checkpoint(1))
        .unwrap();
    let mut after = before.clone();
    after.memo = vec![1, 2, 3];
    after.next_event_id += 2;
    for started_event_id in [5, 9] {
        after.timers.push(TimerInfo {
            timer_id: format!("t{started_event_id}"),
            started_event_id,
            fire_time: 10,
        });
    }
    after.record_signal_request("sig-b");
    after.record_signal_request("sig-a");
    let change = |before: &MutableState, after: &MutableState| Transition {
        events: vec![],
        changes: cairn_schemas::state_changes(&sections::diff(Some(before), after)).unwrap(),
        ..first.clone()
    };
    db.apply(7, &[change(&before, &after)], checkpoint(2))
        .unwrap();
    assert_eq!(db.run(7, &first.run).unwrap().as_ref(), Some(&after));

    let mut later = after.clone();
    later.timers.remove(0);
    later.memo.clear();
    db.apply(7, &[change(&after, &later)], checkpoint(3))
        .unwrap();
    assert_eq!(db.run(7, &first.run).unwrap().as_ref(), Some(&later));
    let fields = db.run_fields(7, &first.run).unwrap().unwrap();
    assert_eq!(fields.next_event_id, later.next_event_id);
    assert!(fields.timers.is_empty(), "only the run's own fields");
    assert_eq!(db.runs(7).unwrap(), vec![later]);
}

/// A transition from `before` to `after` of the same run.
fn changed(before: &MutableState, after: &MutableState) -> Transition {
    Transition {
        run: after.run.clone(),
        events: Vec::new(),
        changes: cairn_schemas::state_changes(&cairn_engine::sections::diff(Some(before), after))
            .unwrap(),
        deleted: false,
    }
}

#[test]
fn an_open_run_s_waiting_task_and_deadlines_are_indexed_until_it_closes() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(dir.path()).unwrap();
    let (transition, state) = started_with_state("wf-1");
    let mut timed = state.clone();
    timed.execution_expiration = Some(60_000);
    let checkpoint = |next_offset| Checkpoint {
        next_offset,
        epoch: 1,
    };
    let added = db
        .apply(3, &[transition, changed(&state, &timed)], checkpoint(1))
        .unwrap();

    let queue = queue_key("ns", "q", cairn_engine::TaskKind::Workflow);
    let task = cairn_engine::TaskRef::workflow(&state.run, state.workflow_task.as_ref().unwrap());
    assert_eq!(
        added
            .iter()
            .map(|change| (parse_task(&change.key).unwrap().0, change.kind))
            .collect::<Vec<_>>(),
        [(task.clone(), TaskChangeKind::Added)]
    );
    let ready = db.ready_tasks(3, &queue, None, i64::MAX, 10).unwrap();
    assert_eq!(ready.iter().map(|(_, t)| t).collect::<Vec<_>>(), [&task]);
    assert!(
        db.ready_tasks(3, &queue, None, 999, 10).unwrap().is_empty(),
        "a task is not ready before it was scheduled"
    );
    assert_eq!(db.waiting_tasks(3, &queue).unwrap(), 1);
    assert_eq!(
        db.deadlines_between(3, i64::MIN, i64::MAX).unwrap(),
        [DueDeadline {
            due: 60_000,
            run: state.run,
            deadline: cairn_engine::timer::Deadline::WorkflowTimeout,
        }]
    );
    assert!(
        db.deadlines_between(3, i64::MIN, 60_000)
            .unwrap()
            .is_empty(),
        "the span ends before its end"
    );

    let mut closed = timed.clone();
    closed.status = cairn_engine::ExecutionStatus::Terminated;
    let removed = db
        .apply(3, &[changed(&timed, &closed)], checkpoint(2))
        .unwrap();
    assert_eq!(
        removed.iter().map(|c| c.kind).collect::<Vec<_>>(),
        [TaskChangeKind::Withdrawn]
    );
    assert!(
        db.ready_tasks(3, &queue, None, i64::MAX, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(db.waiting_tasks(3, &queue).unwrap(), 0);
    assert!(db.task_queues(3).unwrap().is_empty());
    assert!(
        db.deadlines_between(3, i64::MIN, i64::MAX)
            .unwrap()
            .is_empty()
    );
}
