//! The workflow execution statuses a query can name.

use std::fmt;

/// A workflow execution status, numbered as in Temporal's `WorkflowExecutionStatus` proto
/// enum. `UNSPECIFIED` (0) is deliberately absent: no execution is ever in that state.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ExecutionStatus {
    Running,
    Completed,
    Failed,
    Canceled,
    Terminated,
    ContinuedAsNew,
    TimedOut,
}

impl ExecutionStatus {
    /// Every status, in proto-number order.
    pub const ALL: [ExecutionStatus; 7] = [
        ExecutionStatus::Running,
        ExecutionStatus::Completed,
        ExecutionStatus::Failed,
        ExecutionStatus::Canceled,
        ExecutionStatus::Terminated,
        ExecutionStatus::ContinuedAsNew,
        ExecutionStatus::TimedOut,
    ];

    /// Returns the PascalCase name queries use, such as `ContinuedAsNew`.
    pub fn name(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "Running",
            ExecutionStatus::Completed => "Completed",
            ExecutionStatus::Failed => "Failed",
            ExecutionStatus::Canceled => "Canceled",
            ExecutionStatus::Terminated => "Terminated",
            ExecutionStatus::ContinuedAsNew => "ContinuedAsNew",
            ExecutionStatus::TimedOut => "TimedOut",
        }
    }

    /// Returns the proto enum value name, such as `WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW`.
    pub fn proto_name(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "WORKFLOW_EXECUTION_STATUS_RUNNING",
            ExecutionStatus::Completed => "WORKFLOW_EXECUTION_STATUS_COMPLETED",
            ExecutionStatus::Failed => "WORKFLOW_EXECUTION_STATUS_FAILED",
            ExecutionStatus::Canceled => "WORKFLOW_EXECUTION_STATUS_CANCELED",
            ExecutionStatus::Terminated => "WORKFLOW_EXECUTION_STATUS_TERMINATED",
            ExecutionStatus::ContinuedAsNew => "WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW",
            ExecutionStatus::TimedOut => "WORKFLOW_EXECUTION_STATUS_TIMED_OUT",
        }
    }

    /// Looks a status up by its PascalCase name or its proto enum value name, case-sensitively,
    /// the two spellings Temporal's `WorkflowExecutionStatusFromString` accepts.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.name() == name || status.proto_name() == name)
    }

    /// Returns the proto enum number (`Running` is 1, `TimedOut` is 7).
    pub fn as_i32(self) -> i32 {
        match self {
            ExecutionStatus::Running => 1,
            ExecutionStatus::Completed => 2,
            ExecutionStatus::Failed => 3,
            ExecutionStatus::Canceled => 4,
            ExecutionStatus::Terminated => 5,
            ExecutionStatus::ContinuedAsNew => 6,
            ExecutionStatus::TimedOut => 7,
        }
    }

    /// Returns the status with the given proto enum number, or `None` for 0 (unspecified) and
    /// numbers Temporal does not define.
    pub fn from_i32(value: i32) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_i32() == value)
    }
}

impl From<ExecutionStatus> for i32 {
    fn from(status: ExecutionStatus) -> Self {
        status.as_i32()
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_temporal_proto_enum() {
        let numbers: Vec<i32> = ExecutionStatus::ALL.into_iter().map(i32::from).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(ExecutionStatus::ContinuedAsNew.as_i32(), 6);
    }

    #[test]
    fn numbers_round_trip_and_unspecified_is_rejected() {
        for status in ExecutionStatus::ALL {
            assert_eq!(ExecutionStatus::from_i32(status.as_i32()), Some(status));
        }
        assert_eq!(ExecutionStatus::from_i32(0), None);
        assert_eq!(ExecutionStatus::from_i32(8), None);
        assert_eq!(ExecutionStatus::from_i32(-1), None);
    }

    #[test]
    fn names_round_trip_in_both_spellings() {
        for status in ExecutionStatus::ALL {
            assert_eq!(ExecutionStatus::from_name(status.name()), Some(status));
            assert_eq!(
                ExecutionStatus::from_name(status.proto_name()),
                Some(status)
            );
        }
        assert_eq!(
            ExecutionStatus::from_name("TimedOut"),
            Some(ExecutionStatus::TimedOut)
        );
        assert_eq!(
            ExecutionStatus::from_name("WORKFLOW_EXECUTION_STATUS_TIMED_OUT"),
            Some(ExecutionStatus::TimedOut)
        );
    }

    #[test]
    fn names_are_case_sensitive() {
        assert_eq!(ExecutionStatus::from_name("running"), None);
        assert_eq!(ExecutionStatus::from_name("RUNNING"), None);
        assert_eq!(ExecutionStatus::from_name("Cancelled"), None);
        assert_eq!(ExecutionStatus::from_name("Unspecified"), None);
        assert_eq!(ExecutionStatus::from_name(""), None);
    }

    #[test]
    fn displays_the_query_name() {
        assert_eq!(
            ExecutionStatus::ContinuedAsNew.to_string(),
            "ContinuedAsNew"
        );
    }
}
