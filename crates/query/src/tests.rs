//! End-to-end behaviour: query strings evaluated against records.

use std::cmp::Ordering;

use proptest::prelude::*;

use crate::strategies::expr;
use crate::{
    Direction, ExecutionStatus, Expr, Field, OrderBy, Query, Record, Value, ValueType, parse,
};

mod custom;

const SECOND: i64 = 1_000_000_000;
const JAN_2024: i64 = 1_704_067_200 * SECOND;

#[derive(Debug, Clone)]
struct Execution {
    workflow_id: &'static str,
    workflow_type: &'static str,
    status: ExecutionStatus,
    start_time: i64,
    close_time: Option<i64>,
    history_length: i64,
}

impl Record for Execution {
    fn field(&self, field: &Field) -> Value {
        match field {
            Field::WorkflowId => self.workflow_id.into(),
            Field::WorkflowType => self.workflow_type.into(),
            Field::RunId => "run-1".into(),
            Field::TaskQueue => "queue".into(),
            Field::ExecutionStatus => self.status.into(),
            Field::StartTime | Field::ExecutionTime => Value::Time(self.start_time),
            Field::CloseTime => self.close_time.map_or(Value::Null, Value::Time),
            Field::HistoryLength => Value::Int(self.history_length),
            Field::RootWorkflowId => self.workflow_id.into(),
            Field::RootRunId => "run-1".into(),
            Field::ParentWorkflowId | Field::ParentRunId | Field::Custom { .. } => Value::Null,
        }
    }
}

fn running(workflow_id: &'static str) -> Execution {
    Execution {
        workflow_id,
        workflow_type: "order",
        status: ExecutionStatus::Running,
        start_time: JAN_2024,
        close_time: None,
        history_length: 10,
    }
}

fn completed(workflow_id: &'static str, close_time: i64) -> Execution {
    Execution {
        status: ExecutionStatus::Completed,
        close_time: Some(close_time),
        ..running(workflow_id)
    }
}

fn matches(query: &str, record: &Execution) -> bool {
    parse(query)
        .unwrap_or_else(|error| panic!("{query:?}: {error}"))
        .matches(record)
}

#[test]
fn empty_query_matches_every_record() {
    assert!(matches("", &running("a")));
    assert!(matches("ORDER BY StartTime", &completed("b", JAN_2024)));
}

#[test]
fn keyword_equality_and_inequality() {
    let record = running("wf-1");
    assert!(matches("WorkflowId = 'wf-1'", &record));
    assert!(!matches("WorkflowId = 'wf-2'", &record));
    assert!(matches("WorkflowId != 'wf-2'", &record));
    assert!(matches("WorkflowId <> 'wf-2'", &record));
    assert!(!matches("WorkflowId != 'wf-1'", &record));
}

#[test]
fn keywords_order_byte_wise() {
    let record = running("m");
    assert!(matches("WorkflowId > 'a'", &record));
    assert!(matches("WorkflowId >= 'm'", &record));
    assert!(matches("WorkflowId < 'n'", &record));
    assert!(matches("WorkflowId <= 'm'", &record));
    assert!(!matches("WorkflowId < 'M'", &record));
}

#[test]
fn datetimes_compare_as_instants() {
    let record = completed("a", JAN_2024 + 3600 * SECOND);
    assert!(matches("CloseTime = '2024-01-01T01:00:00Z'", &record));
    assert!(matches("CloseTime = '2024-01-01T03:00:00+02:00'", &record));
    assert!(matches(
        "CloseTime > '2024-01-01T00:59:59.999999999Z'",
        &record
    ));
    assert!(!matches("CloseTime > '2024-01-01T01:00:00Z'", &record));
    assert!(matches(
        "StartTime < '2024-01-01T00:00:00.000000001Z'",
        &record
    ));
    assert!(matches("StartTime <= 1704067200000000000", &record));
}

#[test]
fn integers_compare_with_integers_and_fractions() {
    let record = running("a");
    assert!(matches("HistoryLength = 10", &record));
    assert!(matches("HistoryLength > 9.5", &record));
    assert!(!matches("HistoryLength > 10.5", &record));
    assert!(matches("HistoryLength >= -1", &record));
}

#[test]
fn statuses_compare_by_value() {
    let record = completed("a", JAN_2024);
    assert!(matches("ExecutionStatus = 'Completed'", &record));
    assert!(matches("ExecutionStatus = 2", &record));
    assert!(matches("ExecutionStatus != 'Running'", &record));
    assert!(matches(
        "ExecutionStatus IN ('Failed', 'Completed')",
        &record
    ));
    assert!(!matches(
        "ExecutionStatus NOT IN ('Failed', 'Completed')",
        &record
    ));
}

#[test]
fn in_and_not_in() {
    let record = running("b");
    assert!(matches("WorkflowId IN ('a', 'b', 'c')", &record));
    assert!(!matches("WorkflowId IN ('a', 'c')", &record));
    assert!(matches("WorkflowId NOT IN ('a', 'c')", &record));
    assert!(!matches("WorkflowId NOT IN ('b')", &record));
    assert!(matches("HistoryLength IN (1, 10)", &record));
}

#[test]
fn between_includes_both_bounds() {
    let record = running("a");
    assert!(matches("HistoryLength BETWEEN 10 AND 20", &record));
    assert!(matches("HistoryLength BETWEEN 1 AND 10", &record));
    assert!(!matches("HistoryLength BETWEEN 11 AND 20", &record));
    assert!(!matches("HistoryLength BETWEEN 20 AND 1", &record));
    assert!(matches("HistoryLength NOT BETWEEN 11 AND 20", &record));
    assert!(!matches("HistoryLength NOT BETWEEN 1 AND 10", &record));
    assert!(matches(
        "StartTime BETWEEN '2023-12-31T23:00:00Z' AND '2024-01-01T00:00:00Z'",
        &record
    ));
    assert!(matches("WorkflowId BETWEEN 'a' AND 'b'", &record));
}

#[test]
fn starts_with_and_not_starts_with() {
    let record = running("batch-17");
    assert!(matches("WorkflowId STARTS_WITH 'batch-'", &record));
    assert!(matches("WorkflowId STARTS_WITH ''", &record));
    assert!(matches("WorkflowId STARTS_WITH 'batch-17'", &record));
    assert!(!matches("WorkflowId STARTS_WITH 'batch-170'", &record));
    assert!(!matches("WorkflowId STARTS_WITH 'Batch'", &record));
    assert!(matches("WorkflowId NOT STARTS_WITH 'order-'", &record));
    assert!(!matches("WorkflowId NOT STARTS_WITH 'batch'", &record));
    // Wildcards have no special meaning.
    assert!(!matches("WorkflowId STARTS_WITH 'batch%'", &record));
}

#[test]
fn is_null_tests_presence() {
    assert!(matches("CloseTime IS NULL", &running("a")));
    assert!(!matches("CloseTime IS NOT NULL", &running("a")));
    assert!(matches("CloseTime IS NOT NULL", &completed("a", JAN_2024)));
    assert!(!matches("StartTime IS NULL", &running("a")));
}

#[test]
fn comparisons_with_missing_values_never_match() {
    let record = running("a");
    for query in [
        "CloseTime = '2024-01-01T00:00:00Z'",
        "CloseTime != '2024-01-01T00:00:00Z'",
        "CloseTime > '2024-01-01T00:00:00Z'",
        "CloseTime < '2024-01-01T00:00:00Z'",
        "NOT CloseTime < '2024-01-01T00:00:00Z'",
        "CloseTime IN ('2024-01-01T00:00:00Z')",
        "CloseTime NOT IN ('2024-01-01T00:00:00Z')",
        "CloseTime BETWEEN 0 AND 1",
        "CloseTime NOT BETWEEN 0 AND 1",
        "NOT (CloseTime > 0 AND WorkflowId = 'a')",
    ] {
        assert!(!matches(query, &record), "{query}");
    }
    // Unknown OR true is true; unknown AND false is false, so its negation is true.
    assert!(matches("CloseTime > 0 OR WorkflowId = 'a'", &record));
    assert!(matches("NOT (CloseTime > 0 AND WorkflowId = 'b')", &record));
}

#[test]
fn and_binds_tighter_than_or_when_matching() {
    let record = running("a");
    // a OR (b AND c): true through the first operand.
    assert!(matches(
        "WorkflowId = 'a' OR WorkflowId = 'b' AND WorkflowType = 'nope'",
        &record
    ));
    // (a OR b) AND c: false through the last operand.
    assert!(!matches(
        "(WorkflowId = 'a' OR WorkflowId = 'b') AND WorkflowType = 'nope'",
        &record
    ));
}

#[test]
fn not_negates() {
    let record = running("a");
    assert!(matches("NOT WorkflowId = 'b'", &record));
    assert!(!matches("NOT WorkflowId = 'a'", &record));
    assert!(matches("NOT NOT WorkflowId = 'a'", &record));
    assert!(matches(
        "NOT (WorkflowId = 'b' OR ExecutionStatus = 'Failed')",
        &record
    ));
}

#[test]
fn wrongly_typed_record_values_behave_like_missing_ones() {
    struct Odd;
    impl Record for Odd {
        fn field(&self, _field: &Field) -> Value {
            Value::Int(1)
        }
    }
    let query = parse("WorkflowId = 'a'").unwrap();
    assert!(!query.matches(&Odd));
    assert!(!parse("NOT WorkflowId = 'a'").unwrap().matches(&Odd));
    assert!(!parse("WorkflowId STARTS_WITH 'a'").unwrap().matches(&Odd));
    assert!(parse("WorkflowId IS NOT NULL").unwrap().matches(&Odd));
}

#[test]
fn sorts_by_keys_in_order() {
    let mut records = [
        completed("b", JAN_2024 + SECOND),
        completed("a", JAN_2024 + SECOND),
        completed("c", JAN_2024 + 2 * SECOND),
    ];
    let query = parse("ORDER BY CloseTime DESC, WorkflowId").unwrap();
    records.sort_by(|a, b| query.compare(a, b));
    let ids: Vec<_> = records.iter().map(|record| record.workflow_id).collect();
    assert_eq!(ids, ["c", "a", "b"]);
}

#[test]
fn missing_values_sort_last_in_both_directions() {
    let open = running("open");
    let closed = completed("closed", JAN_2024);
    for direction in ["ASC", "DESC"] {
        let query = parse(&format!("ORDER BY CloseTime {direction}")).unwrap();
        assert_eq!(query.compare(&closed, &open), Ordering::Less, "{direction}");
        assert_eq!(
            query.compare(&open, &closed),
            Ordering::Greater,
            "{direction}"
        );
        assert_eq!(query.compare(&open, &open), Ordering::Equal, "{direction}");
    }
}

#[test]
fn without_order_by_records_compare_equal() {
    let query = parse("WorkflowId = 'a'").unwrap();
    assert_eq!(query.compare(&running("a"), &running("b")), Ordering::Equal);
    let keys = [OrderBy {
        field: Field::WorkflowId,
        direction: Direction::Desc,
    }];
    assert_eq!(
        crate::compare_records(&keys, &running("a"), &running("b")),
        Ordering::Greater
    );
}

/// A record with every field present, custom ones included, so evaluation never meets a
/// missing value.
#[derive(Debug, Clone)]
struct Full {
    text: String,
    status: ExecutionStatus,
    time: i64,
    int: i64,
    double: f64,
    flag: bool,
    list: Vec<String>,
}

impl Record for Full {
    fn field(&self, field: &Field) -> Value {
        match field.value_type() {
            _ if *field == Field::ExecutionStatus => Value::Status(self.status),
            ValueType::Keyword | ValueType::Text => Value::String(self.text.clone()),
            ValueType::Datetime => Value::Time(self.time),
            ValueType::Int => Value::Int(self.int),
            ValueType::Double => Value::Float(self.double),
            ValueType::Bool => Value::Bool(self.flag),
            ValueType::KeywordList => Value::List(self.list.clone()),
        }
    }
}

fn full() -> impl Strategy<Value = Full> {
    (
        "[a-c ]{0,5}",
        prop::sample::select(ExecutionStatus::ALL.to_vec()),
        -3i64..3,
        -3i64..3,
        -3.0f64..3.0,
        any::<bool>(),
        prop::collection::vec("[a-c]{0,2}", 0..3),
    )
        .prop_map(|(text, status, time, int, double, flag, list)| Full {
            text,
            status,
            time,
            int,
            double,
            flag,
            list,
        })
}

proptest! {
    #[test]
    fn not_flips_the_result_when_every_field_is_present(expr in expr(), record in full()) {
        let query = Query { filter: Some(expr.clone()), ..Query::default() };
        let negated = Query { filter: Some(Expr::Not(Box::new(expr))), ..Query::default() };
        prop_assert_ne!(query.matches(&record), negated.matches(&record));
    }

    #[test]
    fn a_record_never_matches_both_a_filter_and_its_negation(expr in expr()) {
        let open = running("a");
        let query = Query { filter: Some(expr.clone()), ..Query::default() };
        let negated = Query { filter: Some(Expr::Not(Box::new(expr))), ..Query::default() };
        prop_assert!(!(query.matches(&open) && negated.matches(&open)));
    }
}
