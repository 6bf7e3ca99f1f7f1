//! The search attributes a query may name.

use std::fmt;

/// A system search attribute. Names are case-sensitive, as in Temporal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    WorkflowId,
    WorkflowType,
    RunId,
    ExecutionStatus,
    TaskQueue,
    StartTime,
    CloseTime,
    ExecutionTime,
    HistoryLength,
}

/// The Temporal indexed value type of a search attribute, which decides the literals and
/// operators it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// Exact-match strings; ordered byte-wise. `ExecutionStatus` is a keyword whose values are
    /// status names.
    Keyword,
    /// Instants, written as RFC 3339 strings or integer unix nanoseconds.
    Datetime,
    /// 64-bit integers.
    Int,
}

impl Field {
    /// Every field, in declaration order.
    pub const ALL: [Field; 9] = [
        Field::WorkflowId,
        Field::WorkflowType,
        Field::RunId,
        Field::ExecutionStatus,
        Field::TaskQueue,
        Field::StartTime,
        Field::CloseTime,
        Field::ExecutionTime,
        Field::HistoryLength,
    ];

    /// Returns the name queries use for this field.
    pub fn name(self) -> &'static str {
        match self {
            Field::WorkflowId => "WorkflowId",
            Field::WorkflowType => "WorkflowType",
            Field::RunId => "RunId",
            Field::ExecutionStatus => "ExecutionStatus",
            Field::TaskQueue => "TaskQueue",
            Field::StartTime => "StartTime",
            Field::CloseTime => "CloseTime",
            Field::ExecutionTime => "ExecutionTime",
            Field::HistoryLength => "HistoryLength",
        }
    }

    /// Looks a field up by its exact, case-sensitive name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|field| field.name() == name)
    }

    /// Returns the field's indexed value type.
    pub fn value_type(self) -> ValueType {
        match self {
            Field::WorkflowId
            | Field::WorkflowType
            | Field::RunId
            | Field::ExecutionStatus
            | Field::TaskQueue => ValueType::Keyword,
            Field::StartTime | Field::CloseTime | Field::ExecutionTime => ValueType::Datetime,
            Field::HistoryLength => ValueType::Int,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueType::Keyword => "Keyword",
            ValueType::Datetime => "Datetime",
            ValueType::Int => "Int",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for field in Field::ALL {
            assert_eq!(Field::from_name(field.name()), Some(field));
        }
    }

    #[test]
    fn names_are_case_sensitive() {
        assert_eq!(Field::from_name("workflowid"), None);
        assert_eq!(Field::from_name("WorkflowID"), None);
        assert_eq!(Field::from_name("CustomKeywordField"), None);
    }

    #[test]
    fn value_types_follow_temporal() {
        assert_eq!(Field::ExecutionStatus.value_type(), ValueType::Keyword);
        assert_eq!(Field::CloseTime.value_type(), ValueType::Datetime);
        assert_eq!(Field::HistoryLength.value_type(), ValueType::Int);
        assert_eq!(ValueType::Datetime.to_string(), "Datetime");
    }
}
