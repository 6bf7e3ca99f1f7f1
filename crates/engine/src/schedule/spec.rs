//! A schedule's spec: checked and put in the canonical form Temporal stores (calendar and
//! cron strings compiled into structured calendars and intervals), and the times it names.
//!
//! A spec names the union of its calendars' and intervals' times, minus those its exclude
//! calendars match, within `[start_time, end_time]`. Each time is then delayed by a jitter
//! that depends only on the schedule and the time, so it is the same on every replay.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::calendar::{self, Calendar, Cron};
use crate::{
    proto::{
        Duration,
        schedule::{IntervalSpec, ScheduleSpec},
    },
    time::{self, NANOS_PER_SEC, Nanos},
};

/// Why a spec was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSpec(pub String);

/// Checks `spec` and returns it in canonical form: `calendar` and `cron_string` compiled
/// into `structured_calendar` (or `interval`, for `@every`), a cron string's time zone moved
/// to `timezone_name`, `exclude_calendar` into `exclude_structured_calendar`.
pub fn canonical(spec: &ScheduleSpec) -> Result<ScheduleSpec, InvalidSpec> {
    let mut out = spec.clone();
    for text in std::mem::take(&mut out.cron_string) {
        let parsed = calendar::parse_cron(&text).map_err(|e| InvalidSpec(e.0))?;
        if let Some(zone) = parsed.timezone {
            if (!out.timezone_name.is_empty() && out.timezone_name != zone)
                || !out.timezone_data.is_empty()
            {
                return Err(InvalidSpec("conflicting timezone names".into()));
            }
            out.timezone_name = zone;
        }
        match parsed.cron {
            Cron::Calendar(structured) => out.structured_calendar.push(structured),
            Cron::Every { interval, phase } => out.interval.push(IntervalSpec {
                interval: Some(time::duration(interval)),
                phase: Some(time::duration(phase)),
            }),
        }
    }
    for spec in std::mem::take(&mut out.calendar) {
        let structured = calendar::from_calendar(&spec).map_err(|e| InvalidSpec(e.0))?;
        out.structured_calendar.push(structured);
    }
    #[allow(deprecated)]
    for spec in std::mem::take(&mut out.exclude_calendar) {
        let structured = calendar::from_calendar(&spec).map_err(|e| InvalidSpec(e.0))?;
        out.exclude_structured_calendar.push(structured);
    }
    for structured in out
        .structured_calendar
        .iter()
        .chain(&out.exclude_structured_calendar)
    {
        calendar::validate(structured).map_err(|e| InvalidSpec(e.0))?;
    }
    for interval in &out.interval {
        let every = interval.interval.as_ref();
        let phase = interval.phase.as_ref();
        if every.is_none_or(|d| d.seconds < 1) {
            return Err(InvalidSpec("interval is too small".into()));
        }
        if phase.is_some_and(|d| d.seconds < 0 || d.nanos < 0) {
            return Err(InvalidSpec("phase is negative".into()));
        }
        if time::from_duration(phase) >= time::from_duration(every) {
            return Err(InvalidSpec("phase cannot be greater than Interval".into()));
        }
    }
    zone(&out.timezone_name)?;
    Ok(out)
}

fn whole_seconds(duration: Option<&Duration>) -> Nanos {
    let nanos = time::from_duration(duration);
    nanos - nanos % NANOS_PER_SEC
}

fn zone(name: &str) -> Result<Tz, InvalidSpec> {
    match name {
        "" | "UTC" => Ok(Tz::UTC),
        "Local" => Err(InvalidSpec("unknown time zone Local".into())),
        _ => name
            .parse()
            .map_err(|_| InvalidSpec(format!("unknown time zone {name}"))),
    }
}

/// A canonical spec ready to name times.
#[derive(Debug, Clone)]
pub struct Spec {
    calendars: Vec<Calendar>,
    excludes: Vec<Calendar>,
    /// (interval, phase) in nanoseconds, whole seconds.
    intervals: Vec<(Nanos, Nanos)>,
    zone: Tz,
    start: Option<Nanos>,
    end: Option<Nanos>,
    jitter: Nanos,
}

/// One time a spec names: its nominal time and the time it is due, jitter included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    pub nominal: Nanos,
    pub due: Nanos,
}

impl Spec {
    /// Compiles a canonical spec (see [`canonical`]).
    pub fn new(spec: &ScheduleSpec) -> Self {
        Self {
            calendars: spec.structured_calendar.iter().map(Calendar::new).collect(),
            excludes: spec
                .exclude_structured_calendar
                .iter()
                .map(Calendar::new)
                .collect(),
            intervals: spec
                .interval
                .iter()
                .map(|i| {
                    (
                        whole_seconds(i.interval.as_ref()),
                        whole_seconds(i.phase.as_ref()),
                    )
                })
                .filter(|(every, _)| *every > 0)
                .collect(),
            zone: zone(&spec.timezone_name).unwrap_or(Tz::UTC),
            start: spec.start_time.as_ref().map(time::from_timestamp),
            end: spec.end_time.as_ref().map(time::from_timestamp),
            jitter: time::from_duration(spec.jitter.as_ref()).max(0),
        }
    }

    /// The first time of the calendars and intervals strictly after `after`, exclusions and
    /// the start/end bounds aside.
    fn raw_next(&self, after: Nanos) -> Option<Nanos> {
        let mut best: Option<Nanos> = None;
        let mut consider = |t: Nanos| {
            if best.is_none_or(|b| t < b) {
                best = Some(t);
            }
        };
        for &(every, phase) in &self.intervals {
            // epoch + n * every + phase, the first strictly after `after`.
            let n = (after - phase).div_euclid(every) + 1;
            consider(n * every + phase);
        }
        if !self.calendars.is_empty() {
            let after_utc = utc(after)?;
            for calendar in &self.calendars {
                if let Some(t) = calendar.next_after(self.zone, after_utc)
                    && let Some(nanos) = t.timestamp_nanos_opt()
                {
                    consider(nanos);
                }
            }
        }
        best
    }

    fn excluded(&self, t: Nanos) -> bool {
        let Some(at) = utc(t) else {
            return false;
        };
        self.excludes
            .iter()
            .any(|calendar| calendar.matches(self.zone, at))
    }

    /// The first nominal time strictly after `after`.
    pub fn next_nominal(&self, after: Nanos) -> Option<Nanos> {
        let mut after = match self.start {
            // The start time itself is included.
            Some(start) if after < start => start - 1,
            _ => after,
        };
        loop {
            let t = self.raw_next(after)?;
            if self.end.is_some_and(|end| t > end) {
                return None;
            }
            if !self.excluded(t) {
                return Some(t);
            }
            after = t;
        }
    }

    /// The first time strictly after `after`, with its jitter: a delay below the spec's
    /// jitter and below the gap to the following time, fixed by `seed` and the time.
    pub fn next(&self, seed: &str, after: Nanos) -> Option<Tick> {
        let nominal = self.next_nominal(after)?;
        Some(Tick {
            nominal,
            due: nominal + self.jitter_of(seed, nominal),
        })
    }

    fn jitter_of(&self, seed: &str, nominal: Nanos) -> Nanos {
        let mut max = self.jitter;
        if max <= 0 {
            return 0;
        }
        if let Some(following) = self.raw_next(nominal) {
            max = max.min(following - nominal);
        }
        let millis = max / 1_000_000;
        if millis <= 0 {
            return 0;
        }
        let mut bytes = seed.as_bytes().to_vec();
        bytes.extend_from_slice(&nominal.to_be_bytes());
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        (hash % millis as u64) as Nanos * 1_000_000
    }

    /// Every time in `(from, to]`, at most `limit` of them.
    pub fn between(&self, seed: &str, from: Nanos, to: Nanos, limit: usize) -> Vec<Tick> {
        let mut out = Vec::new();
        let mut after = from;
        while out.len() < limit {
            let Some(tick) = self.next(seed, after) else {
                break;
            };
            if tick.nominal > to {
                break;
            }
            out.push(tick);
            after = tick.nominal;
        }
        out
    }
}

fn utc(nanos: Nanos) -> Option<DateTime<Utc>> {
    let secs = nanos.div_euclid(NANOS_PER_SEC);
    let sub = nanos.rem_euclid(NANOS_PER_SEC) as u32;
    DateTime::from_timestamp(secs, sub)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::schedule::CalendarSpec;

    fn nanos(text: &str) -> Nanos {
        text.parse::<DateTime<Utc>>()
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap()
    }

    fn every(secs: i64, phase: i64) -> IntervalSpec {
        IntervalSpec {
            interval: Some(time::duration(time::secs(secs))),
            phase: Some(time::duration(time::secs(phase))),
        }
    }

    #[test]
    fn canonical_form_compiles_strings_into_structured_calendars() {
        let spec = ScheduleSpec {
            cron_string: vec!["TZ=Europe/Paris 0 12 * * *".into(), "@every 1h".into()],
            calendar: vec![CalendarSpec {
                hour: "8".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let canonical = canonical(&spec).unwrap();
        assert!(canonical.cron_string.is_empty() && canonical.calendar.is_empty());
        assert_eq!(canonical.structured_calendar.len(), 2);
        assert_eq!(canonical.interval, vec![every(3600, 0)]);
        assert_eq!(canonical.timezone_name, "Europe/Paris");
    }

    #[test]
    fn bad_specs_are_refused() {
        let bad = |spec: ScheduleSpec| canonical(&spec).is_err();
        assert!(bad(ScheduleSpec {
            cron_string: vec!["not a cron".into()],
            ..Default::default()
        }));
        assert!(bad(ScheduleSpec {
            interval: vec![every(0, 0)],
            ..Default::default()
        }));
        assert!(bad(ScheduleSpec {
            timezone_name: "Mars/Olympus".into(),
            ..Default::default()
        }));
    }

    #[test]
    fn intervals_count_from_the_epoch_with_their_phase() {
        let spec = Spec::new(
            &canonical(&ScheduleSpec {
                interval: vec![every(3600, 19 * 60)],
                ..Default::default()
            })
            .unwrap(),
        );
        assert_eq!(
            spec.next_nominal(nanos("2026-01-01T10:30:00Z")),
            Some(nanos("2026-01-01T11:19:00Z"))
        );
        assert_eq!(
            spec.next_nominal(nanos("2026-01-01T11:19:00Z")),
            Some(nanos("2026-01-01T12:19:00Z"))
        );
    }

    #[test]
    fn exclusions_and_bounds_remove_times() {
        let spec = Spec::new(
            &canonical(&ScheduleSpec {
                cron_string: vec!["0 * * * *".into()],
                exclude_structured_calendar: vec![
                    calendar::from_calendar(&CalendarSpec {
                        hour: "12".into(),
                        ..Default::default()
                    })
                    .unwrap(),
                ],
                start_time: Some(time::timestamp(nanos("2026-01-01T11:00:00Z"))),
                end_time: Some(time::timestamp(nanos("2026-01-01T14:00:00Z"))),
                ..Default::default()
            })
            .unwrap(),
        );
        let ticks: Vec<Nanos> = spec
            .between("s", nanos("2026-01-01T00:00:00Z"), i64::MAX, 100)
            .into_iter()
            .map(|t| t.nominal)
            .collect();
        assert_eq!(
            ticks,
            vec![
                nanos("2026-01-01T11:00:00Z"),
                nanos("2026-01-01T13:00:00Z"),
                nanos("2026-01-01T14:00:00Z")
            ]
        );
    }

    #[test]
    fn jitter_is_fixed_by_the_seed_and_stays_below_the_gap() {
        let spec = Spec::new(
            &canonical(&ScheduleSpec {
                interval: vec![every(60, 0)],
                jitter: Some(time::duration(time::secs(3600))),
                ..Default::default()
            })
            .unwrap(),
        );
        let after = nanos("2026-01-01T00:00:30Z");
        let a = spec.next("seed", after).unwrap();
        assert_eq!(a, spec.next("seed", after).unwrap());
        assert_eq!(a.nominal, nanos("2026-01-01T00:01:00Z"));
        assert!(a.due >= a.nominal && a.due < a.nominal + time::secs(60));
    }
}
