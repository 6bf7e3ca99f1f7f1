//! List and Count: Temporal's filter language evaluated over every partition's runs.

use cairn_engine::{ExecutionStatus as Status, MutableState};
use cairn_query::{ExecutionStatus, Field, Query, Record, Value, ValueType};

pub struct RunRecord<'a>(pub &'a MutableState);

fn status(status: Status) -> ExecutionStatus {
    ExecutionStatus::from_i32(status.to_proto()).expect("engine statuses are Temporal's")
}

impl Record for RunRecord<'_> {
    fn field(&self, field: &Field) -> Value {
        let state = self.0;
        match field {
            Field::WorkflowId => Value::String(state.run.workflow_id.clone()),
            Field::WorkflowType => Value::String(state.workflow_type.clone()),
            Field::RunId => Value::String(state.run.run_id.clone()),
            Field::ExecutionStatus => Value::Status(status(state.status)),
            Field::TaskQueue => Value::String(state.task_queue.clone()),
            Field::StartTime => Value::Time(state.start_time),
            Field::CloseTime => state.close_time.map_or(Value::Null, Value::Time),
            Field::ExecutionTime => Value::Time(state.execution_time),
            Field::HistoryLength => Value::Int(state.next_event_id - 1),
            Field::Custom { name, .. } if name == NAMESPACE_DIVISION => {
                if state.schedule.is_some() {
                    Value::String(SCHEDULER_DIVISION.into())
                } else {
                    Value::Null
                }
            }
            Field::Custom { name, .. } if name == "TemporalSchedulePaused" => {
                match state.schedule.as_ref().and_then(|s| s.schedule().state) {
                    Some(held) => Value::Bool(held.paused),
                    None => Value::Null,
                }
            }
            Field::Custom { name, value_type } => {
                crate::search_attributes::value_of(&state.search_attributes, name, *value_type)
            }
        }
    }
}

/// The system search attribute that sets Temporal's own workflows apart.
const NAMESPACE_DIVISION: &str = "TemporalNamespaceDivision";
/// Its value on the runs that hold schedules.
const SCHEDULER_DIVISION: &str = "TemporalScheduler";

/// Search attributes Temporal keeps on its own that queries may name besides the namespace's.
fn system_attribute(name: &str) -> Option<ValueType> {
    crate::search_attributes::SETTABLE_PREDEFINED
        .iter()
        .find(|(predefined, _)| *predefined == name)
        .map(|(_, value_type)| *value_type)
}

/// Parses a List or Count query against the namespace's search attributes.
pub fn parse(
    namespace: &crate::namespaces::Namespace,
    query: &str,
) -> Result<Query, tonic::Status> {
    let custom = crate::search_attributes::custom(namespace);
    cairn_query::parse_with(query, &|name| {
        system_attribute(name).or_else(|| custom.get(name).copied())
    })
    .map_err(|e| tonic::Status::invalid_argument(e.to_string()))
}

/// Whether a query asks about Temporal's own workflows, such as the runs holding schedules,
/// which are left out otherwise (as Temporal leaves out its scheduler workflows).
fn names_division(query: &Query) -> bool {
    query
        .filter
        .iter()
        .flat_map(|f| f.fields())
        .any(|f| matches!(&f, Field::Custom { name, .. } if name == NAMESPACE_DIVISION))
}

/// The runs of a namespace that match, newest first unless the query orders them.
pub fn select(query: &Query, namespace_id: &str, runs: Vec<MutableState>) -> Vec<MutableState> {
    let own_workflows = names_division(query);
    let mut matching: Vec<MutableState> = runs
        .into_iter()
        .filter(|s| {
            s.run.namespace_id == namespace_id
                && (s.schedule.is_none() || own_workflows)
                && query.matches(&RunRecord(s))
        })
        .collect();
    if query.order_by.is_empty() {
        matching.sort_by(|a, b| {
            b.start_time
                .cmp(&a.start_time)
                .then_with(|| a.run.cmp(&b.run))
        });
    } else {
        matching.sort_by(|a, b| query.compare(&RunRecord(a), &RunRecord(b)));
    }
    matching
}
