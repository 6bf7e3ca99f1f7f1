use cairn_engine::{
    proto::{
        common::WorkflowType, taskqueue::TaskQueue, workflowservice::StartWorkflowExecutionRequest,
    },
    sections,
};

use super::*;

pub(super) fn run() -> RunKey {
    RunKey {
        namespace_id: "ns".into(),
        workflow_id: "wf".into(),
        run_id: "r".into(),
    }
}

pub(super) fn started() -> cairn_engine::MutableState {
    let request = StartWorkflowExecutionRequest {
        workflow_type: Some(WorkflowType {
            name: "Greet".into(),
        }),
        task_queue: Some(TaskQueue {
            name: "q".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    cairn_engine::start::start(run(), "default", &request, 7).0
}

fn record(transitions: Vec<Transition>) -> HistoryRecord {
    HistoryRecord {
        epoch: 3,
        writer: "node-a".into(),
        claim: None,
        transitions,
        fragment: None,
    }
}

#[test]
fn history_record_matches_its_committed_schema_and_released_versions() {
    crate::codec::check_contract_from::<HistoryRecord>(
        "history-record",
        FIRST_VERSION,
        RELEASED.len(),
    );
}

#[test]
fn records_round_trip_in_single_object_encoding() {
    let mut claim = record(vec![]);
    claim.claim = Some(Claim { claimed_at: 42 });
    let bytes = claim.encode().unwrap();
    assert_eq!(&bytes[..2], &[0xC3, 0x01], "single-object marker");
    assert_eq!(HistoryRecord::decode(&bytes).unwrap(), claim);
    assert!(HistoryRecord::decode(&bytes[..5]).is_err());
}

#[test]
fn a_transition_carries_state_changes_that_rebuild_the_state() {
    let state = started();
    let changes = sections::diff(None, &state);
    let transition = Transition {
        run: run(),
        events: vec![],
        changes: state_changes(&changes).unwrap(),
        deleted: false,
    };
    let read = HistoryRecord::decode(&record(vec![transition]).encode().unwrap()).unwrap();
    let decoded = decode_changes(&read.transitions[0].changes).unwrap();
    assert_eq!(sections::apply(None, decoded), Some(state));
}

/// A new run's record of about 10 kB.
fn large_record() -> HistoryRecord {
    let mut state = started();
    state.memo = vec![7; 10_000];
    record(vec![Transition {
        run: run(),
        events: vec![],
        changes: state_changes(&sections::diff(None, &state)).unwrap(),
        deleted: false,
    }])
}

#[test]
fn a_record_over_the_limit_is_written_in_fragments_that_assemble_into_it() {
    let whole = large_record();
    let parts = whole.encode_within(3_000).unwrap();
    assert!(parts.len() >= 4, "{} parts", parts.len());
    assert!(parts.iter().all(|p| p.len() <= 3_000));

    let mut assembler = Assembler::default();
    let mut out = Vec::new();
    for part in &parts {
        if let Some(done) = assembler
            .push(HistoryRecord::decode(part).unwrap())
            .unwrap()
        {
            out.push(done);
        }
    }
    assert_eq!(out, vec![whole.clone()]);
    assert_eq!(whole.encode_within(1 << 20).unwrap().len(), 1);
}

#[test]
fn a_fragmented_record_cut_short_never_applies() {
    let whole = large_record();
    let parts = whole.encode_within(3_000).unwrap();
    let mut claim = record(vec![]);
    claim.epoch = 4;
    claim.claim = Some(Claim { claimed_at: 1 });
    let mut zombie = record(vec![]);
    zombie.epoch = 2;

    let mut assembler = Assembler::default();
    let mut applied = Vec::new();
    let mut push = |record: HistoryRecord, assembler: &mut Assembler| {
        if let Some(done) = assembler.push(record).unwrap() {
            applied.push(done);
        }
    };
    push(HistoryRecord::decode(&parts[0]).unwrap(), &mut assembler);
    // An older writer's record between fragments neither counts nor breaks the record.
    push(zombie.clone(), &mut assembler);
    push(HistoryRecord::decode(&parts[1]).unwrap(), &mut assembler);
    // A newer claim ends it: the rest of its fragments assemble nothing.
    push(claim.clone(), &mut assembler);
    for part in &parts[2..] {
        push(HistoryRecord::decode(part).unwrap(), &mut assembler);
    }
    assert_eq!(applied, vec![zombie, claim]);
}
