//! Why a query string was rejected.

use crate::field::Field;
use crate::time::TimeError;

/// A query the server cannot run. Every message starts with "invalid query" and describes a
/// mistake in the caller's input, so the frontend reports it as `InvalidArgument`.
/// Positions are byte offsets into the query string, counted from 0.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error(
        "invalid query: syntax error at position {position}: expected {expected}, found {found}"
    )]
    Syntax {
        position: usize,
        expected: &'static str,
        found: String,
    },
    #[error("invalid query: unterminated {what} starting at position {position}")]
    Unterminated { what: &'static str, position: usize },
    #[error("invalid query: unexpected character `{character}` at position {position}")]
    UnexpectedCharacter { character: char, position: usize },
    #[error("invalid query: invalid number {literal}")]
    InvalidNumber { literal: String },
    #[error("invalid query: unknown search attribute {name}")]
    UnknownSearchAttribute { name: String },
    #[error("invalid query: invalid ExecutionStatus value {value}")]
    InvalidExecutionStatus { value: String },
    #[error("invalid query: unable to parse datetime {value} for search attribute {field}")]
    InvalidDatetime {
        field: Field,
        value: String,
        #[source]
        source: TimeError,
    },
    #[error("invalid query: invalid value {value} for search attribute {field} of type {}", field.value_type())]
    InvalidValue { field: Field, value: String },
    #[error(
        "invalid query: value {name} is not quoted; a search attribute name cannot appear on \
         the right side of a comparison"
    )]
    UnquotedValue { name: String },
    #[error(
        "invalid query: operator '{operator}' is not supported for search attribute {field} of \
         type {}",
        field.value_type()
    )]
    UnsupportedOperator {
        operator: &'static str,
        field: Field,
    },
    #[error("invalid query: {construct} is not supported")]
    Unsupported { construct: String },
    #[error("invalid query: 'GROUP BY' is only supported for ExecutionStatus, not {field}")]
    UnsupportedGroupBy { field: Field },
    #[error("invalid query: expressions are nested more than {limit} levels deep")]
    TooDeep { limit: usize },
}
