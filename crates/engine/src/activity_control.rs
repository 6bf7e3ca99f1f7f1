//! What operators do to pending activities: pause, unpause, reset and change their options
//! (Temporal's PauseActivity, UnpauseActivity, ResetActivity and UpdateActivityOptions).
//! None of them writes a history event. Each changes the activity's state and renews its
//! stamp, so that a dispatch handed out before no longer starts an attempt; an activity that
//! waits for a worker is dispatched again under the new stamp.

use crate::{
    EngineError,
    activity::validate_schedule,
    events::Tx,
    proto::{activity, command::ScheduleActivityTaskCommandAttributes, common, taskqueue},
    retry::RetryPolicy,
    state::{ActivityInfo, ActivityOptions, ActivityPause},
    time::{self, Nanos},
};

/// Which pending activities of a run an operator names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivitySelector {
    Id(String),
    Type(String),
    All,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pause {
    pub identity: String,
    pub reason: String,
    /// A repeated pause with the same request ID is accepted again; another fails.
    pub request_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unpause {
    pub reset_attempts: bool,
    pub reset_heartbeat: bool,
    /// The next attempt starts at a random point within this long.
    pub jitter: Nanos,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reset {
    pub reset_heartbeat: bool,
    pub keep_paused: bool,
    pub jitter: Nanos,
    pub restore_original_options: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptionsChange {
    pub options: Option<activity::ActivityOptions>,
    /// The field mask's paths, in Temporal's camelCase or in snake_case.
    pub paths: Option<Vec<String>>,
    pub restore_original: bool,
}

/// Temporal's answer when an operator names no pending activity.
pub fn activity_not_found() -> EngineError {
    EngineError::NotFound(
        "Can't find pending activity with such ID. Invalid activityID or activity already completed"
            .into(),
    )
}

impl Tx<'_> {
    /// The scheduled event IDs of the pending activities the selector names.
    fn selected(&self, selector: &ActivitySelector) -> Result<Vec<i64>, EngineError> {
        if !self.state.is_open() {
            return Err(EngineError::workflow_completed());
        }
        let ids: Vec<i64> = self
            .state
            .activities
            .iter()
            .filter(|a| match selector {
                ActivitySelector::Id(id) => &a.activity_id == id,
                ActivitySelector::Type(name) => &a.activity_type == name,
                ActivitySelector::All => true,
            })
            .map(|a| a.scheduled_event_id)
            .collect();
        if ids.is_empty() {
            return Err(activity_not_found());
        }
        Ok(ids)
    }

    fn pending(&mut self, scheduled_event_id: i64) -> &mut ActivityInfo {
        self.state
            .activity_mut(scheduled_event_id)
            .expect("selected activities are pending")
    }

    /// Holds the activities: no new attempt is dispatched and no timeout runs until they are
    /// unpaused. An attempt already running goes on and may complete; if it fails, its
    /// successor waits for the unpause.
    pub fn pause_activities(
        &mut self,
        selector: &ActivitySelector,
        pause: &Pause,
    ) -> Result<(), EngineError> {
        let now = self.now;
        for id in self.selected(selector)? {
            let activity = self.pending(id);
            if let Some(held) = &activity.pause {
                if held.request_id == pause.request_id {
                    continue;
                }
                return Err(EngineError::FailedPrecondition(
                    "activity is already paused".into(),
                ));
            }
            if !activity.is_started() {
                activity.renew_stamp();
            }
            activity.pause = Some(ActivityPause {
                time: now,
                identity: pause.identity.clone(),
                reason: pause.reason.clone(),
                request_id: pause.request_id.clone(),
            });
        }
        Ok(())
    }

    /// Lets paused activities go on: one that waits for its next attempt gets it now (within
    /// the jitter), whatever backoff remained.
    pub fn unpause_activities(
        &mut self,
        selector: &ActivitySelector,
        unpause: &Unpause,
    ) -> Result<(), EngineError> {
        for id in self.selected(selector)? {
            let activity = self.pending(id);
            if !activity.is_paused() {
                continue;
            }
            activity.pause = None;
            activity.renew_stamp();
            if unpause.reset_attempts {
                activity.attempt = 1;
            }
            if unpause.reset_heartbeat {
                activity.heartbeat_details.clear();
                activity.last_heartbeat_time = None;
            }
            if !activity.is_started() {
                self.schedule_attempt(id, unpause.jitter);
            }
        }
        Ok(())
    }

    /// Starts the activities over from attempt 1. One waiting for a worker or a retry is
    /// dispatched again now (within the jitter); a running attempt hears of the reset on its
    /// next heartbeat, and the attempt after it counts from 1.
    pub fn reset_activities(
        &mut self,
        selector: &ActivitySelector,
        reset: &Reset,
    ) -> Result<(), EngineError> {
        for id in self.selected(selector)? {
            let activity = self.pending(id);
            let was_paused = activity.is_paused();
            activity.renew_stamp();
            activity.attempt = 1;
            if reset.restore_original_options
                && let Some(original) = activity.original_options.take()
            {
                activity.set_options(original);
            }
            if was_paused && !reset.keep_paused {
                activity.pause = None;
            }
            if activity.is_started() {
                activity.reset_requested = true;
                activity.reset_heartbeat |= reset.reset_heartbeat;
                continue;
            }
            if reset.reset_heartbeat {
                activity.heartbeat_details.clear();
                activity.last_heartbeat_time = None;
            }
            if !activity.is_paused() {
                self.schedule_attempt(id, reset.jitter);
            }
        }
        Ok(())
    }

    /// Changes the options of the activities (the fields the mask names), or restores the
    /// ones the workflow gave. A waiting activity is dispatched again with them; a running
    /// attempt keeps its start time and is held to the new timeouts. Returns the options of
    /// the last activity changed, as Temporal answers.
    pub fn update_activity_options(
        &mut self,
        selector: &ActivitySelector,
        change: &OptionsChange,
    ) -> Result<activity::ActivityOptions, EngineError> {
        let invalid = |message: &str| Err(EngineError::InvalidArgument(message.into()));
        let paths: Vec<String> = change
            .paths
            .iter()
            .flatten()
            .filter(|p| !p.is_empty())
            .map(|p| camel_case_path(p))
            .collect();
        if change.restore_original && !paths.is_empty() {
            return invalid("Both UpdateMask and RestoreOriginal are provided");
        }
        if !change.restore_original && change.options.is_none() {
            return invalid("ActivityOptions are not provided");
        }
        let ids = self.selected(selector)?;
        if !change.restore_original && change.paths.is_none() {
            return invalid("UpdateMask is not provided");
        }
        let mut answer = None;
        for id in ids {
            let current = self.pending(id).clone();
            let options = if change.restore_original {
                current
                    .original_options
                    .clone()
                    .unwrap_or_else(|| current.options())
            } else {
                let from = change.options.as_ref().expect("checked above");
                self.merged_options(&current, from, &paths)?
            };
            let activity = self.pending(id);
            if change.restore_original {
                activity.original_options = None;
            } else if activity.original_options.is_none() {
                activity.original_options = Some(activity.options());
            }
            activity.set_options(options.clone());
            activity.renew_stamp();
            if !activity.is_started() && !activity.is_paused() {
                let due = activity.attempt_scheduled_time;
                self.schedule_attempt_at(id, due);
            }
            answer = Some(options_proto(&options));
        }
        Ok(answer.expect("at least one activity was selected"))
    }

    /// The activity's options with the masked fields taken from `from`, checked and completed
    /// as a schedule command's are.
    fn merged_options(
        &self,
        current: &ActivityInfo,
        from: &activity::ActivityOptions,
        paths: &[String],
    ) -> Result<ActivityOptions, EngineError> {
        let has = |path: &str| paths.iter().any(|p| p == path);
        let invalid = |message: &str| Err(EngineError::InvalidArgument(message.into()));
        let mut merged = options_proto(&current.options());
        if has("taskQueue.name") || has("taskQueue") {
            let Some(queue) = &from.task_queue else {
                return invalid("TaskQueue is not provided");
            };
            merged.task_queue = Some(taskqueue::TaskQueue {
                name: queue.name.clone(),
                ..Default::default()
            });
        }
        if has("scheduleToCloseTimeout") {
            merged.schedule_to_close_timeout = from.schedule_to_close_timeout;
        }
        if has("scheduleToStartTimeout") {
            merged.schedule_to_start_timeout = from.schedule_to_start_timeout;
        }
        if has("startToCloseTimeout") {
            merged.start_to_close_timeout = from.start_to_close_timeout;
        }
        if has("heartbeatTimeout") {
            merged.heartbeat_timeout = from.heartbeat_timeout;
        }
        let retry_paths = paths.iter().any(|p| p.starts_with("retryPolicy"));
        if retry_paths {
            let Some(given) = &from.retry_policy else {
                return invalid("RetryPolicy is not provided");
            };
            let policy = merged.retry_policy.get_or_insert_with(Default::default);
            if has("retryPolicy") {
                *policy = given.clone();
            }
            if has("retryPolicy.initialInterval") {
                policy.initial_interval = given.initial_interval;
            }
            if has("retryPolicy.backoffCoefficient") {
                policy.backoff_coefficient = given.backoff_coefficient;
            }
            if has("retryPolicy.maximumInterval") {
                policy.maximum_interval = given.maximum_interval;
            }
            if has("retryPolicy.maximumAttempts") {
                policy.maximum_attempts = given.maximum_attempts;
            }
            crate::retry::validate(policy).map_err(|m| EngineError::InvalidArgument(m.into()))?;
        }

        let queue = merged
            .task_queue
            .as_ref()
            .map(|q| q.name.clone())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| self.state.task_queue.clone());
        for (duration, name) in [
            (&merged.schedule_to_close_timeout, "ScheduleToCloseTimeout"),
            (&merged.schedule_to_start_timeout, "ScheduleToStartTimeout"),
            (&merged.start_to_close_timeout, "StartToCloseTimeout"),
            (&merged.heartbeat_timeout, "HeartbeatTimeout"),
        ] {
            if time::from_duration(duration.as_ref()) < 0 {
                return Err(EngineError::InvalidArgument(format!(
                    "Invalid {name}: {}",
                    current.activity_id
                )));
            }
        }
        let attributes = ScheduleActivityTaskCommandAttributes {
            activity_id: current.activity_id.clone(),
            activity_type: Some(common::ActivityType {
                name: current.activity_type.clone(),
            }),
            schedule_to_close_timeout: merged.schedule_to_close_timeout,
            schedule_to_start_timeout: merged.schedule_to_start_timeout,
            start_to_close_timeout: merged.start_to_close_timeout,
            heartbeat_timeout: merged.heartbeat_timeout,
            ..Default::default()
        };
        validate_schedule(self.state, &attributes)
            .map_err(|rejection| EngineError::InvalidArgument(rejection.message))?;
        let (schedule_to_close, schedule_to_start, start_to_close, heartbeat) =
            crate::activity::normalized_timeouts(self.state.run_timeout, &attributes);
        let mut retry_policy = RetryPolicy::for_activity(merged.retry_policy.as_ref());
        // The types the workflow marked non-retryable stay, as in Temporal.
        retry_policy.non_retryable_error_types =
            current.retry_policy.non_retryable_error_types.clone();
        Ok(ActivityOptions {
            task_queue: queue,
            schedule_to_close_timeout: schedule_to_close,
            schedule_to_start_timeout: schedule_to_start,
            start_to_close_timeout: start_to_close,
            heartbeat_timeout: heartbeat,
            retry_policy,
        })
    }

    /// Dispatches the activity's next attempt now, or at a random point within `jitter`.
    fn schedule_attempt(&mut self, scheduled_event_id: i64, jitter: Nanos) {
        let at = self.now + jitter_offset(jitter, scheduled_event_id, self.now);
        self.schedule_attempt_at(scheduled_event_id, at);
    }

    fn schedule_attempt_at(&mut self, scheduled_event_id: i64, at: Nanos) {
        let now = self.now;
        let activity = self.pending(scheduled_event_id);
        activity.attempt_scheduled_time = at.max(now);
        if at <= now {
            self.dispatch_activity(scheduled_event_id);
        }
        // Otherwise the activity's retry deadline dispatches it.
    }
}

/// A pseudo-random offset below `jitter`, the same for the same activity and time (the
/// engine reads no randomness, so that applying a request twice gives the same state).
fn jitter_offset(jitter: Nanos, scheduled_event_id: i64, now: Nanos) -> Nanos {
    if jitter <= 0 {
        return 0;
    }
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&scheduled_event_id.to_le_bytes());
    bytes[8..].copy_from_slice(&now.to_le_bytes());
    let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
    (hash % jitter as u64) as Nanos
}

/// A field-mask path in the camelCase Temporal matches (`retry_policy.maximum_attempts`
/// becomes `retryPolicy.maximumAttempts`).
fn camel_case_path(path: &str) -> String {
    path.split('.')
        .map(|segment| {
            let mut out = String::with_capacity(segment.len());
            let mut upper = false;
            for c in segment.chars() {
                if c == '_' {
                    upper = true;
                } else if upper {
                    out.extend(c.to_uppercase());
                    upper = false;
                } else {
                    out.push(c);
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Options as the API shows them.
pub fn options_proto(options: &ActivityOptions) -> activity::ActivityOptions {
    activity::ActivityOptions {
        task_queue: Some(taskqueue::TaskQueue {
            name: options.task_queue.clone(),
            ..Default::default()
        }),
        schedule_to_close_timeout: Some(time::duration(options.schedule_to_close_timeout)),
        schedule_to_start_timeout: Some(time::duration(options.schedule_to_start_timeout)),
        start_to_close_timeout: Some(time::duration(options.start_to_close_timeout)),
        heartbeat_timeout: Some(time::duration(options.heartbeat_timeout)),
        retry_policy: Some(options.retry_policy.to_proto()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_paths_are_read_in_either_case() {
        assert_eq!(
            camel_case_path("retry_policy.maximum_attempts"),
            "retryPolicy.maximumAttempts"
        );
        assert_eq!(camel_case_path("taskQueue.name"), "taskQueue.name");
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        assert_eq!(jitter_offset(0, 5, 10), 0);
        for now in 0..100 {
            let offset = jitter_offset(time::secs(2), 5, now);
            assert!((0..time::secs(2)).contains(&offset));
        }
    }
}
