//! The scenarios, named as Temporal's own load generator names them where they overlap.
//! Each iteration checks its results: a wrong result is an error of its own kind.
//!
//! - `workflow_with_single_noop_activity`: a workflow that runs one no-op activity.
//! - `throughput_stress`: a workflow with two activities, a timer, a child workflow, signals,
//!   a query and an update, that continues as new once (see [`throughput_stress`]).
//! - `fan_out`: a workflow that runs K activities at once.
//! - `many_timers`: a workflow that starts T timers at once.
//! - `signal_storm`: N signals sent at once to one workflow, which counts them.
//! - `schedules`: a schedule created, triggered, listed and deleted; its workflow completes.

mod calls;
mod schedules;
mod throughput_stress;

use std::time::Duration;

use serde_json::json;

use crate::{connection::Client, stats::Recorder, workflows};

/// A scenario and its size.
#[derive(Debug, Clone, Copy)]
pub enum Scenario {
    SingleNoopActivity,
    ThroughputStress,
    FanOut { activities: u64 },
    ManyTimers { timers: u64 },
    SignalStorm { signals: u64 },
    Schedules,
}

/// Every scenario's name, as `--scenario` takes it.
pub const NAMES: &[&str] = &[
    "workflow_with_single_noop_activity",
    "throughput_stress",
    "fan_out",
    "many_timers",
    "signal_storm",
    "schedules",
];

/// How big the scenarios that have a size are.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub activities: u64,
    pub timers: u64,
    pub signals: u64,
}

impl Scenario {
    pub fn named(name: &str, sizes: Sizes) -> anyhow::Result<Self> {
        Ok(match name {
            "workflow_with_single_noop_activity" => Self::SingleNoopActivity,
            "throughput_stress" => Self::ThroughputStress,
            "fan_out" => Self::FanOut {
                activities: sizes.activities,
            },
            "many_timers" => Self::ManyTimers {
                timers: sizes.timers,
            },
            "signal_storm" => Self::SignalStorm {
                signals: sizes.signals,
            },
            "schedules" => Self::Schedules,
            other => anyhow::bail!(
                "unknown scenario `{other}`; the scenarios are {}",
                NAMES.join(", ")
            ),
        })
    }
}

/// How one iteration ended.
pub enum Outcome {
    /// Completed with the right results: the latency of its first call.
    Completed { start: Duration },
    /// Anything else, by kind.
    Failed(String),
}

/// What every iteration shares.
#[derive(Clone)]
pub struct Iteration {
    pub scenario: Scenario,
    pub namespace: String,
    pub task_queue: String,
    pub identity: String,
    /// Workflow and schedule IDs are `PREFIX-N`.
    pub prefix: String,
}

impl Iteration {
    /// Runs iteration `n` to its end.
    pub async fn run(&self, client: Client, n: u64, recorder: &Recorder) -> Outcome {
        let id = format!("{}-{n}", self.prefix);
        let ran = match self.scenario {
            Scenario::SingleNoopActivity => {
                let input = json!(id);
                self.one_workflow(
                    &client,
                    recorder,
                    &id,
                    workflows::SINGLE_NOOP_ACTIVITY,
                    &input,
                    &input,
                )
                .await
            }
            Scenario::FanOut { activities } => {
                let input = json!({ "activities": activities });
                self.one_workflow(
                    &client,
                    recorder,
                    &id,
                    workflows::FAN_OUT,
                    &input,
                    &json!(activities),
                )
                .await
            }
            Scenario::ManyTimers { timers } => {
                let input = json!({ "timers": timers });
                self.one_workflow(
                    &client,
                    recorder,
                    &id,
                    workflows::MANY_TIMERS,
                    &input,
                    &json!(timers),
                )
                .await
            }
            Scenario::SignalStorm { signals } => {
                self.signal_storm(&client, recorder, &id, signals).await
            }
            Scenario::ThroughputStress => self.throughput_stress(&client, recorder, &id).await,
            Scenario::Schedules => self.schedule(&client, recorder, &id).await,
        };
        match ran {
            Ok(start) => Outcome::Completed { start },
            Err(kind) => Outcome::Failed(kind),
        }
    }

    /// Starts one workflow and checks it completes with `expected`: the start's latency.
    async fn one_workflow(
        &self,
        client: &Client,
        recorder: &Recorder,
        id: &str,
        workflow_type: &str,
        input: &serde_json::Value,
        expected: &serde_json::Value,
    ) -> Result<Duration, String> {
        let (execution, start) = self
            .start(client, recorder, id, workflow_type, input)
            .await?;
        self.completed_with(client, recorder, &execution, expected)
            .await?;
        Ok(start)
    }

    /// Starts a `SignalCounter` for `signals` signals, sends them all at once, and checks it
    /// counted every one.
    async fn signal_storm(
        &self,
        client: &Client,
        recorder: &Recorder,
        id: &str,
        signals: u64,
    ) -> Result<Duration, String> {
        let input = json!({ "signals": signals });
        let (execution, start) = self
            .start(client, recorder, id, workflows::SIGNAL_COUNTER, &input)
            .await?;
        let execution = &execution;
        let sends = (0..signals)
            .map(|i| async move { self.signal(client, recorder, execution, &json!(i)).await });
        for sent in futures::future::join_all(sends).await {
            sent?;
        }
        self.completed_with(client, recorder, execution, &json!(signals))
            .await?;
        Ok(start)
    }
}
