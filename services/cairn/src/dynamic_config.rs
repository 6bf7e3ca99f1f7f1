//! Temporal's dynamic configuration, as `temporal server start-dev --dynamic-config-value
//! KEY=VALUE` takes it: the keys Cairn has a setting for change that setting; the keys of
//! features Cairn always has on, or does not have, change nothing and are reported once at
//! start, so scripts written for Temporal's dev server run unchanged.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use cairn_engine::limits::Limits;

/// What the dynamic configuration values given to a node set.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicConfig {
    pub limits: Limits,
    /// `frontend.rps`: public API calls served per second.
    pub rps: Option<u32>,
    /// `frontend.namespaceRPS`: calls served per second for each namespace.
    pub namespace_rps: Option<u32>,
    /// Keys that change nothing on Cairn.
    pub ignored: Vec<String>,
}

/// Splits `KEY=VALUE` as the flag gives it; the value is JSON, as for Temporal.
pub fn parse_flag(flag: &str) -> anyhow::Result<(String, serde_json::Value)> {
    let (key, value) = flag
        .split_once('=')
        .with_context(|| format!("dynamic config value `{flag}` is not KEY=VALUE"))?;
    let key = key.trim();
    if key.is_empty() {
        bail!("dynamic config value `{flag}` has no key");
    }
    let value = serde_json::from_str(value.trim()).with_context(|| {
        format!("the value of dynamic config key {key} is not JSON (strings need quotes)")
    })?;
    Ok((key.to_string(), value))
}

/// Applies the given values over Temporal's defaults.
pub fn resolve(values: &BTreeMap<String, serde_json::Value>) -> anyhow::Result<DynamicConfig> {
    let mut config = DynamicConfig {
        limits: Limits::default(),
        rps: None,
        namespace_rps: None,
        ignored: Vec::new(),
    };
    for (key, value) in values {
        let limits = &mut config.limits;
        match key.as_str() {
            "limit.historyCount.suggestContinueAsNew" => {
                limits.suggest_continue_as_new_events = positive(key, value)?;
            }
            "limit.historySize.suggestContinueAsNew" => {
                limits.suggest_continue_as_new_bytes = positive(key, value)?;
            }
            "limit.historyCount.error" => limits.max_history_events = positive(key, value)?,
            "limit.historySize.error" => limits.max_history_bytes = positive(key, value)?,
            "limit.numPendingActivities.error" => {
                limits.max_pending_activities = positive(key, value)?;
            }
            "limit.numPendingChildExecutions.error" => {
                limits.max_pending_children = positive(key, value)?;
            }
            "limit.numPendingSignals.error" => limits.max_pending_signals = positive(key, value)?,
            "limit.numPendingCancelRequests.error" => {
                limits.max_pending_cancel_requests = positive(key, value)?;
            }
            "frontend.rps" => config.rps = Some(positive(key, value)?),
            "frontend.namespaceRPS" => config.namespace_rps = Some(positive(key, value)?),
            _ => config.ignored.push(key.clone()),
        }
    }
    Ok(config)
}

/// A whole number above zero, or a clear error naming the key.
fn positive<T: TryFrom<i64>>(key: &str, value: &serde_json::Value) -> anyhow::Result<T> {
    value
        .as_i64()
        .filter(|n| *n > 0)
        .and_then(|n| T::try_from(n).ok())
        .with_context(|| {
            format!("dynamic config key {key} takes a whole number above 0, not {value}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(flags: &[&str]) -> BTreeMap<String, serde_json::Value> {
        flags.iter().map(|flag| parse_flag(flag).unwrap()).collect()
    }

    #[test]
    fn known_keys_set_their_settings_and_others_are_reported() {
        let config = resolve(&values(&[
            "limit.historyCount.suggestContinueAsNew=50",
            "limit.numPendingActivities.error=10",
            "frontend.namespaceRPS=100",
            "system.enableEagerWorkflowStart=true",
            r#"history.someString="text""#,
        ]))
        .unwrap();
        assert_eq!(config.limits.suggest_continue_as_new_events, 50);
        assert_eq!(config.limits.max_pending_activities, 10);
        assert_eq!(
            config.limits.max_history_events,
            Limits::default().max_history_events
        );
        assert_eq!(config.namespace_rps, Some(100));
        assert_eq!(config.rps, None);
        assert_eq!(
            config.ignored,
            ["history.someString", "system.enableEagerWorkflowStart"]
        );
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        assert!(parse_flag("no-equals-sign").is_err());
        assert!(parse_flag("=5").is_err());
        let unquoted = parse_flag("key=some text").unwrap_err();
        assert!(format!("{unquoted:#}").contains("not JSON"));
        let negative = resolve(&values(&["limit.historyCount.error=-1"])).unwrap_err();
        assert!(format!("{negative:#}").contains("limit.historyCount.error"));
        assert!(resolve(&values(&["frontend.rps=\"fast\""])).is_err());
    }
}
