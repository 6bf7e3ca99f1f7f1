//! Literals as written in a query, and their conversion to values of the field they are
//! compared with.
//!
//! The conversions follow Temporal's: keywords take strings; datetimes take RFC 3339 strings
//! or integer unix nanoseconds; integers take integer or fractional numbers; and
//! `ExecutionStatus` takes a status name in either spelling or a proto enum number.

use std::fmt;

use crate::error::QueryError;
use crate::field::{Field, ValueType};
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
pub(crate) fn coerce(field: Field, literal: Literal) -> Result<Value, QueryError> {
    if field == Field::ExecutionStatus {
        return coerce_status(literal);
    }
    match (field.value_type(), literal) {
        (ValueType::Keyword, Literal::Str(text)) => Ok(Value::String(text)),
        (ValueType::Datetime, Literal::Str(text)) => match parse_rfc3339(&text) {
            Ok(nanos) => Ok(Value::Time(nanos)),
            Err(source) => Err(QueryError::InvalidDatetime {
                field,
                value: format!("'{text}'"),
                source,
            }),
        },
        (ValueType::Datetime, Literal::Int(nanos)) => Ok(Value::Time(nanos)),
        (ValueType::Int, Literal::Int(int)) => Ok(Value::Int(int)),
        (ValueType::Int, Literal::Float(float)) => Ok(Value::Float(float)),
        (_, other) => Err(QueryError::InvalidValue {
            field,
            value: other.to_string(),
        }),
    }
}

fn coerce_status(literal: Literal) -> Result<Value, QueryError> {
    let status = match &literal {
        Literal::Str(name) => ExecutionStatus::from_name(name),
        Literal::Int(number) => i32::try_from(*number)
            .ok()
            .and_then(ExecutionStatus::from_i32),
        Literal::Float(_) | Literal::Bool(_) => {
            return Err(QueryError::InvalidValue {
                field: Field::ExecutionStatus,
                value: literal.to_string(),
            });
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
            coerce(Field::WorkflowId, Literal::Str("a".into())),
            Ok(Value::from("a"))
        );
        assert_eq!(
            coerce(Field::TaskQueue, Literal::Int(1)),
            Err(QueryError::InvalidValue {
                field: Field::TaskQueue,
                value: "1".into()
            })
        );
        assert!(coerce(Field::RunId, Literal::Bool(true)).is_err());
    }

    #[test]
    fn datetimes_take_rfc3339_strings_or_unix_nanos() {
        assert_eq!(
            coerce(
                Field::StartTime,
                Literal::Str("1970-01-01T00:00:01Z".into())
            ),
            Ok(Value::Time(1_000_000_000))
        );
        assert_eq!(
            coerce(Field::CloseTime, Literal::Int(5)),
            Ok(Value::Time(5))
        );
        assert_eq!(
            coerce(Field::ExecutionTime, Literal::Str("yesterday".into())),
            Err(QueryError::InvalidDatetime {
                field: Field::ExecutionTime,
                value: "'yesterday'".into(),
                source: TimeError::Malformed {
                    expected: "a four-digit year",
                    offset: 0
                },
            })
        );
        assert!(coerce(Field::StartTime, Literal::Float(1.5)).is_err());
    }

    #[test]
    fn ints_take_integers_and_fractions() {
        assert_eq!(
            coerce(Field::HistoryLength, Literal::Int(3)),
            Ok(Value::Int(3))
        );
        assert_eq!(
            coerce(Field::HistoryLength, Literal::Float(2.5)),
            Ok(Value::Float(2.5))
        );
        assert!(coerce(Field::HistoryLength, Literal::Str("3".into())).is_err());
    }

    #[test]
    fn statuses_take_names_or_proto_numbers() {
        let running = Ok(Value::Status(ExecutionStatus::Running));
        assert_eq!(
            coerce(Field::ExecutionStatus, Literal::Str("Running".into())),
            running
        );
        assert_eq!(
            coerce(
                Field::ExecutionStatus,
                Literal::Str("WORKFLOW_EXECUTION_STATUS_RUNNING".into())
            ),
            running
        );
        assert_eq!(coerce(Field::ExecutionStatus, Literal::Int(1)), running);
    }

    #[test]
    fn unknown_statuses_are_rejected() {
        let invalid = |value: &str| {
            Err(QueryError::InvalidExecutionStatus {
                value: value.into(),
            })
        };
        assert_eq!(
            coerce(Field::ExecutionStatus, Literal::Str("running".into())),
            invalid("'running'")
        );
        assert_eq!(
            coerce(Field::ExecutionStatus, Literal::Str("Unspecified".into())),
            invalid("'Unspecified'")
        );
        assert_eq!(
            coerce(Field::ExecutionStatus, Literal::Int(0)),
            invalid("0")
        );
        assert_eq!(
            coerce(Field::ExecutionStatus, Literal::Int(1 << 40)),
            invalid("1099511627776")
        );
        assert!(matches!(
            coerce(Field::ExecutionStatus, Literal::Float(1.0)),
            Err(QueryError::InvalidValue { .. })
        ));
    }
}
