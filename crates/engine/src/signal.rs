//! What reaches a run from outside: signals, cancellation requests, termination, and the
//! bookkeeping of closing a run.

use prost::Message;

use crate::{
    EngineError, ExecutionStatus,
    events::Tx,
    proto::{
        common::{Header, Memo, Payloads, SearchAttributes},
        history,
    },
};

/// At most this many signals reach one run (Temporal's default per-execution limit).
pub const MAX_SIGNALS_PER_EXECUTION: i64 = 10_000;

#[derive(Debug, Clone, Default)]
pub struct Signal {
    pub name: String,
    pub input: Option<Payloads>,
    pub identity: String,
    pub header: Option<Header>,
    pub request_id: String,
}

impl Tx<'_> {
    pub fn signal(&mut self, signal: Signal) -> Result<(), EngineError> {
        if !self.state.is_open() {
            return Err(EngineError::workflow_completed());
        }
        if !signal.request_id.is_empty() && self.state.has_signal_request(&signal.request_id) {
            return Ok(());
        }
        if self.state.signal_count >= MAX_SIGNALS_PER_EXECUTION {
            return Err(EngineError::ResourceExhausted(
                "Signal count exceeds limit.".into(),
            ));
        }
        self.state.signal_count += 1;
        if !signal.request_id.is_empty() {
            self.state.record_signal_request(&signal.request_id);
        }
        self.append_for_workflow(history::WorkflowExecutionSignaledEventAttributes {
            signal_name: signal.name,
            input: signal.input,
            identity: signal.identity,
            header: signal.header,
            request_id: signal.request_id,
            ..Default::default()
        });
        Ok(())
    }

    /// Asks the workflow to cancel. As in Temporal, asking a run that already closed (or
    /// asked before) succeeds and changes nothing.
    pub fn request_cancel(&mut self, identity: &str, reason: &str) -> Result<(), EngineError> {
        if !self.state.is_open() || self.state.cancel_requested {
            return Ok(());
        }
        self.state.cancel_requested = true;
        self.append_for_workflow(history::WorkflowExecutionCancelRequestedEventAttributes {
            cause: reason.to_string(),
            external_initiated_event_id: 0,
            external_workflow_execution: None,
            identity: identity.to_string(),
        });
        Ok(())
    }

    pub fn terminate(
        &mut self,
        reason: &str,
        details: Option<Payloads>,
        identity: &str,
    ) -> Result<(), EngineError> {
        if !self.state.is_open() {
            return Err(EngineError::workflow_completed());
        }
        self.force_close_workflow_task();
        let id = self.append(history::WorkflowExecutionTerminatedEventAttributes {
            reason: reason.to_string(),
            details,
            identity: identity.to_string(),
        });
        self.close(ExecutionStatus::Terminated, id);
        Ok(())
    }

    /// Deletes the run (DeleteWorkflowExecution), terminating it first if it is open.
    pub fn delete(&mut self) -> Result<(), EngineError> {
        if self.state.is_open() {
            self.terminate("Delete workflow execution", None, "history-service")?;
        }
        // What a deleted run owed others goes with it.
        self.state.children.clear();
        self.state.notify_parent = false;
        self.changes.deleted = true;
        Ok(())
    }

    /// Marks the run closed by event `completion_event_id`; pending work is dropped.
    pub fn close(&mut self, status: ExecutionStatus, completion_event_id: i64) {
        self.state.status = status;
        self.state.close_time = Some(self.now);
        self.state.completion_event_id = completion_event_id;
        self.state.workflow_task = None;
        self.state.activities.clear();
        self.state.timers.clear();
        self.state.buffered_events.clear();
        self.children_at_close();
        self.abort_updates();
    }

    pub fn upsert_search_attributes(&mut self, upsert: SearchAttributes) {
        let mut current =
            SearchAttributes::decode(self.state.search_attributes.as_slice()).unwrap_or_default();
        current.indexed_fields.extend(upsert.indexed_fields);
        self.state.search_attributes = current.encode_to_vec();
    }

    /// Merges memo fields into the run's memo. As in Temporal, a field whose value is nil
    /// (no data, JSON `null`, or an empty list) is removed.
    pub fn upsert_memo(&mut self, upsert: Memo) {
        let mut current = Memo::decode(self.state.memo.as_slice()).unwrap_or_default();
        for (key, value) in upsert.fields {
            if matches!(value.data.as_slice(), b"" | b"null" | b"[]") {
                current.fields.remove(&key);
            } else {
                current.fields.insert(key, value);
            }
        }
        self.state.memo = current.encode_to_vec();
    }
}
