//! A run as visibility sees it: the fields Temporal's visibility store keeps, never the
//! mutable state. Rows are derived from the state sections a transition changes, stored
//! beside the state in the same batch, and are what List returns and Count counts.

use cairn_engine::{MutableState, RunKey, sections::Section};
use serde::{Deserialize, Serialize};

/// One run's visibility record. Encoded with protobuf in the store (compact, and new fields
/// read as their defaults), and as JSON between nodes.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
pub struct Row {
    #[prost(string, tag = "1")]
    pub namespace_id: String,
    #[prost(string, tag = "2")]
    pub workflow_id: String,
    #[prost(string, tag = "3")]
    pub run_id: String,
    #[prost(string, tag = "4")]
    pub workflow_type: String,
    /// `temporal.api.enums.v1.WorkflowExecutionStatus`.
    #[prost(int32, tag = "5")]
    pub status: i32,
    /// Unix nanoseconds.
    #[prost(int64, tag = "6")]
    pub start_time: i64,
    #[prost(int64, optional, tag = "7")]
    pub close_time: Option<i64>,
    #[prost(int64, tag = "8")]
    pub execution_time: i64,
    #[prost(string, tag = "9")]
    pub task_queue: String,
    #[prost(int64, tag = "10")]
    pub history_length: i64,
    #[prost(int64, tag = "11")]
    pub history_size_bytes: i64,
    /// Encoded `temporal.api.common.v1.Memo`.
    #[prost(bytes = "vec", tag = "12")]
    pub memo: Vec<u8>,
    /// Encoded `temporal.api.common.v1.SearchAttributes`.
    #[prost(bytes = "vec", tag = "13")]
    pub search_attributes: Vec<u8>,
    #[prost(string, tag = "14")]
    pub first_run_id: String,
    #[prost(string, tag = "15")]
    pub parent_namespace_id: String,
    #[prost(string, tag = "16")]
    pub parent_workflow_id: String,
    #[prost(string, tag = "17")]
    pub parent_run_id: String,
    /// Empty when the run is its own root.
    #[prost(string, tag = "18")]
    pub root_workflow_id: String,
    #[prost(string, tag = "19")]
    pub root_run_id: String,
    /// The run holds a schedule (one of Temporal's own workflows).
    #[prost(bool, tag = "20")]
    pub scheduler: bool,
    /// For a run holding a schedule: whether the schedule is paused.
    #[prost(bool, optional, tag = "21")]
    pub schedule_paused: Option<bool>,
    /// The run closed and its parent (or the schedule that started it) has not been told
    /// yet. Not shown; it lets a new owner find the runs that still owe a message.
    #[prost(bool, tag = "22")]
    pub notify_parent: bool,
}

impl Row {
    /// The row of a run's whole state.
    pub fn of(state: &MutableState) -> Self {
        let mut row = Self::default();
        row.set_run_fields(state);
        row.memo = state.memo.clone();
        row.search_attributes = state.search_attributes.clone();
        row.set_schedule(state.schedule.as_ref());
        row
    }

    /// Takes in one changed section of the run's state. Sections visibility does not show
    /// (activities, timers, buffered events...) change nothing; the result says whether the
    /// row changed.
    pub fn apply(&mut self, section: &Section) -> bool {
        let before = self.clone();
        match section {
            Section::Run(fields) => self.set_run_fields(fields),
            Section::Memo(bytes) => self.memo = bytes.clone(),
            Section::SearchAttributes(bytes) => self.search_attributes = bytes.clone(),
            Section::Schedule(schedule) => self.set_schedule(Some(schedule)),
            _ => return false,
        }
        *self != before
    }

    /// Takes in the removal of a section of the kind given.
    pub fn remove(&mut self, kind: cairn_engine::sections::SectionKind) -> bool {
        use cairn_engine::sections::SectionKind as K;
        match kind {
            K::Memo if !self.memo.is_empty() => self.memo.clear(),
            K::SearchAttributes if !self.search_attributes.is_empty() => {
                self.search_attributes.clear();
            }
            K::Schedule if self.scheduler => self.set_schedule(None),
            _ => return false,
        }
        true
    }

    fn set_run_fields(&mut self, state: &MutableState) {
        self.namespace_id.clone_from(&state.run.namespace_id);
        self.workflow_id.clone_from(&state.run.workflow_id);
        self.run_id.clone_from(&state.run.run_id);
        self.workflow_type.clone_from(&state.workflow_type);
        self.status = state.status.to_proto();
        self.start_time = state.start_time;
        self.close_time = state.close_time;
        self.execution_time = state.execution_time;
        self.task_queue.clone_from(&state.task_queue);
        self.history_length = state.next_event_id - 1;
        self.history_size_bytes = state.history_size_bytes;
        self.first_run_id.clone_from(&state.first_run_id);
        self.notify_parent = state.notify_parent;
        let parent = state.parent.as_ref();
        self.parent_namespace_id = parent
            .map(|p| p.run.namespace_id.clone())
            .unwrap_or_default();
        self.parent_workflow_id = parent
            .map(|p| p.run.workflow_id.clone())
            .unwrap_or_default();
        self.parent_run_id = parent.map(|p| p.run.run_id.clone()).unwrap_or_default();
        self.root_workflow_id = state
            .root
            .as_ref()
            .map(|r| r.workflow_id.clone())
            .unwrap_or_default();
        self.root_run_id = state
            .root
            .as_ref()
            .map(|r| r.run_id.clone())
            .unwrap_or_default();
    }

    fn set_schedule(&mut self, schedule: Option<&cairn_engine::schedule::ScheduleState>) {
        self.scheduler = schedule.is_some();
        self.schedule_paused = schedule
            .and_then(|s| s.schedule().state)
            .map(|state| state.paused);
    }

    /// The run this row describes.
    pub fn run(&self) -> RunKey {
        RunKey {
            namespace_id: self.namespace_id.clone(),
            workflow_id: self.workflow_id.clone(),
            run_id: self.run_id.clone(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.status == cairn_engine::ExecutionStatus::Running.to_proto()
    }
}
