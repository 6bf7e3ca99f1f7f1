//! Queries over custom search attributes: how names resolve, which literals and operators
//! each type accepts, and how such queries are written back.

use crate::ast::{CompareOp, Direction, Expr, OrderBy};
use crate::error::QueryError;
use crate::field::{Field, ValueType};
use crate::value::Value;
use crate::{Query, parse_with};

const JAN_2024: i64 = 1_704_067_200_000_000_000;

/// The namespace in these tests has `Custom<Type>` for every type (`CustomKeywordList`, ...),
/// `order` (a reserved word) as a keyword, and claims `WorkflowId` and `ExecutionStatus` as
/// `Int` attributes, which must not shadow the system ones.
fn lookup(name: &str) -> Option<ValueType> {
    match name {
        "WorkflowId" | "ExecutionStatus" => Some(ValueType::Int),
        "order" => Some(ValueType::Keyword),
        _ => name.strip_prefix("Custom").and_then(ValueType::from_name),
    }
}

fn parse(input: &str) -> Result<Query, QueryError> {
    parse_with(input, &lookup)
}

fn filter(input: &str) -> Expr {
    parse(input)
        .unwrap_or_else(|error| panic!("{input:?}: {error}"))
        .filter
        .expect("query has a filter")
}

fn error(input: &str) -> QueryError {
    parse(input).expect_err("query should be rejected")
}

fn custom(value_type: ValueType) -> Field {
    Field::Custom {
        name: format!("Custom{value_type}"),
        value_type,
    }
}

fn compare(value_type: ValueType, op: CompareOp, value: impl Into<Value>) -> Expr {
    Expr::Compare {
        field: custom(value_type),
        op,
        value: value.into(),
    }
}

/// A literal each type accepts.
fn sample(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::Keyword | ValueType::Text | ValueType::KeywordList => "'a'",
        ValueType::Int | ValueType::Datetime => "1",
        ValueType::Double => "1.5",
        ValueType::Bool => "true",
    }
}

#[test]
fn custom_names_resolve_to_their_type() {
    for value_type in ValueType::ALL {
        assert_eq!(
            filter(&format!("Custom{value_type} IS NULL")),
            Expr::IsNull {
                field: custom(value_type),
                negated: false
            },
            "{value_type}"
        );
    }
}

#[test]
fn names_the_lookup_does_not_know_are_unknown() {
    assert_eq!(
        error("CustomNothing = 'a'"),
        QueryError::UnknownSearchAttribute {
            name: "CustomNothing".into()
        }
    );
    // Lookups are exact: the callback decides, and this one is case-sensitive.
    assert!(matches!(
        error("customKeyword = 'a'"),
        QueryError::UnknownSearchAttribute { .. }
    ));
    // Plain `parse` knows no custom attributes.
    assert_eq!(
        crate::parse("CustomKeyword = 'a'"),
        Err(QueryError::UnknownSearchAttribute {
            name: "CustomKeyword".into()
        })
    );
}

#[test]
fn system_names_cannot_be_shadowed() {
    // The lookup claims WorkflowId is an Int; it stays the system keyword.
    assert_eq!(
        filter("WorkflowId = 'a'"),
        Expr::Compare {
            field: Field::WorkflowId,
            op: CompareOp::Eq,
            value: "a".into()
        }
    );
    assert!(matches!(
        error("WorkflowId = 1"),
        QueryError::InvalidValue {
            field: Field::WorkflowId,
            ..
        }
    ));
    assert!(parse("ExecutionStatus = 'Running' GROUP BY ExecutionStatus").is_ok());
    // The lookup is not even asked about system names.
    let strict = |name: &str| {
        assert_eq!(Field::from_name(name), None, "asked about {name}");
        None
    };
    for field in Field::ALL {
        assert!(parse_with(&format!("{field} IS NULL"), &strict).is_ok());
    }
}

#[test]
fn backticks_quote_reserved_custom_names() {
    assert_eq!(
        filter("`order` = 'x'"),
        Expr::Compare {
            field: Field::Custom {
                name: "order".into(),
                value_type: ValueType::Keyword
            },
            op: CompareOp::Eq,
            value: "x".into()
        }
    );
    assert!(matches!(error("order = 'x'"), QueryError::Syntax { .. }));
}

#[test]
fn keywords_take_strings_and_every_operator() {
    let keyword = ValueType::Keyword;
    assert_eq!(
        filter("CustomKeyword < 'm'"),
        compare(keyword, CompareOp::Lt, "m")
    );
    assert_eq!(
        filter("CustomKeyword NOT STARTS_WITH 'tmp-'"),
        Expr::StartsWith {
            field: custom(keyword),
            prefix: "tmp-".into(),
            negated: true
        }
    );
    assert_eq!(
        filter("CustomKeyword BETWEEN 'a' AND 'b'"),
        Expr::Between {
            field: custom(keyword),
            low: "a".into(),
            high: "b".into(),
            negated: false
        }
    );
}

#[test]
fn texts_and_keyword_lists_take_strings() {
    assert_eq!(
        filter("CustomText = 'quick fox'"),
        compare(ValueType::Text, CompareOp::Eq, "quick fox")
    );
    assert_eq!(
        filter("CustomText != 'fox'"),
        compare(ValueType::Text, CompareOp::Ne, "fox")
    );
    assert_eq!(
        filter("CustomKeywordList = 'gold'"),
        compare(ValueType::KeywordList, CompareOp::Eq, "gold")
    );
    assert_eq!(
        filter("CustomKeywordList NOT IN ('gold', 'silver')"),
        Expr::In {
            field: custom(ValueType::KeywordList),
            values: vec!["gold".into(), "silver".into()],
            negated: true
        }
    );
}

#[test]
fn numbers_take_integers_and_fractions() {
    assert_eq!(
        filter("CustomInt >= -3"),
        compare(ValueType::Int, CompareOp::Ge, Value::Int(-3))
    );
    assert_eq!(
        filter("CustomInt < 2.5"),
        compare(ValueType::Int, CompareOp::Lt, Value::Float(2.5))
    );
    assert_eq!(
        filter("CustomDouble > 2"),
        compare(ValueType::Double, CompareOp::Gt, Value::Int(2))
    );
    assert_eq!(
        filter("CustomDouble BETWEEN -0.5 AND 1e3"),
        Expr::Between {
            field: custom(ValueType::Double),
            low: Value::Float(-0.5),
            high: Value::Float(1000.0),
            negated: false
        }
    );
}

#[test]
fn bools_take_keywords_and_quoted_booleans() {
    let bool_type = ValueType::Bool;
    for (literal, value) in [
        ("true", true),
        ("FALSE", false),
        ("True", true),
        ("'true'", true),
        ("\"False\"", false),
    ] {
        assert_eq!(
            filter(&format!("CustomBool = {literal}")),
            compare(bool_type, CompareOp::Eq, value),
            "{literal}"
        );
    }
    assert_eq!(
        filter("CustomBool NOT IN (true, 'false')"),
        Expr::In {
            field: custom(bool_type),
            values: vec![Value::Bool(true), Value::Bool(false)],
            negated: true
        }
    );
}

#[test]
fn datetimes_take_rfc3339_strings_or_nanos() {
    assert_eq!(
        filter("CustomDatetime >= '2024-01-01T01:00:00+01:00'"),
        compare(ValueType::Datetime, CompareOp::Ge, Value::Time(JAN_2024))
    );
    assert_eq!(
        filter("CustomDatetime < 5"),
        compare(ValueType::Datetime, CompareOp::Lt, Value::Time(5))
    );
    assert!(matches!(
        error("CustomDatetime < 'tomorrow'"),
        QueryError::InvalidDatetime { .. }
    ));
}

#[test]
fn literals_of_the_wrong_kind_name_the_attribute_and_its_type() {
    for (input, message) in [
        (
            "CustomKeyword = 1",
            "invalid value 1 for search attribute CustomKeyword of type Keyword",
        ),
        (
            "CustomText = true",
            "invalid value TRUE for search attribute CustomText of type Text",
        ),
        (
            "CustomText = '   '",
            "invalid value '   ' for search attribute CustomText of type Text",
        ),
        (
            "CustomInt = '1'",
            "invalid value '1' for search attribute CustomInt of type Int",
        ),
        (
            "CustomDouble IN (1, 'x')",
            "invalid value 'x' for search attribute CustomDouble of type Double",
        ),
        (
            "CustomBool = 1",
            "invalid value 1 for search attribute CustomBool of type Bool",
        ),
        (
            "CustomBool = 'yes'",
            "invalid value 'yes' for search attribute CustomBool of type Bool",
        ),
        (
            "CustomDatetime = 1.5",
            "invalid value 1.5 for search attribute CustomDatetime of type Datetime",
        ),
        (
            "CustomKeywordList IN ('a', 2)",
            "invalid value 2 for search attribute CustomKeywordList of type KeywordList",
        ),
        (
            "CustomKeyword STARTS_WITH 1",
            "invalid value 1 for search attribute CustomKeyword of type Keyword",
        ),
    ] {
        let error = error(input);
        assert!(
            matches!(error, QueryError::InvalidValue { .. }),
            "{input}: {error:?}"
        );
        assert_eq!(error.to_string(), format!("invalid query: {message}"));
    }
}

/// Every operator form, by the name errors give it, with `{}` where a literal goes.
const OPERATORS: [(&str, &str); 15] = [
    ("=", "= {}"),
    ("!=", "!= {}"),
    ("!=", "<> {}"),
    ("<", "< {}"),
    ("<=", "<= {}"),
    (">", "> {}"),
    (">=", ">= {}"),
    ("BETWEEN", "BETWEEN {} AND {}"),
    ("NOT BETWEEN", "NOT BETWEEN {} AND {}"),
    ("IN", "IN ({}, {})"),
    ("NOT IN", "NOT IN ({})"),
    ("STARTS_WITH", "STARTS_WITH 'a'"),
    ("NOT STARTS_WITH", "NOT STARTS_WITH 'a'"),
    ("IS NULL", "IS NULL"),
    ("IS NOT NULL", "IS NOT NULL"),
];

/// The operators each type accepts, by the names in [`OPERATORS`].
fn supported(value_type: ValueType) -> &'static [&'static str] {
    match value_type {
        ValueType::Keyword => &[
            "=",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "BETWEEN",
            "NOT BETWEEN",
            "IN",
            "NOT IN",
            "STARTS_WITH",
            "NOT STARTS_WITH",
            "IS NULL",
            "IS NOT NULL",
        ],
        ValueType::Int | ValueType::Double | ValueType::Datetime => &[
            "=",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "BETWEEN",
            "NOT BETWEEN",
            "IN",
            "NOT IN",
            "IS NULL",
            "IS NOT NULL",
        ],
        ValueType::Bool | ValueType::KeywordList => {
            &["=", "!=", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]
        }
        ValueType::Text => &["=", "!=", "IS NULL", "IS NOT NULL"],
    }
}

#[test]
fn each_type_accepts_exactly_its_operators() {
    for value_type in ValueType::ALL {
        let field = custom(value_type);
        for (name, form) in OPERATORS {
            let input = format!("{field} {}", form.replace("{}", sample(value_type)));
            let outcome = parse(&input);
            if supported(value_type).contains(&name) {
                assert!(outcome.is_ok(), "{input}: {outcome:?}");
                let negated = parse(&format!("NOT ({input})"));
                assert!(negated.is_ok(), "NOT ({input}): {negated:?}");
            } else {
                assert_eq!(
                    outcome,
                    Err(QueryError::UnsupportedOperator {
                        operator: name,
                        field: field.clone()
                    }),
                    "{input}"
                );
            }
        }
    }
}

#[test]
fn unsupported_operators_name_the_type() {
    assert_eq!(
        error("CustomText < 'a'").to_string(),
        "invalid query: operator '<' is not supported for search attribute CustomText of type \
         Text"
    );
    assert_eq!(
        error("CustomKeywordList NOT BETWEEN 'a' AND 'b'").to_string(),
        "invalid query: operator 'NOT BETWEEN' is not supported for search attribute \
         CustomKeywordList of type KeywordList"
    );
    assert_eq!(
        error("CustomText IN ('a')").to_string(),
        "invalid query: operator 'IN' is not supported for search attribute CustomText of type \
         Text"
    );
    assert_eq!(
        error("CustomBool STARTS_WITH 't'").to_string(),
        "invalid query: operator 'STARTS_WITH' is not supported for search attribute CustomBool \
         of type Bool"
    );
}

#[test]
fn order_by_accepts_sortable_types() {
    for value_type in [
        ValueType::Keyword,
        ValueType::Int,
        ValueType::Double,
        ValueType::Bool,
        ValueType::Datetime,
    ] {
        let query = parse(&format!("ORDER BY Custom{value_type} DESC, StartTime")).unwrap();
        assert_eq!(
            query.order_by,
            [
                OrderBy {
                    field: custom(value_type),
                    direction: Direction::Desc
                },
                OrderBy {
                    field: Field::StartTime,
                    direction: Direction::Asc
                }
            ],
            "{value_type}"
        );
    }
}

#[test]
fn order_by_rejects_text_and_keyword_lists() {
    for value_type in [ValueType::Text, ValueType::KeywordList] {
        let error = error(&format!(
            "CustomInt > 1 ORDER BY StartTime, Custom{value_type}"
        ));
        assert_eq!(
            error,
            QueryError::Unsupported {
                construct: format!(
                    "'ORDER BY' on search attribute Custom{value_type} of type {value_type}"
                )
            }
        );
        assert_eq!(
            error.to_string(),
            format!(
                "invalid query: 'ORDER BY' on search attribute Custom{value_type} of type \
                 {value_type} is not supported"
            )
        );
    }
}

#[test]
fn group_by_stays_restricted_to_execution_status() {
    assert_eq!(
        error("GROUP BY CustomKeyword"),
        QueryError::UnsupportedGroupBy {
            field: custom(ValueType::Keyword)
        }
    );
}

#[test]
fn display_round_trips_custom_attributes_and_literals() {
    let input = "`order` = 'x' and CustomBool in (true, 'false') and CustomDouble > 2 \
                 and CustomText != 'quick fox' order by CustomBool desc, `order`";
    let query = parse(input).unwrap();
    let text = query.to_string();
    assert_eq!(
        text,
        "`order` = 'x' AND CustomBool IN (TRUE, FALSE) AND CustomDouble > 2 AND \
         CustomText != 'quick fox' ORDER BY CustomBool DESC, `order` ASC"
    );
    assert_eq!(parse(&text), Ok(query));
}

#[test]
fn display_quotes_names_that_are_not_plain_words() {
    let lookup = |name: &str| (!name.is_empty()).then_some(ValueType::Int);
    for name in ["my field", "a`b", "1st", "AND", "null", "Größe", "_x1"] {
        let field = Field::Custom {
            name: name.into(),
            value_type: ValueType::Int,
        };
        let query = Query {
            filter: Some(Expr::IsNull {
                field,
                negated: false,
            }),
            ..Query::default()
        };
        let text = query.to_string();
        assert_eq!(parse_with(&text, &lookup), Ok(query), "{text}");
    }
    let quoted = |name: &str| {
        Query {
            order_by: vec![OrderBy {
                field: Field::Custom {
                    name: name.into(),
                    value_type: ValueType::Int,
                },
                direction: Direction::Asc,
            }],
            ..Query::default()
        }
        .to_string()
    };
    assert_eq!(quoted("a`b"), "ORDER BY `a``b` ASC");
    assert_eq!(quoted("Größe"), "ORDER BY Größe ASC");
}

#[test]
fn every_custom_error_message_starts_with_invalid_query() {
    for input in [
        "CustomNothing = 1",
        "CustomText < 'a'",
        "CustomText = ''",
        "CustomBool = 'maybe'",
        "CustomKeywordList BETWEEN 'a' AND 'b'",
        "ORDER BY CustomText",
        "GROUP BY CustomKeyword",
    ] {
        let message = error(input).to_string();
        assert!(
            message.starts_with("invalid query: "),
            "{input:?}: {message}"
        );
    }
}
