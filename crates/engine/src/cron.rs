//! Cron schedules of workflows, as Temporal reads them: five fields (minute to day of week,
//! in UTC), the `@yearly` … `@hourly` nicknames, and `@every <duration>`. A cron workflow's
//! next run waits until the first scheduled time at or after the previous run closed,
//! rounded up to a whole second.

use std::str::FromStr as _;

use chrono::{DateTime, TimeZone as _, Utc};
use croner::parser::{CronParser, Seconds, Year};

use crate::time::{NANOS_PER_SEC, Nanos};

/// A parsed cron schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    Calendar(Box<croner::Cron>),
    /// `@every`: a fixed interval in whole seconds (at least one), on whole seconds.
    Every(Nanos),
}

/// Why a schedule was refused; Temporal's message for all of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CronSchedule.")]
pub struct InvalidSchedule;

impl Schedule {
    pub fn parse(text: &str) -> Result<Self, InvalidSchedule> {
        let text = text.trim();
        if let Some(interval) = text.strip_prefix("@every") {
            let interval = parse_go_duration(interval.trim()).ok_or(InvalidSchedule)?;
            // As Go's cron: below a second counts as a second; sub-second parts are dropped.
            let interval = (interval - interval % NANOS_PER_SEC).max(NANOS_PER_SEC);
            return Ok(Self::Every(interval));
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        parser
            .parse(text)
            .map(|cron| Self::Calendar(Box::new(cron)))
            .map_err(|_| InvalidSchedule)
    }

    /// The first scheduled time strictly after `after`.
    fn next(&self, after: Nanos) -> Option<Nanos> {
        match self {
            Self::Every(interval) => Some(after - after.rem_euclid(NANOS_PER_SEC) + interval),
            Self::Calendar(cron) => {
                let at = utc(after)?;
                let next = cron.find_next_occurrence(&at, false).ok()?;
                next.timestamp_nanos_opt()
            }
        }
    }

    /// How long the run after one scheduled at `scheduled` and closed at `closed` waits: until
    /// the first schedule time not before `closed`, counted from the previous schedule,
    /// rounded up to whole seconds.
    pub fn backoff(&self, scheduled: Nanos, closed: Nanos) -> Option<Nanos> {
        let mut next = self.next(scheduled)?;
        while next < closed {
            next = self.next(next)?;
        }
        let wait = next - closed;
        Some((wait + NANOS_PER_SEC - 1) / NANOS_PER_SEC * NANOS_PER_SEC)
    }
}

/// Whether a start request's cron schedule is acceptable.
pub fn validate(text: &str) -> Result<(), InvalidSchedule> {
    Schedule::parse(text).map(|_| ())
}

fn utc(nanos: Nanos) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(
        nanos.div_euclid(NANOS_PER_SEC),
        u32::try_from(nanos.rem_euclid(NANOS_PER_SEC)).ok()?,
    )
    .single()
}

/// A Go duration string (`1h30m`, `90s`, `500ms`): one or more decimal numbers, each with a
/// unit of ns, us, µs, ms, s, m or h.
fn parse_go_duration(text: &str) -> Option<Nanos> {
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = f64::from_str(&rest[..number_len]).ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    (total.is_finite() && total < i64::MAX as f64).then_some(total as Nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::secs;

    /// 2026-01-01T00:00:00Z
    const NEW_YEAR: Nanos = 1_767_225_600 * NANOS_PER_SEC;

    #[test]
    fn five_field_schedules_and_nicknames_parse_and_others_do_not() {
        for good in [
            "* * * * *",
            "*/5 9-17 * * MON-FRI",
            "@hourly",
            "@daily",
            "@every 90s",
        ] {
            assert!(validate(good).is_ok(), "{good}");
        }
        for bad in [
            "not a cron",
            "*/5 * * * * *",
            "",
            "@every",
            "@every 5 parsecs",
        ] {
            assert_eq!(validate(bad), Err(InvalidSchedule), "{bad:?}");
        }
    }

    #[test]
    fn the_first_run_waits_for_the_next_scheduled_minute_rounded_up_to_a_second() {
        let schedule = Schedule::parse("* * * * *").unwrap();
        let start = NEW_YEAR + secs(10) + 250_000_000;
        assert_eq!(schedule.backoff(start, start), Some(secs(50)));
    }

    #[test]
    fn a_late_run_skips_the_times_it_missed() {
        let schedule = Schedule::parse("0 * * * *").unwrap();
        // Scheduled at midnight, closed at 02:30: the next run is at 03:00, not 01:00.
        let closed = NEW_YEAR + secs(2 * 3600 + 1800);
        assert_eq!(schedule.backoff(NEW_YEAR, closed), Some(secs(1800)));
    }

    #[test]
    fn every_runs_on_whole_seconds_from_the_previous_schedule() {
        let schedule = Schedule::parse("@every 3s").unwrap();
        let start = NEW_YEAR + 885_000_000;
        assert_eq!(
            schedule.backoff(start, start),
            Some(secs(3)),
            "as Temporal shows it"
        );
        let scheduled = NEW_YEAR + secs(3);
        assert_eq!(
            schedule.backoff(scheduled, scheduled + 100_000_000),
            Some(secs(3))
        );
    }
}
