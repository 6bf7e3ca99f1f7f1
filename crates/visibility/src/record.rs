//! A row as a query reads it.

use cairn_query::{ExecutionStatus, Field, Record, Value};

use crate::Row;

/// The system search attribute that sets Temporal's own workflows apart.
pub const NAMESPACE_DIVISION: &str = "TemporalNamespaceDivision";
/// Its value on the runs that hold schedules.
pub const SCHEDULER_DIVISION: &str = "TemporalScheduler";

impl Record for Row {
    fn field(&self, field: &Field) -> Value {
        match field {
            Field::WorkflowId => Value::String(self.workflow_id.clone()),
            Field::WorkflowType => Value::String(self.workflow_type.clone()),
            Field::RunId => Value::String(self.run_id.clone()),
            Field::ExecutionStatus => {
                ExecutionStatus::from_i32(self.status).map_or(Value::Null, Value::Status)
            }
            Field::TaskQueue => Value::String(self.task_queue.clone()),
            Field::StartTime => Value::Time(self.start_time),
            Field::CloseTime => self.close_time.map_or(Value::Null, Value::Time),
            Field::ExecutionTime => Value::Time(self.execution_time),
            Field::HistoryLength => Value::Int(self.history_length),
            Field::ParentWorkflowId => non_empty(&self.parent_workflow_id),
            Field::ParentRunId => non_empty(&self.parent_run_id),
            Field::RootWorkflowId if self.root_workflow_id.is_empty() => {
                Value::String(self.workflow_id.clone())
            }
            Field::RootWorkflowId => Value::String(self.root_workflow_id.clone()),
            Field::RootRunId if self.root_run_id.is_empty() => Value::String(self.run_id.clone()),
            Field::RootRunId => Value::String(self.root_run_id.clone()),
            Field::Custom { name, .. } if name == NAMESPACE_DIVISION => {
                if self.scheduler {
                    Value::String(SCHEDULER_DIVISION.into())
                } else {
                    Value::Null
                }
            }
            Field::Custom { name, .. } if name == "TemporalSchedulePaused" => {
                self.schedule_paused.map_or(Value::Null, Value::Bool)
            }
            Field::Custom { name, value_type } => {
                crate::attributes::value_of(&self.search_attributes, name, *value_type)
            }
        }
    }
}

/// A keyword that is absent when empty.
fn non_empty(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        Value::String(text.to_owned())
    }
}

/// Whether a query asks about Temporal's own workflows, such as the runs holding schedules,
/// which are left out otherwise (as Temporal leaves out its scheduler workflows).
pub fn names_division(query: &cairn_query::Query) -> bool {
    query
        .filter
        .iter()
        .flat_map(|f| f.fields())
        .any(|f| matches!(&f, Field::Custom { name, .. } if name == NAMESPACE_DIVISION))
}
