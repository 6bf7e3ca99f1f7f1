//! Calendar specs of schedules: the string forms (`CalendarSpec` and cron strings) compiled
//! into `StructuredCalendarSpec`, and matching a structured calendar against clock times.
//!
//! A field is a comma-separated list of `*`, `N`, `N-M`, each optionally followed by `/STEP`
//! (`N/STEP` runs from N to the field's maximum). Months and days of the week also take their
//! English names (`jan`, `January`, `mon`, …); day of week 7 is Sunday, as 0 is.

use chrono::{Datelike as _, NaiveDate, NaiveDateTime, TimeZone as _, Timelike as _};
use chrono_tz::Tz;

use crate::proto::schedule::{CalendarSpec, Range, StructuredCalendarSpec};

#[derive(Debug, Clone, Copy)]
struct FieldKind {
    name: &'static str,
    min: i32,
    max: i32,
    /// English names of the values from `min` on, matched by a prefix of at least
    /// `name_prefix` letters, any case.
    names: &'static [&'static str],
    name_prefix: usize,
}

const SECOND: FieldKind = FieldKind {
    name: "Second",
    min: 0,
    max: 59,
    names: &[],
    name_prefix: 0,
};
const MINUTE: FieldKind = FieldKind {
    name: "Minute",
    min: 0,
    max: 59,
    names: &[],
    name_prefix: 0,
};
const HOUR: FieldKind = FieldKind {
    name: "Hour",
    min: 0,
    max: 23,
    names: &[],
    name_prefix: 0,
};
const DAY_OF_MONTH: FieldKind = FieldKind {
    name: "DayOfMonth",
    min: 1,
    max: 31,
    names: &[],
    name_prefix: 0,
};
const MONTH: FieldKind = FieldKind {
    name: "Month",
    min: 1,
    max: 12,
    names: &[
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ],
    name_prefix: 3,
};
const YEAR: FieldKind = FieldKind {
    name: "Year",
    min: 2000,
    max: 2100,
    names: &[],
    name_prefix: 0,
};
const DAY_OF_WEEK: FieldKind = FieldKind {
    name: "DayOfWeek",
    min: 0,
    // 7 is read as Sunday and stored as 0.
    max: 7,
    names: &[
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ],
    name_prefix: 2,
};

/// The last year a calendar is searched in; later times are never matched.
pub const LAST_YEAR: i32 = 2100;

/// A calendar string form that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarError(pub String);

impl std::fmt::Display for CalendarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Compiles a `CalendarSpec` (strings, with Temporal's defaults for empty fields).
pub fn from_calendar(spec: &CalendarSpec) -> Result<StructuredCalendarSpec, CalendarError> {
    let or = |value: &str, default: &'static str| -> String {
        if value.is_empty() {
            default.to_string()
        } else {
            value.to_string()
        }
    };
    // Every field is read, and all their errors reported together.
    let mut errors = Vec::new();
    let mut field = |value: &str, default: &'static str, kind: FieldKind| {
        parse_field(&or(value, default), kind).unwrap_or_else(|e| {
            errors.push(e.0);
            Vec::new()
        })
    };
    let structured = StructuredCalendarSpec {
        second: field(&spec.second, "0", SECOND),
        minute: field(&spec.minute, "0", MINUTE),
        hour: field(&spec.hour, "0", HOUR),
        day_of_month: field(&spec.day_of_month, "*", DAY_OF_MONTH),
        month: field(&spec.month, "*", MONTH),
        year: field(&spec.year, "*", YEAR),
        day_of_week: field(&spec.day_of_week, "*", DAY_OF_WEEK),
        comment: spec.comment.clone(),
    };
    if errors.is_empty() {
        Ok(structured)
    } else {
        Err(CalendarError(errors.join(", ")))
    }
}

/// What a cron string compiles to.
#[derive(Debug, Clone, PartialEq)]
pub enum Cron {
    Calendar(StructuredCalendarSpec),
    /// `@every <interval>[/<phase>]`, in nanoseconds.
    Every {
        interval: i64,
        phase: i64,
    },
}

/// A parsed cron string: the calendar or interval it means and the time zone it names
/// (`CRON_TZ=` or `TZ=` prefix), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedCron {
    pub cron: Cron,
    pub timezone: Option<String>,
}

/// Parses a cron string of 5, 6 or 7 fields, a nickname or `@every`, with an optional time
/// zone prefix and a trailing `# comment`.
pub fn parse_cron(text: &str) -> Result<ParsedCron, CalendarError> {
    let invalid = || CalendarError("CronString does not have 5-7 fields".into());
    let (body, comment) = match text.split_once('#') {
        Some((body, comment)) => (body, comment.trim().to_string()),
        None => (text, String::new()),
    };
    let mut body = body.trim();
    let mut timezone = None;
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(rest) = body.strip_prefix(prefix) {
            let (zone, rest) = rest.split_once(char::is_whitespace).ok_or_else(|| {
                CalendarError("CronString has time zone but missing fields".into())
            })?;
            timezone = Some(zone.to_string());
            body = rest.trim();
            break;
        }
    }
    if let Some(every) = body.strip_prefix("@every") {
        let every = every.trim();
        let (interval, phase) = match every.split_once('/') {
            Some((interval, phase)) => (interval, Some(phase)),
            None => (every, None),
        };
        let interval = parse_every_duration(interval).ok_or_else(invalid)?;
        let phase = match phase {
            Some(phase) => parse_every_duration(phase).ok_or_else(invalid)?,
            None => 0,
        };
        return Ok(ParsedCron {
            cron: Cron::Every { interval, phase },
            timezone,
        });
    }
    let fields: Vec<&str> = match body {
        "@yearly" | "@annually" => vec!["0", "0", "0", "1", "1", "*", "*"],
        "@monthly" => vec!["0", "0", "0", "1", "*", "*", "*"],
        "@weekly" => vec!["0", "0", "0", "*", "*", "0", "*"],
        "@daily" | "@midnight" => vec!["0", "0", "0", "*", "*", "*", "*"],
        "@hourly" => vec!["0", "0", "*", "*", "*", "*", "*"],
        _ => {
            let given: Vec<&str> = body.split_whitespace().collect();
            match given.len() {
                5 => [&["0"][..], &given, &["*"]].concat(),
                6 => [&["0"][..], &given].concat(),
                7 => given,
                _ => return Err(invalid()),
            }
        }
    };
    let calendar = CalendarSpec {
        second: fields[0].to_string(),
        minute: fields[1].to_string(),
        hour: fields[2].to_string(),
        day_of_month: fields[3].to_string(),
        month: fields[4].to_string(),
        day_of_week: fields[5].to_string(),
        year: fields[6].to_string(),
        comment,
    };
    Ok(ParsedCron {
        cron: Cron::Calendar(from_calendar(&calendar)?),
        timezone,
    })
}

/// `@every` durations: a decimal integer and a unit (`s`, `m`, `h` or `d`), repeated.
fn parse_every_duration(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let value: i64 = rest[..digits].parse().ok()?;
        let unit = match rest[digits..].chars().next()? {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        total = total.checked_add(value.checked_mul(unit)?.checked_mul(1_000_000_000)?)?;
        rest = &rest[digits + 1..];
    }
    Some(total)
}

fn parse_field(text: &str, kind: FieldKind) -> Result<Vec<Range>, CalendarError> {
    let name = kind.name;
    let range = format!("[{}-{}]", kind.min, kind.max);
    let error = |what: &str| CalendarError(format!("{name} {what}"));
    if kind.name == "Year" && text.trim() == "*" {
        // Every year: no ranges.
        return Ok(Vec::new());
    }
    let mut ranges = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        if part.matches('/').count() > 1 {
            return Err(error("has too many slashes"));
        }
        let (span, step) = match part.split_once('/') {
            Some((span, step)) => {
                let step = step.trim();
                if step.is_empty() {
                    return Err(error("missing step value"));
                }
                let step: i32 = step
                    .parse()
                    .map_err(|_| error(&format!("has invalid Step: {step}")))?;
                if step < 1 {
                    return Err(error("has invalid Step"));
                }
                (span.trim(), Some(step))
            }
            None => (part, None),
        };
        if span.matches('-').count() > 1 {
            return Err(error("has too many dashes"));
        }
        let (start, end) = if span == "*" {
            (
                kind.min,
                kind.max.min(if name == "DayOfWeek" { 6 } else { kind.max }),
            )
        } else if let Some((a, b)) = span.split_once('-') {
            let Value::Valid(start) = value(a, kind) else {
                return Err(error(&format!("Start is not in range {range}")));
            };
            match value(b, kind) {
                Value::Valid(end) if end >= start => (start, end),
                _ => {
                    return Err(error(&format!(
                        "End is before Start or not in range {range}"
                    )));
                }
            }
        } else {
            let Value::Valid(start) = value(span, kind) else {
                return Err(error(&format!("is not in range {range}")));
            };
            // `N/STEP` runs to the field's maximum.
            let end = if step.is_some() { kind.max } else { start };
            (start, end)
        };
        ranges.push(Range {
            start,
            end,
            step: step.unwrap_or(1),
        });
    }
    if kind.name == "DayOfWeek" {
        ranges = sunday_as_zero(ranges);
    }
    Ok(ranges)
}

/// Day of week 7 is Sunday: a range ending on 7 also matches 0.
fn sunday_as_zero(ranges: Vec<Range>) -> Vec<Range> {
    let mut out = Vec::new();
    for range in ranges {
        let hits_seven = range.end == 7 && (7 - range.start) % range.step.max(1) == 0;
        if range.start == 7 {
            out.push(Range {
                start: 0,
                end: 0,
                step: 1,
            });
            continue;
        }
        out.push(Range {
            end: range.end.min(6),
            ..range
        });
        if hits_seven && range.start > 0 {
            out.push(Range {
                start: 0,
                end: 0,
                step: 1,
            });
        }
    }
    out
}

enum Value {
    Valid(i32),
    Invalid,
}

fn value(text: &str, kind: FieldKind) -> Value {
    let text = text.trim();
    if let Ok(number) = text.parse::<i32>() {
        return if (kind.min..=kind.max).contains(&number) {
            Value::Valid(number)
        } else {
            Value::Invalid
        };
    }
    if kind.names.is_empty() || text.len() < kind.name_prefix {
        return Value::Invalid;
    }
    let text = text.to_ascii_lowercase();
    kind.names
        .iter()
        .position(|name| name.starts_with(&text))
        .map_or(Value::Invalid, |index| {
            Value::Valid(kind.min + index as i32)
        })
}

fn in_ranges(ranges: &[Range], value: i32) -> bool {
    ranges.iter().any(|range| {
        let end = range.end.max(range.start);
        let step = range.step.max(1);
        (range.start..=end).contains(&value) && (value - range.start) % step == 0
    })
}

/// Checks the ranges of a structured calendar given directly: every value within its field.
pub fn validate(calendar: &StructuredCalendarSpec) -> Result<(), CalendarError> {
    let fields = [
        (&calendar.second, SECOND),
        (&calendar.minute, MINUTE),
        (&calendar.hour, HOUR),
        (&calendar.day_of_month, DAY_OF_MONTH),
        (&calendar.month, MONTH),
        (&calendar.year, YEAR),
        (&calendar.day_of_week, DAY_OF_WEEK),
    ];
    if calendar.comment.len() > 200 {
        return Err(CalendarError("comment is too long".into()));
    }
    for (ranges, kind) in fields {
        // Day of week 7 is read as 0 only in the string forms.
        let kind = if kind.name == "DayOfWeek" {
            FieldKind { max: 6, ..kind }
        } else {
            kind
        };
        for range in ranges {
            let bound = |which: &str| {
                CalendarError(format!(
                    "invalid calendar spec: {} {which} is not in range [{}-{}]",
                    kind.name, kind.min, kind.max
                ))
            };
            if !(kind.min..=kind.max).contains(&range.start) {
                return Err(bound("Start"));
            }
            if range.end != 0 && (range.end < range.start || range.end > kind.max) {
                return Err(CalendarError(format!(
                    "invalid calendar spec: {} End is before Start or not in range [{}-{}]",
                    kind.name, kind.min, kind.max
                )));
            }
            if range.step < 0 {
                return Err(CalendarError(format!(
                    "invalid calendar spec: {} has invalid Step",
                    kind.name
                )));
            }
        }
    }
    Ok(())
}

/// A structured calendar as Describe shows it: every range's end and step filled in.
pub fn cleaned(calendar: &StructuredCalendarSpec) -> StructuredCalendarSpec {
    let clean = |ranges: &[Range]| -> Vec<Range> {
        ranges
            .iter()
            .map(|r| Range {
                start: r.start,
                end: r.end.max(r.start),
                step: if r.step == 0 { 1 } else { r.step },
            })
            .collect()
    };
    StructuredCalendarSpec {
        second: clean(&calendar.second),
        minute: clean(&calendar.minute),
        hour: clean(&calendar.hour),
        day_of_month: clean(&calendar.day_of_month),
        month: clean(&calendar.month),
        year: clean(&calendar.year),
        day_of_week: clean(&calendar.day_of_week),
        comment: calendar.comment.clone(),
    }
}

/// A structured calendar ready for matching: each field's values, ascending.
#[derive(Debug, Clone)]
pub struct Calendar {
    seconds: Vec<u32>,
    minutes: Vec<u32>,
    hours: Vec<u32>,
    spec: StructuredCalendarSpec,
}

impl Calendar {
    pub fn new(spec: &StructuredCalendarSpec) -> Self {
        let values = |ranges: &[Range], max: i32| -> Vec<u32> {
            (0..=max)
                .filter(|v| in_ranges(ranges, *v))
                .map(|v| v as u32)
                .collect()
        };
        Self {
            seconds: values(&spec.second, 59),
            minutes: values(&spec.minute, 59),
            hours: values(&spec.hour, 23),
            spec: spec.clone(),
        }
    }

    fn day_matches(&self, day: NaiveDate) -> bool {
        (self.spec.year.is_empty() || in_ranges(&self.spec.year, day.year()))
            && in_ranges(&self.spec.month, day.month() as i32)
            && in_ranges(&self.spec.day_of_month, day.day() as i32)
            && in_ranges(
                &self.spec.day_of_week,
                day.weekday().num_days_from_sunday() as i32,
            )
    }

    /// Whether the clock time of `at` in `zone` matches.
    pub fn matches(&self, zone: Tz, at: chrono::DateTime<chrono::Utc>) -> bool {
        let local = at.with_timezone(&zone).naive_local();
        self.day_matches(local.date())
            && self.hours.contains(&local.hour())
            && self.minutes.contains(&local.minute())
            && self.seconds.contains(&local.second())
            && at.timestamp_subsec_nanos() == 0
    }

    /// The first matching instant strictly after `after`, if any before [`LAST_YEAR`] ends.
    pub fn next_after(
        &self,
        zone: Tz,
        after: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        if self.seconds.is_empty() || self.minutes.is_empty() || self.hours.is_empty() {
            return None;
        }
        // A clock time can occur twice on a day that leaves daylight saving time, so the day
        // before the local date is searched as well.
        let mut day = after.with_timezone(&zone).date_naive().pred_opt()?;
        while day.year() <= LAST_YEAR {
            if self.day_matches(day)
                && let Some(found) = self.first_on(zone, day, after)
            {
                return Some(found);
            }
            day = day.succ_opt()?;
        }
        None
    }

    /// The first matching instant after `after` among the clock times of `day`.
    fn first_on(
        &self,
        zone: Tz,
        day: NaiveDate,
        after: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let mut best: Option<chrono::DateTime<chrono::Utc>> = None;
        for &hour in &self.hours {
            for &minute in &self.minutes {
                for &second in &self.seconds {
                    let local = NaiveDateTime::new(
                        day,
                        chrono::NaiveTime::from_hms_opt(hour, minute, second)?,
                    );
                    // A clock time skipped by a daylight-saving change matches nothing.
                    for instant in zone
                        .from_local_datetime(&local)
                        .earliest()
                        .into_iter()
                        .chain(zone.from_local_datetime(&local).latest())
                    {
                        let instant = instant.with_timezone(&chrono::Utc);
                        if instant > after && best.is_none_or(|b| instant < b) {
                            best = Some(instant);
                        }
                    }
                    if best.is_some() {
                        return best;
                    }
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn at(text: &str) -> chrono::DateTime<Utc> {
        text.parse().unwrap()
    }

    fn r(start: i32, end: i32, step: i32) -> Range {
        Range { start, end, step }
    }

    #[test]
    fn five_field_cron_strings_default_second_to_zero_and_year_to_every_year() {
        let parsed = parse_cron("*/15 9-17 * * mon-fri # office hours").unwrap();
        let Cron::Calendar(calendar) = parsed.cron else {
            panic!("a calendar")
        };
        assert_eq!(calendar.second, vec![r(0, 0, 1)]);
        assert_eq!(calendar.minute, vec![r(0, 59, 15)]);
        assert_eq!(calendar.hour, vec![r(9, 17, 1)]);
        assert_eq!(calendar.day_of_month, vec![r(1, 31, 1)]);
        assert_eq!(calendar.day_of_week, vec![r(1, 5, 1)]);
        assert!(calendar.year.is_empty());
        assert_eq!(calendar.comment, "office hours");
    }

    #[test]
    fn cron_strings_take_a_time_zone_nicknames_and_every() {
        let parsed = parse_cron("CRON_TZ=America/New_York 0 12 * * *").unwrap();
        assert_eq!(parsed.timezone.as_deref(), Some("America/New_York"));
        assert_eq!(
            parse_cron("@every 90m/15m").unwrap().cron,
            Cron::Every {
                interval: 5400 * 1_000_000_000,
                phase: 900 * 1_000_000_000
            }
        );
        let Cron::Calendar(daily) = parse_cron("@daily").unwrap().cron else {
            panic!("a calendar")
        };
        assert_eq!(daily.hour, vec![r(0, 0, 1)]);
        assert!(parse_cron("* * *").is_err());
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_cron("@every 5x").is_err());
    }

    #[test]
    fn sunday_is_zero_or_seven() {
        let Cron::Calendar(c) = parse_cron("0 0 * * 7").unwrap().cron else {
            panic!()
        };
        assert_eq!(c.day_of_week, vec![r(0, 0, 1)]);
        let Cron::Calendar(c) = parse_cron("0 0 * * 5-7").unwrap().cron else {
            panic!()
        };
        assert_eq!(c.day_of_week, vec![r(5, 6, 1), r(0, 0, 1)]);
    }

    #[test]
    fn next_matching_time_in_utc_and_across_months() {
        let Cron::Calendar(spec) = parse_cron("30 14 31 * *").unwrap().cron else {
            panic!()
        };
        let calendar = Calendar::new(&spec);
        let next = calendar
            .next_after(Tz::UTC, at("2026-04-15T00:00:00Z"))
            .unwrap();
        assert_eq!(next, at("2026-05-31T14:30:00Z"));
        assert!(calendar.matches(Tz::UTC, next));
        let after = calendar.next_after(Tz::UTC, next).unwrap();
        assert_eq!(after, at("2026-07-31T14:30:00Z"));
    }

    #[test]
    fn calendars_follow_their_time_zone() {
        let Cron::Calendar(spec) = parse_cron("0 9 * * *").unwrap().cron else {
            panic!()
        };
        let zone: Tz = "America/New_York".parse().unwrap();
        let calendar = Calendar::new(&spec);
        // Standard time: UTC-5; daylight saving time: UTC-4.
        assert_eq!(
            calendar.next_after(zone, at("2026-01-10T00:00:00Z")),
            Some(at("2026-01-10T14:00:00Z"))
        );
        assert_eq!(
            calendar.next_after(zone, at("2026-07-10T00:00:00Z")),
            Some(at("2026-07-10T13:00:00Z"))
        );
    }

    #[test]
    fn an_impossible_date_matches_nothing() {
        let Cron::Calendar(spec) = parse_cron("0 0 30 2 *").unwrap().cron else {
            panic!()
        };
        assert_eq!(
            Calendar::new(&spec).next_after(Tz::UTC, at("2026-01-01T00:00:00Z")),
            None
        );
    }
}
