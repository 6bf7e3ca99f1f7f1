//! Queries the parser must reject, and how it explains each one.

use crate::ast::{CompareOp, Expr};
use crate::error::QueryError;
use crate::field::Field;
use crate::value::Value;
use crate::{MAX_DEPTH, parse};

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
fn group_by_other_fields_is_rejected() {
    assert_eq!(
        error("GROUP BY WorkflowType"),
        QueryError::UnsupportedGroupBy {
            field: Field::WorkflowType
        }
    );
    assert!(matches!(
        error("GROUP BY ExecutionStatus, WorkflowType"),
        QueryError::Unsupported { .. }
    ));
    assert!(matches!(
        error("GROUP BY ExecutionStatus ORDER BY StartTime"),
        QueryError::Unsupported { .. }
    ));
}

#[test]
fn unterminated_string_is_an_error() {
    assert_eq!(
        error("WorkflowId = 'abc"),
        QueryError::Unterminated {
            what: "string literal",
            position: 13
        }
    );
}

#[test]
fn unknown_search_attribute_is_an_error() {
    let error = error("CustomKeywordField = 'a'");
    assert_eq!(
        error,
        QueryError::UnknownSearchAttribute {
            name: "CustomKeywordField".into()
        }
    );
    assert_eq!(
        error.to_string(),
        "invalid query: unknown search attribute CustomKeywordField"
    );
}

#[test]
fn field_names_are_case_sensitive() {
    assert_eq!(
        error("workflowid = 'a'"),
        QueryError::UnknownSearchAttribute {
            name: "workflowid".into()
        }
    );
}

#[test]
fn bad_status_is_an_error() {
    let error = error("ExecutionStatus = 'Runing'");
    assert_eq!(
        error,
        QueryError::InvalidExecutionStatus {
            value: "'Runing'".into()
        }
    );
    assert_eq!(
        error.to_string(),
        "invalid query: invalid ExecutionStatus value 'Runing'"
    );
    assert!(matches!(
        parse("ExecutionStatus IN ('Running', 'running')"),
        Err(QueryError::InvalidExecutionStatus { .. })
    ));
    assert!(matches!(
        parse("ExecutionStatus = 9"),
        Err(QueryError::InvalidExecutionStatus { .. })
    ));
}

#[test]
fn bad_datetime_is_an_error() {
    let error = error("CloseTime > '2024-13-01T00:00:00Z'");
    assert!(matches!(
        error,
        QueryError::InvalidDatetime {
            field: Field::CloseTime,
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "invalid query: unable to parse datetime '2024-13-01T00:00:00Z' for search attribute \
         CloseTime"
    );
}

#[test]
fn values_of_the_wrong_type_are_errors() {
    assert_eq!(
        error("WorkflowId = 5"),
        QueryError::InvalidValue {
            field: Field::WorkflowId,
            value: "5".into()
        }
    );
    assert_eq!(
        error("HistoryLength = '5'").to_string(),
        "invalid query: invalid value '5' for search attribute HistoryLength of type Int"
    );
    assert!(matches!(
        error("WorkflowId = true"),
        QueryError::InvalidValue { .. }
    ));
    assert!(matches!(
        error("WorkflowId STARTS_WITH 5"),
        QueryError::InvalidValue { .. }
    ));
}

#[test]
fn trailing_garbage_is_an_error() {
    assert_eq!(
        error("WorkflowId = 'a' WorkflowType = 'b'"),
        QueryError::Syntax {
            position: 17,
            expected: "AND, OR, GROUP BY, ORDER BY or end of query",
            found: "`WorkflowType`".into(),
        }
    );
    assert!(matches!(
        error("WorkflowId = 'a')"),
        QueryError::Syntax { position: 16, .. }
    ));
    assert!(matches!(
        error("ORDER BY StartTime DESC DESC"),
        QueryError::Syntax { .. }
    ));
    assert!(matches!(
        error("WorkflowId = 'a' ;"),
        QueryError::UnexpectedCharacter { .. }
    ));
}

#[test]
fn incomplete_expressions_are_errors() {
    for input in [
        "WorkflowId",
        "WorkflowId =",
        "WorkflowId = 'a' AND",
        "OR WorkflowId = 'a'",
        "(WorkflowId = 'a'",
        "()",
        "WorkflowId IN ()",
        "WorkflowId IN ('a',)",
        "WorkflowId IN 'a'",
        "HistoryLength BETWEEN 1",
        "HistoryLength BETWEEN 1 OR 2",
        "CloseTime IS",
        "CloseTime IS NOT",
        "CloseTime IS TRUE",
        "WorkflowId NOT = 'a'",
        "NOT",
        "HistoryLength = -",
        "HistoryLength = -'a'",
        "ORDER BY",
        "ORDER StartTime",
        "GROUP ExecutionStatus",
        "ORDER BY StartTime,",
        "where WorkflowId = 'a'",
        "AND = 'a'",
        "'WorkflowId' = 'a'",
    ] {
        assert!(
            matches!(parse(input), Err(QueryError::Syntax { .. })),
            "{input:?} gave {:?}",
            parse(input)
        );
    }
}

#[test]
fn like_and_regexp_are_unsupported() {
    assert_eq!(
        error("WorkflowId LIKE 'a%'"),
        QueryError::UnsupportedOperator {
            operator: "LIKE",
            field: Field::WorkflowId
        }
    );
    assert_eq!(
        error("WorkflowId NOT LIKE 'a%'"),
        QueryError::UnsupportedOperator {
            operator: "NOT LIKE",
            field: Field::WorkflowId
        }
    );
    assert!(matches!(
        error("WorkflowId REGEXP 'a'"),
        QueryError::UnsupportedOperator { .. }
    ));
}

#[test]
fn starts_with_is_only_for_keywords() {
    for input in [
        "StartTime STARTS_WITH '2024'",
        "HistoryLength NOT STARTS_WITH '1'",
        "ExecutionStatus STARTS_WITH 'Run'",
    ] {
        assert!(
            matches!(error(input), QueryError::UnsupportedOperator { .. }),
            "{input}"
        );
    }
}

#[test]
fn functions_are_unsupported() {
    assert_eq!(
        error("lower(WorkflowId) = 'a'"),
        QueryError::Unsupported {
            construct: "function lower()".into()
        }
    );
    assert!(matches!(
        error("StartTime > now()"),
        QueryError::Unsupported { .. }
    ));
}

#[test]
fn other_sql_clauses_are_unsupported() {
    assert!(matches!(
        error("WorkflowId = 'a' LIMIT 10"),
        QueryError::Unsupported { .. }
    ));
    assert!(matches!(
        error("ORDER BY StartTime LIMIT 10"),
        QueryError::Unsupported { .. }
    ));
    assert!(matches!(
        error("WorkflowId = NULL"),
        QueryError::Unsupported { .. }
    ));
}

#[test]
fn unquoted_values_are_errors() {
    assert_eq!(
        error("WorkflowId = abc"),
        QueryError::UnquotedValue { name: "abc".into() }
    );
    assert!(matches!(
        error("WorkflowId = `abc`"),
        QueryError::UnquotedValue { .. }
    ));
}

#[test]
fn nesting_is_bounded() {
    let within = format!(
        "{}WorkflowId = 'a'{}",
        "(".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    );
    assert_eq!(filter(&within), id("a"));
    let beyond = format!(
        "{}WorkflowId = 'a'{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(error(&beyond), QueryError::TooDeep { limit: MAX_DEPTH });
    assert_eq!(
        error(&format!("{}WorkflowId = 'a'", "NOT ".repeat(100_000))),
        QueryError::TooDeep { limit: MAX_DEPTH }
    );
    assert_eq!(
        error(&"(".repeat(100_000)),
        QueryError::TooDeep { limit: MAX_DEPTH }
    );
}

#[test]
fn every_error_message_starts_with_invalid_query() {
    for input in [
        "WorkflowId = 'a",
        "WorkflowId ==",
        "Nope = 1",
        "ExecutionStatus = 'x'",
        "StartTime < 'x'",
        "WorkflowId = 1",
        "WorkflowId LIKE 'a'",
        "WorkflowId = 'a' LIMIT 1",
        "GROUP BY RunId",
        "HistoryLength = 1e999",
        "WorkflowId = x",
        "a ? b",
    ] {
        let message = error(input).to_string();
        assert!(
            message.starts_with("invalid query: "),
            "{input:?}: {message}"
        );
    }
}
