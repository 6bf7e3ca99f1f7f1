//! The index against the state it describes: for random runs, random changes and random
//! queries, what List and Count read from the index is what filtering and sorting every
//! run's state finds.

use std::collections::BTreeMap;

use cairn_engine::{
    ExecutionStatus, MutableState, RunKey,
    proto::{
        common::{Payload, SearchAttributes, WorkflowType},
        taskqueue::TaskQueue,
        workflowservice::StartWorkflowExecutionRequest,
    },
};
use cairn_query::{Query, ValueType};
use cairn_schemas::Transition;
use cairn_visibility::{CountRequest, Counts, Cursor, PageRequest, Row, keys::Division, page};
use proptest::prelude::*;
use prost::Message;

use crate::{Checkpoint, StateDb};

const TYPES: [&str; 3] = ["Order", "Refund", "Audit"];
const QUEUES: [&str; 2] = ["east", "west"];
const TIERS: [&str; 3] = ["gold", "silver", "bronze"];

fn attributes(tier: Option<&str>, rank: Option<i64>) -> Vec<u8> {
    let mut fields = std::collections::HashMap::new();
    let json = |data: String, kind: &str| Payload {
        metadata: [
            ("encoding".to_string(), b"json/plain".to_vec()),
            ("type".to_string(), kind.as_bytes().to_vec()),
        ]
        .into(),
        data: data.into_bytes(),
        ..Default::default()
    };
    if let Some(tier) = tier {
        fields.insert("Tier".to_string(), json(format!("\"{tier}\""), "Keyword"));
    }
    if let Some(rank) = rank {
        fields.insert("Rank".to_string(), json(rank.to_string(), "Int"));
    }
    if fields.is_empty() {
        return Vec::new();
    }
    SearchAttributes {
        indexed_fields: fields,
    }
    .encode_to_vec()
}

/// A run as a test describes it.
#[derive(Debug, Clone)]
struct Spec {
    workflow_id: String,
    workflow_type: usize,
    queue: usize,
    start: i64,
    tier: Option<usize>,
    rank: Option<i64>,
    /// How it closed, and when; open when `None`.
    closed: Option<(usize, i64)>,
    namespace: usize,
}

const CLOSED: [ExecutionStatus; 3] = [
    ExecutionStatus::Completed,
    ExecutionStatus::Failed,
    ExecutionStatus::Terminated,
];

fn state_of(spec: &Spec) -> MutableState {
    let run = RunKey {
        namespace_id: format!("ns-{}", spec.namespace),
        workflow_id: spec.workflow_id.clone(),
        run_id: format!("{}-run", spec.workflow_id),
    };
    let request = StartWorkflowExecutionRequest {
        workflow_id: spec.workflow_id.clone(),
        workflow_type: Some(WorkflowType {
            name: TYPES[spec.workflow_type].into(),
        }),
        task_queue: Some(TaskQueue {
            name: QUEUES[spec.queue].into(),
            ..Default::default()
        }),
        request_id: "r".into(),
        ..Default::default()
    };
    let (mut state, _) = cairn_engine::start::start(run, "default", &request, spec.start);
    state.search_attributes = attributes(spec.tier.map(|t| TIERS[t]), spec.rank);
    if let Some((status, at)) = spec.closed {
        state.status = CLOSED[status];
        state.close_time = Some(spec.start + at);
    }
    state
}

fn transition(before: Option<&MutableState>, after: &MutableState) -> Transition {
    Transition {
        run: after.run.clone(),
        events: Vec::new(),
        changes: cairn_schemas::state_changes(&cairn_engine::sections::diff(before, after))
            .unwrap(),
        deleted: false,
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..3usize,
        0..2usize,
        0..1_000i64,
        proptest::option::of(0..3usize),
        proptest::option::of(-2..3i64),
        proptest::option::of((0..3usize, 1..500i64)),
        0..2usize,
    )
        .prop_map(
            |(workflow_type, queue, start, tier, rank, closed, namespace)| Spec {
                workflow_id: String::new(),
                workflow_type,
                queue,
                start,
                tier,
                rank,
                closed,
                namespace,
            },
        )
}

/// Filters built from the fields the index holds and the ones it does not.
fn query_text() -> impl Strategy<Value = String> {
    let term = prop_oneof![
        (0..3usize).prop_map(|t| format!("WorkflowType = '{}'", TYPES[t])),
        (0..2usize).prop_map(|q| format!("TaskQueue = '{}'", QUEUES[q])),
        Just("ExecutionStatus = 'Running'".to_string()),
        Just("ExecutionStatus IN ('Completed', 'Failed')".to_string()),
        Just("ExecutionStatus != 'Running'".to_string()),
        (0..3usize).prop_map(|t| format!("Tier = '{}'", TIERS[t])),
        (0..3usize, 0..3usize)
            .prop_map(|(a, b)| format!("Tier IN ('{}', '{}')", TIERS[a], TIERS[b])),
        (-2..3i64).prop_map(|r| format!("Rank = {r}")),
        (-2..3i64).prop_map(|r| format!("Rank >= {r}")),
        (0..40usize).prop_map(|i| format!("WorkflowId = 'wf-{i}'")),
        Just("WorkflowId STARTS_WITH 'wf-1'".to_string()),
        (0..1_000i64).prop_map(|t| format!("StartTime > {t}")),
        Just("CloseTime IS NULL".to_string()),
        Just("Tier IS NOT NULL".to_string()),
    ];
    let filter = proptest::collection::vec(term, 0..4).prop_flat_map(|terms| {
        let n = terms.len();
        (Just(terms), proptest::collection::vec(any::<bool>(), n))
    });
    let order = prop_oneof![
        Just(""),
        Just(" ORDER BY StartTime"),
        Just(" ORDER BY Rank DESC"),
        Just(" ORDER BY WorkflowType, CloseTime DESC"),
    ];
    (filter, order).prop_map(|((terms, ors), order)| {
        let mut text = String::new();
        for (i, term) in terms.iter().enumerate() {
            if i > 0 {
                text.push_str(if ors[i] { " OR " } else { " AND " });
            }
            text.push_str(term);
        }
        text.push_str(order);
        text
    })
}

fn parse(text: &str) -> Query {
    cairn_query::parse_with(text, &|name| match name {
        "Tier" => Some(ValueType::Keyword),
        "Rank" => Some(ValueType::Int),
        _ => None,
    })
    .unwrap()
}

/// What the query finds by reading every run's whole state, in the listing's order.
fn scanned(db: &StateDb, partitions: u32, namespace_id: &str, query: &Query) -> Vec<Row> {
    let mut rows: Vec<Row> = (0..partitions)
        .flat_map(|p| db.runs(p).unwrap())
        .map(|state| Row::of(&state))
        .filter(|row| row.namespace_id == namespace_id && query.matches(row))
        .collect();
    rows.sort_by(|a, b| page::compare(query, a, b));
    rows
}

/// Every page of the listing, each partition asked and the answers merged.
fn paged(
    db: &StateDb,
    partitions: u32,
    namespace_id: &str,
    query: &Query,
    limit: usize,
) -> Vec<Row> {
    let mut out = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let pages = (0..partitions)
            .map(|p| {
                db.visibility_page(
                    p,
                    &PageRequest {
                        namespace_id: namespace_id.into(),
                        query: query.clone(),
                        divisions: vec![Division::Workflows],
                        after: after.clone(),
                        limit,
                    },
                )
                .unwrap()
            })
            .collect();
        let (rows, next) = page::merge(query, pages, limit);
        assert!(rows.len() <= limit);
        out.extend(rows);
        match next {
            // Through a page token, as a client carries it.
            Some(cursor) => after = Cursor::from_token(&cursor.to_token(), query),
            None => return out,
        }
    }
}

fn counted(db: &StateDb, partitions: u32, namespace_id: &str, query: &Query) -> Counts {
    let mut total = Counts::default();
    for p in 0..partitions {
        total.merge(
            db.visibility_count(
                p,
                &CountRequest {
                    namespace_id: namespace_id.into(),
                    query: query.clone(),
                    divisions: vec![Division::Workflows],
                },
            )
            .unwrap(),
        );
    }
    total
}

fn ids(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|r| r.workflow_id.as_str()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_index_finds_what_a_scan_of_the_state_finds(
        specs in proptest::collection::vec(spec(), 0..40),
        changes in proptest::collection::vec(spec(), 0..40),
        queries in proptest::collection::vec(query_text(), 1..6),
        limit in 1..7usize,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(dir.path()).unwrap();
        let partitions = 3;
        let mut states: BTreeMap<String, (u32, MutableState)> = BTreeMap::new();
        for (i, spec) in specs.iter().enumerate() {
            let spec = Spec { workflow_id: format!("wf-{i}"), ..spec.clone() };
            let state = state_of(&spec);
            let partition = (i % partitions as usize) as u32;
            db.apply(partition, &[transition(None, &state)], Checkpoint { next_offset: i as i64, epoch: 1 }).unwrap();
            states.insert(spec.workflow_id.clone(), (partition, state));
        }
        // Later transitions change what the runs show: status, attributes, or delete them.
        for (i, change) in changes.iter().enumerate() {
            let id = format!("wf-{}", i % specs.len().max(1));
            let Some((partition, before)) = states.get(&id).cloned() else { continue };
            if change.start % 7 == 0 {
                let deleted = Transition { run: before.run.clone(), events: vec![], changes: vec![], deleted: true };
                db.apply(partition, &[deleted], Checkpoint { next_offset: 100 + i as i64, epoch: 1 }).unwrap();
                states.remove(&id);
                continue;
            }
            let mut after = before.clone();
            after.search_attributes = attributes(change.tier.map(|t| TIERS[t]), change.rank);
            if let Some((status, at)) = change.closed {
                after.status = CLOSED[status];
                after.close_time = Some(after.start_time + at);
            }
            // Two transitions of one run in one batch, as a replay applies them.
            let mut middle = before.clone();
            middle.next_event_id += 1;
            db.apply(partition, &[transition(Some(&before), &middle), transition(Some(&middle), &after)], Checkpoint { next_offset: 100 + i as i64, epoch: 1 }).unwrap();
            states.insert(id, (partition, after));
        }
        for text in &queries {
            let query = parse(text);
            for namespace_id in ["ns-0", "ns-1"] {
                let expected = scanned(&db, partitions, namespace_id, &query);
                let listed = paged(&db, partitions, namespace_id, &query, limit);
                prop_assert_eq!(ids(&listed), ids(&expected), "{}", text);
                prop_assert_eq!(&listed, &expected);
                let counts = counted(&db, partitions, namespace_id, &query);
                prop_assert_eq!(counts.total, expected.len() as i64, "{}", text);
                let mut by_status = BTreeMap::new();
                for row in &expected {
                    *by_status.entry(row.status).or_insert(0) += 1;
                }
                prop_assert_eq!(counts.by_status, by_status, "{}", text);
            }
        }
    }
}

#[test]
fn a_cursor_pages_through_changes_without_skipping_or_repeating_an_unchanged_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(dir.path()).unwrap();
    // A run of ns-0 started at 1000 + i, first written at offset i.
    let start = |i: i64, closed: Option<(usize, i64)>| {
        let state = state_of(&Spec {
            workflow_id: format!("wf-{i}"),
            workflow_type: 0,
            queue: 0,
            start: 1_000 + i,
            tier: None,
            rank: None,
            closed,
            namespace: 0,
        });
        let checkpoint = Checkpoint {
            next_offset: i,
            epoch: 1,
        };
        db.apply(0, &[transition(None, &state)], checkpoint)
            .unwrap();
        state
    };
    let states: Vec<MutableState> = (0..30)
        .map(|i| start(i, (i % 3 == 0).then_some((0, 500 + i))))
        .collect();
    let query = parse("");
    let first = paged_once(&db, &query, None, 10);
    let (rows, cursor) = first;
    let mut seen: Vec<String> = ids(&rows).into_iter().map(String::from).collect();
    // Meanwhile: new runs start (ahead of the cursor), some runs close, one is deleted.
    let mut changed = std::collections::HashSet::new();
    for i in 30..35 {
        changed.insert(start(i, None).run.workflow_id);
    }
    for i in [4, 13, 20] {
        let before = states[i].clone();
        let mut after = before.clone();
        after.status = ExecutionStatus::Completed;
        after.close_time = Some(5_000 + i as i64);
        db.apply(
            0,
            &[transition(Some(&before), &after)],
            Checkpoint {
                next_offset: 50,
                epoch: 1,
            },
        )
        .unwrap();
        changed.insert(before.run.workflow_id.clone());
    }
    let gone = states[25].run.clone();
    db.apply(
        0,
        &[Transition {
            run: gone.clone(),
            events: vec![],
            changes: vec![],
            deleted: true,
        }],
        Checkpoint {
            next_offset: 51,
            epoch: 1,
        },
    )
    .unwrap();
    changed.insert(gone.workflow_id);
    let mut after = cursor;
    while let Some(cursor) = after {
        let (rows, next) = paged_once(&db, &query, Some(cursor), 10);
        seen.extend(ids(&rows).into_iter().map(String::from));
        after = next;
    }
    for state in &states {
        let id = &state.run.workflow_id;
        if changed.contains(id) {
            continue;
        }
        assert_eq!(
            seen.iter().filter(|s| *s == id).count(),
            1,
            "{id}, unchanged, is listed once: {seen:?}"
        );
    }
}

fn paged_once(
    db: &StateDb,
    query: &Query,
    after: Option<Cursor>,
    limit: usize,
) -> (Vec<Row>, Option<Cursor>) {
    let page = db
        .visibility_page(
            0,
            &PageRequest {
                namespace_id: "ns-0".into(),
                query: query.clone(),
                divisions: vec![Division::Workflows],
                after,
                limit,
            },
        )
        .unwrap();
    page::merge(query, vec![page], limit)
}

#[test]
fn closed_runs_past_their_retention_are_found_by_close_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::open(dir.path()).unwrap();
    for i in 0..20 {
        let spec = Spec {
            workflow_id: format!("wf-{i}"),
            workflow_type: 0,
            queue: 0,
            start: 0,
            tier: None,
            rank: None,
            closed: (i % 2 == 0).then_some(((i % 3) as usize, 100 * (i + 1))),
            namespace: (i % 4 == 0) as usize,
        };
        db.apply(
            0,
            &[transition(None, &state_of(&spec))],
            Checkpoint {
                next_offset: i,
                epoch: 1,
            },
        )
        .unwrap();
    }
    // ns-0 keeps runs for 1000 after they close, ns-1 keeps them for ever; now is 1500.
    let found = db
        .closed_before(0, &|ns| (ns == "ns-0").then_some(1_500 - 1_000), 100)
        .unwrap();
    let mut ids: Vec<String> = found.into_iter().map(|r| r.workflow_id).collect();
    ids.sort();
    // Closed in ns-0 (i even, i % 4 != 0) at 100 * (i + 1) <= 500: i = 2.
    assert_eq!(ids, vec!["wf-2".to_string()]);
}
