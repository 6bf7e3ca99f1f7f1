//! Temporal's visibility query language: the `query` string of `ListWorkflowExecutions` and
//! `CountWorkflowExecutions`, parsed into a [`Query`] and evaluated against records.
//!
//! The accepted language is the SQL `WHERE`-clause subset Temporal 1.32 accepts, over the
//! system search attributes in [`Field`] and, through [`parse_with`], a namespace's custom
//! search attributes ([`Field::Custom`]):
//!
//! ```text
//! WorkflowType = 'order' AND (ExecutionStatus = 'Running' OR CloseTime > '2024-01-01T00:00:00Z')
//! WorkflowId STARTS_WITH 'batch-' AND HistoryLength BETWEEN 10 AND 100 ORDER BY StartTime DESC
//! ExecutionStatus IN ('Failed', 'TimedOut') GROUP BY ExecutionStatus
//! CustomerTier IN ('gold', 'platinum') AND Priority >= 2.5 AND Urgent = true
//! ```
//!
//! Each attribute's [`ValueType`] decides the literals and operators it accepts, as in
//! Temporal's SQL visibility store:
//!
//! | Type          | Literals                                  | Operators                                               |
//! |---------------|-------------------------------------------|---------------------------------------------------------|
//! | `Keyword`     | strings                                   | `=` `!=` `<` `<=` `>` `>=` `BETWEEN` `IN` `STARTS_WITH` |
//! | `Int`         | numbers                                   | `=` `!=` `<` `<=` `>` `>=` `BETWEEN` `IN`               |
//! | `Double`      | numbers                                   | `=` `!=` `<` `<=` `>` `>=` `BETWEEN` `IN`               |
//! | `Datetime`    | RFC 3339 strings, integer unix nanos      | `=` `!=` `<` `<=` `>` `>=` `BETWEEN` `IN`               |
//! | `Bool`        | `true`, `false`, `'true'`, `'false'`      | `=` `!=` `IN`                                           |
//! | `KeywordList` | strings                                   | `=` (contains) `!=` `IN` (contains any)                 |
//! | `Text`        | strings with a term                       | `=` (full-text match) `!=`                              |
//!
//! Every type also takes `IS [NOT] NULL`, and `NOT` forms of `IN`, `BETWEEN` and
//! `STARTS_WITH`. `ORDER BY` accepts every type but `Text` and `KeywordList`; `GROUP BY` only
//! `ExecutionStatus`. A `Text` comparison matches when any space-separated term of the literal
//! occurs among the value's words, case-insensitively, as Temporal's SQLite store does.
//!
//! Invariants: [`parse`] never panics and bounds nesting, so evaluating a parsed query cannot
//! overflow the stack; a parsed [`Expr`] holds only values of its field's type, so a type
//! mismatch at evaluation time can only come from a [`Record`] that reports the wrong kind of
//! value (it then behaves like a missing value). Every rejected query yields a [`QueryError`]
//! whose message starts with "invalid query".
//!
//! Differences from Temporal worth knowing: literals must match the attribute's type (Temporal's
//! SQL stores let some mismatches through to the database), and `Bool` also takes the strings
//! `'true'` and `'false'`; `Text` matching does not fold diacritics as SQLite's tokenizer does;
//! `NOT` is accepted as a standalone operator (Temporal's SQL stores accept it, its legacy
//! Elasticsearch converter does not); `Unspecified` is not a valid `ExecutionStatus` value
//! because no execution has it; and missing values follow SQL's three-valued logic (see
//! [`Query::matches`]).

mod ast;
mod display;
mod error;
mod eval;
mod field;
mod fulltext;
mod lexer;
mod literal;
mod parser;
mod status;
mod time;
mod value;

use std::cmp::Ordering;

pub use ast::{CompareOp, Direction, Expr, OrderBy};
pub use error::QueryError;
pub use eval::compare_records;
pub use field::{Field, ValueType};
pub use parser::MAX_DEPTH;
pub use status::ExecutionStatus;
pub use time::{TimeError, format_rfc3339, parse_rfc3339};
pub use value::Value;

/// A parsed visibility query.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Query {
    /// The filter; `None` matches every record.
    pub filter: Option<Expr>,
    /// `ORDER BY` keys, most significant first. Sorting is the caller's job; see
    /// [`Query::compare`].
    pub order_by: Vec<OrderBy>,
    /// `GROUP BY` fields for counting. When not empty it is exactly `[Field::ExecutionStatus]`,
    /// and `order_by` is empty.
    pub group_by: Vec<Field>,
}

/// Parses a query string over the system search attributes only; any other name is an
/// unknown search attribute. An empty or all-whitespace string matches everything.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    parse_with(input, &|_| None)
}

/// Parses a query string like [`parse`], looking a name that is not a system search attribute
/// up with `custom`: when it returns a type the name becomes a [`Field::Custom`], otherwise
/// the query is rejected as naming an unknown search attribute. System names always win, so a
/// custom attribute cannot shadow one.
pub fn parse_with(
    input: &str,
    custom: &dyn Fn(&str) -> Option<ValueType>,
) -> Result<Query, QueryError> {
    parser::parse_query(input, custom)
}

/// Something a query can filter and sort: one workflow execution's search attributes.
pub trait Record {
    /// Returns the value of `field`, or [`Value::Null`] when the record has none (such as the
    /// `CloseTime` of a running workflow, or a custom attribute the workflow never set).
    ///
    /// System fields: keywords are `Value::String`, `ExecutionStatus` is `Value::Status`,
    /// datetimes are `Value::Time` and `HistoryLength` is `Value::Int`. Custom fields, by
    /// [`ValueType`]: `Keyword` and `Text` are `Value::String`, `Int` is `Value::Int`,
    /// `Double` is `Value::Float`, `Bool` is `Value::Bool`, `Datetime` is `Value::Time` (unix
    /// nanoseconds) and `KeywordList` is `Value::List`. A value of another kind compares like
    /// a missing one.
    fn field(&self, field: &Field) -> Value;
}

impl Query {
    /// Returns whether `record` passes the filter. Comparisons with a missing value are
    /// neither true nor false, as in SQL, and a record only matches when the filter is true:
    /// `CloseTime < '2030-01-01T00:00:00Z'` and its negation both skip running workflows, and
    /// `CloseTime != ...` does too. Use `IS NULL` / `IS NOT NULL` to test for presence.
    pub fn matches(&self, record: &impl Record) -> bool {
        match &self.filter {
            None => true,
            Some(filter) => eval::evaluate(filter, record) == eval::Truth::True,
        }
    }

    /// Orders two records by this query's `ORDER BY` keys (see [`compare_records`]); equal
    /// when there are none, so a stable sort keeps the caller's default order.
    pub fn compare(&self, a: &impl Record, b: &impl Record) -> Ordering {
        compare_records(&self.order_by, a, b)
    }
}

#[cfg(test)]
mod strategies;
#[cfg(test)]
mod tests;
