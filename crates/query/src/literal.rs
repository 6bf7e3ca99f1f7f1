//! Literals as written in a query, and their conversion to values of the field they are
//! compared with.
//!
//! The conversions follow Temporal's: keywords, texts and keyword lists take strings (a text
//! needs at least one term, see [`crate::fulltext`]); datetimes take RFC 3339 strings or
//! integer unix nanoseconds; integers and doubles take integer or fractional numbers; booleans
//! take `TRUE` / `FALSE` or the strings `'true'` / `'false'`, in any case; and
//! `ExecutionStatus` takes a status name in either spelling or a proto enum number.

use std::fmt;

use crate::error::QueryError;
use crate::field::{Field, ValueType};
use crate::fulltext;
use crate::status::ExecutionStatus;
use crate::time::parse_rfc3339;
use crate::value::Value;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(text) => write!(f, "'{text}'"),
            Literal::Int(int) => write!(f, "{int}"),
            Literal::Float(float) => write!(f, "{float}"),
            Literal::Bool(true) => f.write_str("TRUE"),
            Literal::Bool(false) => f.write_str("FALSE"),
        }
    }
}

/// Converts the text of an unsigned number token, negated when `negative`. Integers that do
/// not fit in an `i64` become floats, as in Temporal.
pub(crate) fn number(text: &str, negative: bool) -> Result<Literal, QueryError> {
    let signed = if negative {
        format!("-{text}")
    } else {
        text.to_owned()
    };
    if text.bytes().all(|byte| byte.is_ascii_digit())
        && let Ok(int) = signed.parse::<i64>()
    {
        return Ok(Literal::Int(int));
    }
    match signed.parse::<f64>() {
        Ok(float) if float.is_finite() => Ok(Literal::Float(float)),
        _ => Err(QueryError::InvalidNumber { literal: signed }),
    }
}

/// Converts `literal` to a value of `field`'s type, or explains why it has the wrong type.
pub(crate) fn coerce(field: &Field, literal: Literal) -> Result<Value, QueryError> {
    if *field == Field::ExecutionStatus {
        return coerce_status(literal);
    }
    match (field.value_type(), literal) {
        (ValueType::Keyword | ValueType::KeywordList, Literal::Str(text)) => {
            Ok(Value::String(text))
        }
        (ValueType::Text, Literal::Str(text)) if fulltext::has_terms(&text) => {
            Ok(Value::String(text))
        }
        (ValueType::Datetime, Literal::Str(text)) => coerce_datetime(field, &text),
        (ValueType::Datetime, Literal::Int(nanos)) => Ok(Value::Time(nanos)),
        (ValueType::Int | ValueType::Double, Literal::Int(int)) => Ok(Value::Int(int)),
        (ValueType::Int | ValueType::Double, Literal::Float(float)) => Ok(Value::Float(float)),
        (ValueType::Bool, Literal::Bool(value)) => Ok(Value::Bool(value)),
        (ValueType::Bool, Literal::Str(text)) => match bool_from_str(&text) {
            Some(value) => Ok(Value::Bool(value)),
            None => Err(invalid_value(field, &Literal::Str(text))),
        },
        (_, other) => Err(invalid_value(field, &other)),
    }
}

/// The error for a literal of the wrong kind for `field`.
fn invalid_value(field: &Field, literal: &Literal) -> QueryError {
    QueryError::InvalidValue {
        field: field.clone(),
        value: literal.to_string(),
    }
}

fn coerce_datetime(field: &Field, text: &str) -> Result<Value, QueryError> {
    parse_rfc3339(text)
        .map(Value::Time)
        .map_err(|source| QueryError::InvalidDatetime {
            field: field.clone(),
            value: format!("'{text}'"),
            source,
        })
}

/// Reads a quoted boolean, `'true'` or `'false'` in any case.
fn bool_from_str(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn coerce_status(literal: Literal) -> Result<Value, QueryError> {
    let status = match &literal {
        Literal::Str(name) => ExecutionStatus::from_name(name),
        Literal::Int(number) => i32::try_from(*number)
            .ok()
            .and_then(ExecutionStatus::from_i32),
        Literal::Float(_) | Literal::Bool(_) => {
            return Err(invalid_value(&Field::ExecutionStatus, &literal));
        }
    };
    status
        .map(Value::Status)
        .ok_or_else(|| QueryError::InvalidExecutionStatus {
            value: literal.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::TimeError;

    #[test]
    fn integers_keep_their_sign_and_full_range() {
        assert_eq!(number("42", false), Ok(Literal::Int(42)));
        assert_eq!(number("42", true), Ok(Literal::Int(-42)));
        assert_eq!(
            number("9223372036854775807", false),
            Ok(Literal::Int(i64::MAX))
        );
        assert_eq!(
            number("9223372036854775808", true),
            Ok(Literal::Int(i64::MIN))
        );
    }

    #[test]
    fn integers_beyond_i64_become_floats() {
        assert_eq!(
            number("9223372036854775808", false),
            Ok(Literal::Float(9.223372036854776e18))
        );
    }

    #[test]
    fn fractions_and_exponents_are_floats() {
        assert_eq!(number("1.5", false), Ok(Literal::Float(1.5)));
        assert_eq!(number(".5", true), Ok(Literal::Float(-0.5)));
        assert_eq!(number("1e3", false), Ok(Literal::Float(1000.0)));
    }

    #[test]
    fn infinite_numbers_are_rejected() {
        assert_eq!(
            number("1e999", false),
            Err(QueryError::InvalidNumber {
                literal: "1e999".into()
            })
        );
    }

    #[test]
    fn keywords_take_only_strings() {
        assert_eq!(
            coerce(&Field::WorkflowId, Literal::Str("a".into())),
            Ok(Value::from("a"))
        );
        assert_eq!(
            coerce(&Field::TaskQueue, Literal::Int(1)),
            Err(QueryError::InvalidValue {
                field: Field::TaskQueue,
                value: "1".into()
            })
        );
        assert!(coerce(&Field::RunId, Literal::Bool(true)).is_err());
    }

    #[test]
    fn datetimes_take_rfc3339_strings_or_unix_nanos() {
        assert_eq!(
            coerce(
                &Field::StartTime,
                Literal::Str("1970-01-01T00:00:01Z".into())
            ),
            Ok(Value::Time(1_000_000_000))
        );
        assert_eq!(
            coerce(&Field::CloseTime, Literal::Int(5)),
            Ok(Value::Time(5))
        );
        assert_eq!(
            coerce(&Field::ExecutionTime, Literal::Str("yesterday".into())),
            Err(QueryError::InvalidDatetime {
                field: Field::ExecutionTime,
                value: "'yesterday'".into(),
                source: TimeError::Malformed {
                    expected: "a four-digit year",
                    offset: 0
                },
            })
        );
        assert!(coerce(&Field::StartTime, Literal::Float(1.5)).is_err());
    }

    #[test]
    fn ints_take_integers_and_fractions() {
        assert_eq!(
            coerce(&Field::HistoryLength, Literal::Int(3)),
            Ok(Value::Int(3))
        );
        assert_eq!(
            coerce(&Field::HistoryLength, Literal::Float(2.5)),
            Ok(Value::Float(2.5))
        );
        assert!(coerce(&Field::HistoryLength, Literal::Str("3".into())).is_err());
    }

    #[test]
    fn statuses_take_names_or_proto_numbers() {
        let running = Ok(Value::Status(ExecutionStatus::Running));
        assert_eq!(
            coerce(&Field::ExecutionStatus, Literal::Str("Running".into())),
            running
        );
        assert_eq!(
            coerce(
                &Field::ExecutionStatus,
                Literal::Str("WORKFLOW_EXECUTION_STATUS_RUNNING".into())
            ),
            running
        );
        assert_eq!(coerce(&Field::ExecutionStatus, Literal::Int(1)), running);
    }

    #[test]
    fn unknown_statuses_are_rejected() {
        let invalid = |value: &str| {
            Err(QueryError::InvalidExecutionStatus {
                value: value.into(),
            })
        };
        assert_eq!(
            coerce(&Field::ExecutionStatus, Literal::Str("running".into())),
            invalid("'running'")
        );
        assert_eq!(
            coerce(&Field::ExecutionStatus, Literal::Str("Unspecified".into())),
            invalid("'Unspecified'")
        );
        assert_eq!(
            coerce(&Field::ExecutionStatus, Literal::Int(0)),
            invalid("0")
        );
        assert_eq!(
            coerce(&Field::ExecutionStatus, Literal::Int(1 << 40)),
            invalid("1099511627776")
        );
        assert!(matches!(
            coerce(&Field::ExecutionStatus, Literal::Float(1.0)),
            Err(QueryError::InvalidValue { .. })
        ));
    }

    fn custom(value_type: ValueType) -> Field {
        Field::Custom {
            name: format!("Custom{value_type}Field"),
            value_type,
        }
    }

    fn rejected(value_type: ValueType, literal: Literal) -> QueryError {
        coerce(&custom(value_type), literal).expect_err("literal should be rejected")
    }

    #[test]
    fn custom_string_types_take_only_strings() {
        for value_type in [ValueType::Keyword, ValueType::Text, ValueType::KeywordList] {
            assert_eq!(
                coerce(&custom(value_type), Literal::Str("a b".into())),
                Ok(Value::from("a b")),
                "{value_type}"
            );
            for literal in [Literal::Int(1), Literal::Float(1.5), Literal::Bool(true)] {
                assert_eq!(
                    rejected(value_type, literal.clone()),
                    QueryError::InvalidValue {
                        field: custom(value_type),
                        value: literal.to_string(),
                    },
                    "{value_type} {literal}"
                );
            }
        }
    }

    #[test]
    fn texts_need_a_term() {
        for text in ["", " ", "   "] {
            assert_eq!(
                rejected(ValueType::Text, Literal::Str(text.into())),
                QueryError::InvalidValue {
                    field: custom(ValueType::Text),
                    value: format!("'{text}'"),
                }
            );
        }
        // Empty keywords are fine.
        assert_eq!(
            coerce(&custom(ValueType::Keyword), Literal::Str(String::new())),
            Ok(Value::from(""))
        );
    }

    #[test]
    fn custom_numbers_take_integers_and_fractions() {
        for value_type in [ValueType::Int, ValueType::Double] {
            let field = custom(value_type);
            assert_eq!(coerce(&field, Literal::Int(-3)), Ok(Value::Int(-3)));
            assert_eq!(coerce(&field, Literal::Float(2.5)), Ok(Value::Float(2.5)));
            assert!(coerce(&field, Literal::Str("3".into())).is_err());
            assert!(coerce(&field, Literal::Bool(false)).is_err());
        }
    }

    #[test]
    fn bools_take_keywords_and_quoted_booleans() {
        let field = custom(ValueType::Bool);
        assert_eq!(coerce(&field, Literal::Bool(true)), Ok(Value::Bool(true)));
        assert_eq!(coerce(&field, Literal::Bool(false)), Ok(Value::Bool(false)));
        for (text, value) in [("true", true), ("FALSE", false), ("True", true)] {
            assert_eq!(
                coerce(&field, Literal::Str(text.into())),
                Ok(Value::Bool(value)),
                "{text}"
            );
        }
        for literal in [
            Literal::Str("yes".into()),
            Literal::Str("1".into()),
            Literal::Str(" true".into()),
            Literal::Int(1),
            Literal::Float(0.0),
        ] {
            assert_eq!(
                rejected(ValueType::Bool, literal.clone()),
                QueryError::InvalidValue {
                    field: field.clone(),
                    value: literal.to_string(),
                }
            );
        }
    }

    #[test]
    fn custom_datetimes_take_rfc3339_strings_or_unix_nanos() {
        let field = custom(ValueType::Datetime);
        assert_eq!(
            coerce(&field, Literal::Str("1970-01-01T00:00:02Z".into())),
            Ok(Value::Time(2_000_000_000))
        );
        assert_eq!(coerce(&field, Literal::Int(7)), Ok(Value::Time(7)));
        assert!(matches!(
            coerce(&field, Literal::Str("soon".into())),
            Err(QueryError::InvalidDatetime { .. })
        ));
        assert!(coerce(&field, Literal::Bool(true)).is_err());
    }

    #[test]
    fn wrong_kinds_name_the_attribute_and_its_type() {
        assert_eq!(
            rejected(ValueType::Bool, Literal::Int(1)).to_string(),
            "invalid query: invalid value 1 for search attribute CustomBoolField of type Bool"
        );
        assert_eq!(
            rejected(ValueType::KeywordList, Literal::Int(1)).to_string(),
            "invalid query: invalid value 1 for search attribute CustomKeywordListField of type \
             KeywordList"
        );
    }
}
