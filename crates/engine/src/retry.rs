//! Retry policies and backoff, as Temporal computes them for activities.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};

use crate::{
    proto::{common, enums::RetryState},
    time::{self, Nanos},
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
pub struct RetryPolicy {
    pub initial_interval: Nanos,
    pub backoff_coefficient: f64,
    pub maximum_interval: Nanos,
    /// 0 means unlimited.
    pub maximum_attempts: i32,
    pub non_retryable_error_types: Vec<String>,
}

impl RetryPolicy {
    /// The policy Temporal applies to activities, filling every unset field with its default
    /// (1 s initial interval, coefficient 2, maximum 100 x initial, unlimited attempts).
    pub fn for_activity(policy: Option<&common::RetryPolicy>) -> Self {
        let given = policy.cloned().unwrap_or_default();
        let initial = match time::from_duration(given.initial_interval.as_ref()) {
            0 => time::secs(1),
            n => n,
        };
        let coefficient = if given.backoff_coefficient == 0.0 {
            2.0
        } else {
            given.backoff_coefficient
        };
        let maximum = match time::from_duration(given.maximum_interval.as_ref()) {
            0 => initial.saturating_mul(100),
            n => n,
        };
        Self {
            initial_interval: initial,
            backoff_coefficient: coefficient,
            maximum_interval: maximum,
            maximum_attempts: given.maximum_attempts,
            non_retryable_error_types: given.non_retryable_error_types,
        }
    }

    pub fn to_proto(&self) -> common::RetryPolicy {
        common::RetryPolicy {
            initial_interval: Some(time::duration(self.initial_interval)),
            backoff_coefficient: self.backoff_coefficient,
            maximum_interval: Some(time::duration(self.maximum_interval)),
            maximum_attempts: self.maximum_attempts,
            non_retryable_error_types: self.non_retryable_error_types.clone(),
        }
    }

    /// The wait before attempt `attempt + 1` after attempt `attempt` failed.
    pub fn backoff(&self, attempt: i32) -> Nanos {
        let exponent = (attempt.max(1) - 1).min(1000);
        let interval = self.initial_interval as f64 * self.backoff_coefficient.powi(exponent);
        if !interval.is_finite() || interval >= self.maximum_interval as f64 {
            self.maximum_interval
        } else {
            interval as Nanos
        }
    }

    /// Whether a failure of this type (and explicit flag) may be retried at all.
    pub fn is_retryable(&self, error_type: &str, non_retryable: bool) -> bool {
        !non_retryable
            && !self
                .non_retryable_error_types
                .iter()
                .any(|t| t == error_type)
    }

    /// Decides whether a failed attempt is retried: `Ok(backoff)` or `Err(why not)`.
    ///
    /// `error_type` is the failure's application type (empty for timeouts), `non_retryable` its
    /// explicit flag, and `deadline` the schedule-to-close expiry if there is one.
    pub fn next(
        &self,
        attempt: i32,
        error_type: &str,
        non_retryable: bool,
        now: Nanos,
        deadline: Option<Nanos>,
    ) -> Result<Nanos, RetryState> {
        if !self.is_retryable(error_type, non_retryable) {
            return Err(RetryState::NonRetryableFailure);
        }
        if self.maximum_attempts > 0 && attempt >= self.maximum_attempts {
            return Err(RetryState::MaximumAttemptsReached);
        }
        let backoff = self.backoff(attempt);
        // As in Temporal, a retry due exactly at the deadline still runs.
        if deadline.is_some_and(|deadline| now.saturating_add(backoff) > deadline) {
            return Err(RetryState::Timeout);
        }
        Ok(backoff)
    }
}

/// Checks a retry policy as Temporal does; the error is Temporal's message.
pub fn validate(policy: &common::RetryPolicy) -> Result<(), &'static str> {
    let negative =
        |d: Option<&crate::proto::Duration>| d.is_some_and(|d| d.seconds < 0 || d.nanos < 0);
    if negative(policy.initial_interval.as_ref()) {
        return Err("InitialInterval cannot be negative on retry policy.");
    }
    if policy.backoff_coefficient != 0.0 && policy.backoff_coefficient < 1.0 {
        return Err("BackoffCoefficient cannot be less than 1 on retry policy.");
    }
    if negative(policy.maximum_interval.as_ref()) {
        return Err("MaximumInterval cannot be negative on retry policy.");
    }
    let maximum = time::from_duration(policy.maximum_interval.as_ref());
    if maximum > 0 && maximum < time::from_duration(policy.initial_interval.as_ref()) {
        return Err("MaximumInterval cannot be less than InitialInterval on retry policy.");
    }
    if policy.maximum_attempts < 0 {
        return Err("MaximumAttempts cannot be negative on retry policy.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_unset_fields() {
        let policy = RetryPolicy::for_activity(None);
        assert_eq!(policy.initial_interval, time::secs(1));
        assert_eq!(policy.maximum_interval, time::secs(100));
        assert_eq!(policy.backoff(1), time::secs(1));
        assert_eq!(policy.backoff(3), time::secs(4));
        assert_eq!(policy.backoff(30), time::secs(100));
    }

    #[test]
    fn retries_stop_at_maximum_attempts_and_for_non_retryable_types() {
        let mut policy = RetryPolicy::for_activity(None);
        policy.maximum_attempts = 3;
        policy.non_retryable_error_types = vec!["Fatal".into()];
        assert!(policy.next(2, "Oops", false, 0, None).is_ok());
        assert_eq!(
            policy.next(3, "Oops", false, 0, None),
            Err(RetryState::MaximumAttemptsReached)
        );
        assert_eq!(
            policy.next(1, "Fatal", false, 0, None),
            Err(RetryState::NonRetryableFailure)
        );
        assert_eq!(
            policy.next(1, "Oops", true, 0, None),
            Err(RetryState::NonRetryableFailure)
        );
        assert_eq!(
            policy.next(1, "Oops", false, 0, Some(time::secs(1) - 1)),
            Err(RetryState::Timeout),
            "a retry due after the schedule-to-close deadline is not made"
        );
        assert_eq!(
            policy.next(1, "Oops", false, 0, Some(time::secs(1))),
            Ok(time::secs(1)),
            "a retry due exactly at the deadline is made, as in Temporal"
        );
    }
}
