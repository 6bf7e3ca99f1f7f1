//! The search attributes a query may name.

use std::fmt;

/// A search attribute: one of Temporal's system attributes, or a namespace's custom attribute.
/// Names are case-sensitive, as in Temporal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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
    /// The parent's workflow ID; none for a run without a parent.
    ParentWorkflowId,
    ParentRunId,
    /// The workflow at the top of the run's chain of parents: the run itself when it has
    /// no parent, as in Temporal.
    RootWorkflowId,
    RootRunId,
    /// A custom search attribute registered on the namespace, with its indexed value type.
    Custom {
        name: String,
        value_type: ValueType,
    },
}

/// The Temporal indexed value type of a search attribute, which decides the literals and
/// operators it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ValueType {
    /// Exact-match strings; ordered byte-wise. `ExecutionStatus` is a keyword whose values are
    /// status names.
    Keyword,
    /// Full-text strings: `=` and `!=` match words, and there is no ordering.
    Text,
    /// 64-bit integers.
    Int,
    /// 64-bit floating-point numbers.
    Double,
    /// `true` or `false`; `false` orders first.
    Bool,
    /// Instants, written as RFC 3339 strings or integer unix nanoseconds.
    Datetime,
    /// Lists of keywords: `=` tests membership, and there is no ordering.
    KeywordList,
}

impl Field {
    /// Every system field, in declaration order.
    pub const ALL: [Field; 13] = [
        Field::WorkflowId,
        Field::WorkflowType,
        Field::RunId,
        Field::ExecutionStatus,
        Field::TaskQueue,
        Field::StartTime,
        Field::CloseTime,
        Field::ExecutionTime,
        Field::HistoryLength,
        Field::ParentWorkflowId,
        Field::ParentRunId,
        Field::RootWorkflowId,
        Field::RootRunId,
    ];

    /// Returns the name queries use for this field.
    pub fn name(&self) -> &str {
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
            Field::ParentWorkflowId => "ParentWorkflowId",
            Field::ParentRunId => "ParentRunId",
            Field::RootWorkflowId => "RootWorkflowId",
            Field::RootRunId => "RootRunId",
            Field::Custom { name, .. } => name,
        }
    }

    /// Looks a system field up by its exact, case-sensitive name; custom attributes are
    /// never found here (see [`crate::parse_with`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|field| field.name() == name)
    }

    /// Returns the field's indexed value type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Field::WorkflowId
            | Field::WorkflowType
            | Field::RunId
            | Field::ExecutionStatus
            | Field::TaskQueue
            | Field::ParentWorkflowId
            | Field::ParentRunId
            | Field::RootWorkflowId
            | Field::RootRunId => ValueType::Keyword,
            Field::StartTime | Field::CloseTime | Field::ExecutionTime => ValueType::Datetime,
            Field::HistoryLength => ValueType::Int,
            Field::Custom { value_type, .. } => *value_type,
        }
    }
}

impl ValueType {
    /// Every value type, in declaration order.
    pub const ALL: [ValueType; 7] = [
        ValueType::Keyword,
        ValueType::Text,
        ValueType::Int,
        ValueType::Double,
        ValueType::Bool,
        ValueType::Datetime,
        ValueType::KeywordList,
    ];

    /// Returns Temporal's name for the type, such as `KeywordList`.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Keyword => "Keyword",
            ValueType::Text => "Text",
            ValueType::Int => "Int",
            ValueType::Double => "Double",
            ValueType::Bool => "Bool",
            ValueType::Datetime => "Datetime",
            ValueType::KeywordList => "KeywordList",
        }
    }

    /// Looks a type up by its exact, case-sensitive Temporal name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|value_type| value_type.name() == name)
    }

    /// Returns whether values of this type have an order, so that `<`, `<=`, `>`, `>=` and
    /// `BETWEEN` apply.
    pub(crate) fn is_ordered(self) -> bool {
        matches!(
            self,
            ValueType::Keyword | ValueType::Int | ValueType::Double | ValueType::Datetime
        )
    }

    /// Returns whether `ORDER BY` may sort by attributes of this type.
    pub(crate) fn is_sortable(self) -> bool {
        !matches!(self, ValueType::Text | ValueType::KeywordList)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(name: &str, value_type: ValueType) -> Field {
        Field::Custom {
            name: name.to_owned(),
            value_type,
        }
    }

    #[test]
    fn names_round_trip() {
        for field in Field::ALL {
            assert_eq!(Field::from_name(field.name()), Some(field.clone()));
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

    #[test]
    fn custom_fields_report_their_name_and_type() {
        let field = custom("CustomerTier", ValueType::KeywordList);
        assert_eq!(field.name(), "CustomerTier");
        assert_eq!(field.to_string(), "CustomerTier");
        assert_eq!(field.value_type(), ValueType::KeywordList);
    }

    #[test]
    fn from_name_finds_only_system_fields() {
        assert_eq!(Field::from_name("CustomerTier"), None);
        assert_eq!(Field::from_name("WorkflowId"), Some(Field::WorkflowId));
    }

    #[test]
    fn value_type_names_round_trip_and_are_temporals() {
        let names: Vec<String> = ValueType::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "Keyword",
                "Text",
                "Int",
                "Double",
                "Bool",
                "Datetime",
                "KeywordList"
            ]
        );
        for value_type in ValueType::ALL {
            assert_eq!(ValueType::from_name(value_type.name()), Some(value_type));
        }
    }

    #[test]
    fn value_type_names_are_exact() {
        for name in [
            "keyword", "KEYWORD", "Boolean", "Float", "String", "", "Int ",
        ] {
            assert_eq!(ValueType::from_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn text_and_keyword_lists_are_neither_ordered_nor_sortable() {
        let ordered: Vec<ValueType> = ValueType::ALL
            .into_iter()
            .filter(|value_type| value_type.is_ordered())
            .collect();
        assert_eq!(
            ordered,
            [
                ValueType::Keyword,
                ValueType::Int,
                ValueType::Double,
                ValueType::Datetime
            ]
        );
        let unsortable: Vec<ValueType> = ValueType::ALL
            .into_iter()
            .filter(|value_type| !value_type.is_sortable())
            .collect();
        assert_eq!(unsortable, [ValueType::Text, ValueType::KeywordList]);
    }
}
