//! `throughput_stress`: each iteration starts a `ThroughputStress` workflow, which runs two
//! activities, a 50 ms timer and a child workflow at once; the iteration updates it, signals
//! it, queries it (the answer must count the signals so far) and signals it last; the
//! workflow then continues as new, and its second run completes with the workflow's ID.

use std::time::Duration;

use cairn_api::proto::{common::v1::WorkflowExecution, history::v1::history_event::Attributes};
use serde_json::json;

use super::Iteration;
use crate::{connection::Client, stats::Recorder, workflows};

/// Signals each workflow takes.
const SIGNALS: u64 = 3;

impl Iteration {
    pub(super) async fn throughput_stress(
        &self,
        client: &Client,
        recorder: &Recorder,
        id: &str,
    ) -> Result<Duration, String> {
        let input = json!({ "id": id, "signals": SIGNALS, "generation": 0 });
        let (execution, start) = self
            .start(client, recorder, id, workflows::THROUGHPUT_STRESS, &input)
            .await?;
        let args = json!({ "update": id });
        if self.update(client, recorder, &execution, &args).await? != Some(args) {
            return Err("update: wrong result".into());
        }
        for signal in 0..SIGNALS - 1 {
            self.signal(client, recorder, &execution, &json!(signal))
                .await?;
        }
        let answer = self.query(client, recorder, &execution).await?;
        if answer != Some(json!({ "signals": SIGNALS - 1 })) {
            return Err("query: wrong answer".into());
        }
        self.signal(client, recorder, &execution, &json!(SIGNALS - 1))
            .await?;
        let next_run = match self.closed(client, recorder, &execution).await? {
            Attributes::WorkflowExecutionContinuedAsNewEventAttributes(continued) => {
                continued.new_execution_run_id
            }
            Attributes::WorkflowExecutionFailedEventAttributes(_) => {
                return Err("workflow failed".into());
            }
            _ => return Err("first run did not continue as new".into()),
        };
        let second = WorkflowExecution {
            workflow_id: id.to_string(),
            run_id: next_run,
        };
        self.completed_with(client, recorder, &second, &json!(id))
            .await?;
        Ok(start)
    }
}
