//! Queries the parser accepts, and the expressions they become.

use proptest::prelude::*;

use crate::ast::{CompareOp, Direction, Expr, OrderBy};
use crate::error::QueryError;
use crate::field::Field;
use crate::status::ExecutionStatus;
use crate::strategies::{custom_type, expr, sortable_field};
use crate::value::Value;
use crate::{Query, parse, parse_with};

const JAN_2024: i64 = 1_704_067_200_000_000_000;

fn filter(input: &str) -> Expr {
    parse(input).unwrap().filter.expect("query has a filter")
}

fn error(input: &str) -> QueryError {
    parse(input).expect_err("query should be rejected")
}

fn eq(field: Field, value: impl Into<Value>) -> Expr {
    Expr::Compare {
        field,
        op: CompareOp::Eq,
        value: value.into(),
    }
}

fn id(value: &str) -> Expr {
    eq(Field::WorkflowId, value)
}

#[test]
fn empty_query_matches_everything() {
    assert_eq!(parse(""), Ok(Query::default()));
    assert_eq!(parse("  \n\t "), Ok(Query::default()));
}

#[test]
fn parses_every_comparison_operator() {
    for (symbol, op) in [
        ("=", CompareOp::Eq),
        ("!=", CompareOp::Ne),
        ("<>", CompareOp::Ne),
        ("<", CompareOp::Lt),
        ("<=", CompareOp::Le),
        (">", CompareOp::Gt),
        (">=", CompareOp::Ge),
    ] {
        assert_eq!(
            filter(&format!("HistoryLength {symbol} 5")),
            Expr::Compare {
                field: Field::HistoryLength,
                op,
                value: Value::Int(5)
            },
            "{symbol}"
        );
    }
}

#[test]
fn parses_in_and_not_in() {
    assert_eq!(
        filter("WorkflowType IN ('a', 'b')"),
        Expr::In {
            field: Field::WorkflowType,
            values: vec!["a".into(), "b".into()],
            negated: false
        }
    );
    assert_eq!(
        filter("RunId not in ('x')"),
        Expr::In {
            field: Field::RunId,
            values: vec!["x".into()],
            negated: true
        }
    );
}

#[test]
fn parses_between_and_not_between() {
    assert_eq!(
        filter("HistoryLength BETWEEN 1 AND 10"),
        Expr::Between {
            field: Field::HistoryLength,
            low: Value::Int(1),
            high: Value::Int(10),
            negated: false
        }
    );
    assert_eq!(
        filter("StartTime NOT BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T00:00:01Z'"),
        Expr::Between {
            field: Field::StartTime,
            low: Value::Time(JAN_2024),
            high: Value::Time(JAN_2024 + 1_000_000_000),
            negated: true
        }
    );
}

#[test]
fn between_bounds_bind_before_a_following_and() {
    assert_eq!(
        filter("HistoryLength BETWEEN 1 AND 10 AND WorkflowId = 'a'"),
        Expr::And(vec![
            Expr::Between {
                field: Field::HistoryLength,
                low: Value::Int(1),
                high: Value::Int(10),
                negated: false
            },
            id("a"),
        ])
    );
}

#[test]
fn parses_starts_with_and_not_starts_with() {
    assert_eq!(
        filter("WorkflowId STARTS_WITH 'batch-'"),
        Expr::StartsWith {
            field: Field::WorkflowId,
            prefix: "batch-".into(),
            negated: false
        }
    );
    assert_eq!(
        filter("TaskQueue not starts_with \"q\""),
        Expr::StartsWith {
            field: Field::TaskQueue,
            prefix: "q".into(),
            negated: true
        }
    );
}

#[test]
fn parses_is_null_and_is_not_null() {
    assert_eq!(
        filter("CloseTime IS NULL"),
        Expr::IsNull {
            field: Field::CloseTime,
            negated: false
        }
    );
    assert_eq!(
        filter("CloseTime is not null"),
        Expr::IsNull {
            field: Field::CloseTime,
            negated: true
        }
    );
}

#[test]
fn and_binds_tighter_than_or() {
    assert_eq!(
        filter("WorkflowId = 'a' OR WorkflowId = 'b' AND WorkflowId = 'c'"),
        Expr::Or(vec![id("a"), Expr::And(vec![id("b"), id("c")])])
    );
    assert_eq!(
        filter("WorkflowId = 'a' AND WorkflowId = 'b' OR WorkflowId = 'c'"),
        Expr::Or(vec![Expr::And(vec![id("a"), id("b")]), id("c")])
    );
}

#[test]
fn parentheses_override_precedence() {
    assert_eq!(
        filter("(WorkflowId = 'a' OR WorkflowId = 'b') AND WorkflowId = 'c'"),
        Expr::And(vec![Expr::Or(vec![id("a"), id("b")]), id("c")])
    );
    assert_eq!(filter("((WorkflowId = 'a'))"), id("a"));
}

#[test]
fn chains_flatten_into_one_operand_list() {
    assert_eq!(
        filter("WorkflowId = 'a' AND WorkflowId = 'b' AND WorkflowId = 'c'"),
        Expr::And(vec![id("a"), id("b"), id("c")])
    );
    assert_eq!(
        filter("WorkflowId = 'a' AND (WorkflowId = 'b' AND WorkflowId = 'c')"),
        Expr::And(vec![id("a"), Expr::And(vec![id("b"), id("c")])])
    );
}

#[test]
fn not_binds_tighter_than_and() {
    assert_eq!(
        filter("NOT WorkflowId = 'a' AND WorkflowId = 'b'"),
        Expr::And(vec![Expr::Not(Box::new(id("a"))), id("b")])
    );
    assert_eq!(
        filter("not (WorkflowId = 'a' AND WorkflowId = 'b')"),
        Expr::Not(Box::new(Expr::And(vec![id("a"), id("b")])))
    );
    assert_eq!(
        filter("NOT NOT WorkflowId = 'a'"),
        Expr::Not(Box::new(Expr::Not(Box::new(id("a")))))
    );
}

#[test]
fn keywords_are_case_insensitive() {
    assert_eq!(
        filter("WorkflowId = 'a' aNd WorkflowId In ('b') oR CloseTime iS nOt NuLl"),
        filter("WorkflowId = 'a' AND WorkflowId IN ('b') OR CloseTime IS NOT NULL")
    );
}

#[test]
fn backticks_quote_field_names() {
    assert_eq!(filter("`WorkflowId` = 'a'"), id("a"));
    assert_eq!(
        error("`Workflow Id` = 'a'"),
        QueryError::UnknownSearchAttribute {
            name: "Workflow Id".into()
        }
    );
}

#[test]
fn string_literals_unescape_quotes() {
    assert_eq!(filter("WorkflowId = 'it''s'"), id("it's"));
    assert_eq!(filter(r"WorkflowId = 'it\'s'"), id("it's"));
    assert_eq!(filter(r#"WorkflowId = "say \"hi\"""#), id("say \"hi\""));
    assert_eq!(filter("WorkflowId = ''"), id(""));
}

#[test]
fn datetimes_accept_offsets_fractions_and_nanos() {
    let start = |input: &str| match filter(input) {
        Expr::Compare {
            value: Value::Time(nanos),
            ..
        } => nanos,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(start("StartTime > '2024-01-01T00:00:00Z'"), JAN_2024);
    assert_eq!(
        start("StartTime > '2024-01-01T01:00:00.5+01:00'"),
        JAN_2024 + 500_000_000
    );
    assert_eq!(start("StartTime > 1704067200000000000"), JAN_2024);
}

#[test]
fn statuses_parse_by_name_or_number() {
    let running = eq(Field::ExecutionStatus, ExecutionStatus::Running);
    assert_eq!(filter("ExecutionStatus = 'Running'"), running);
    assert_eq!(
        filter("ExecutionStatus = \"WORKFLOW_EXECUTION_STATUS_RUNNING\""),
        running
    );
    assert_eq!(filter("ExecutionStatus = 1"), running);
    for status in ExecutionStatus::ALL {
        assert_eq!(
            filter(&format!("ExecutionStatus = '{}'", status.name())),
            eq(Field::ExecutionStatus, status)
        );
    }
}

#[test]
fn numbers_take_signs_and_fractions() {
    let value = |input: &str| match filter(input) {
        Expr::Compare { value, .. } => value,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(value("HistoryLength > -1"), Value::Int(-1));
    assert_eq!(value("HistoryLength > +7"), Value::Int(7));
    assert_eq!(value("HistoryLength > 2.5"), Value::Float(2.5));
}

#[test]
fn parses_order_by_with_directions() {
    let query = parse("WorkflowType = 't' ORDER BY StartTime DESC, WorkflowId asc, RunId").unwrap();
    assert_eq!(query.filter, Some(eq(Field::WorkflowType, "t")));
    assert_eq!(
        query.order_by,
        [
            OrderBy {
                field: Field::StartTime,
                direction: Direction::Desc
            },
            OrderBy {
                field: Field::WorkflowId,
                direction: Direction::Asc
            },
            OrderBy {
                field: Field::RunId,
                direction: Direction::Asc
            },
        ]
    );
}

#[test]
fn order_by_may_stand_alone() {
    let query = parse("order by CloseTime desc").unwrap();
    assert_eq!(query.filter, None);
    assert_eq!(
        query.order_by,
        [OrderBy {
            field: Field::CloseTime,
            direction: Direction::Desc
        }]
    );
}

#[test]
fn parses_group_by_execution_status() {
    let query = parse("WorkflowType = 't' GROUP BY ExecutionStatus").unwrap();
    assert_eq!(query.group_by, [Field::ExecutionStatus]);
    assert_eq!(
        parse("group by ExecutionStatus").unwrap().group_by,
        [Field::ExecutionStatus]
    );
}

#[test]
fn long_flat_chains_parse() {
    let chain = vec!["WorkflowId = 'a'"; 10_000].join(" OR ");
    assert!(matches!(filter(&chain), Expr::Or(operands) if operands.len() == 10_000));
}

#[test]
fn display_writes_canonical_queries() {
    let query = parse(
        "`WorkflowId` = 'it''s' and not (ExecutionStatus in (1, 'Failed') or \
         HistoryLength between -1 and 2.5) order by StartTime",
    )
    .unwrap();
    assert_eq!(
        query.to_string(),
        "WorkflowId = 'it''s' AND NOT (ExecutionStatus IN ('Running', 'Failed') OR \
         HistoryLength BETWEEN -1 AND 2.5) ORDER BY StartTime ASC"
    );
    let query = parse("CloseTime >= '2024-01-01T01:00:00+01:00' GROUP BY ExecutionStatus").unwrap();
    assert_eq!(
        query.to_string(),
        "CloseTime >= '2024-01-01T00:00:00Z' GROUP BY ExecutionStatus"
    );
    assert_eq!(parse("").unwrap().to_string(), "");
}

proptest! {
    #[test]
    fn parse_never_panics(input in "\\PC{0,64}") {
        let _outcome = parse(&input).is_ok();
    }

    #[test]
    fn parse_never_panics_on_query_like_input(
        words in prop::collection::vec(
            prop::sample::select(vec![
                "WorkflowId", "ExecutionStatus", "StartTime", "HistoryLength", "AND", "OR", "NOT",
                "IN", "BETWEEN", "STARTS_WITH", "IS", "NULL", "ORDER", "GROUP", "BY", "DESC", "(",
                ")", ",", "=", "!=", "<", ">=", "'Running'", "'2024-01-01T00:00:00Z'", "42", "-",
                "'a", "`", "LIKE", "LIMIT", "CustomTextField", "CustomKeywordListField",
                "CustomBoolField", "CustomDoubleField", "`order`", "TRUE", "'true'", "1.5",
            ]),
            0..16,
        )
    ) {
        let input = words.join(" ");
        let _outcome = parse(&input).is_ok();
        let _outcome = parse_with(&input, &custom_type).is_ok();
    }

    #[test]
    fn displayed_queries_parse_back_to_the_same_query(
        filter in prop::option::of(expr()),
        order_by in prop::collection::vec(
            (sortable_field(), prop::sample::select(vec![Direction::Asc, Direction::Desc]))
                .prop_map(|(field, direction)| OrderBy { field, direction }),
            0..3,
        ),
    ) {
        let query = Query { filter, order_by, group_by: Vec::new() };
        let text = query.to_string();
        prop_assert_eq!(parse_with(&text, &custom_type), Ok(query), "{}", text);
    }
}
