//! RFC 3339 timestamps to and from unix nanoseconds, without a date library.
//!
//! The accepted form is the one Go's `time.RFC3339Nano` layout parses, since that is what
//! Temporal applies to datetime literals: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`,
//! with an upper-case `T` and `Z`. Fractions longer than nine digits are truncated to
//! nanoseconds. Instants outside the `i64` nanosecond range (before 1677 or after 2262)
//! saturate to `i64::MIN` / `i64::MAX`, so sentinel dates such as `9999-12-31T00:00:00Z`
//! still compare correctly against real timestamps.

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Why a timestamp is not valid RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("expected {expected} at byte {offset}")]
    Malformed {
        expected: &'static str,
        offset: usize,
    },
    #[error("{component} {value} is out of range")]
    OutOfRange { component: &'static str, value: u32 },
    #[error("unexpected characters after the timestamp at byte {offset}")]
    Trailing { offset: usize },
}

/// Parses an RFC 3339 timestamp and returns the instant as nanoseconds since the unix epoch.
pub fn parse_rfc3339(input: &str) -> Result<i64, TimeError> {
    let mut cursor = Cursor {
        bytes: input.as_bytes(),
        offset: 0,
    };
    let year = cursor.number(4, "a four-digit year")?;
    cursor.expect(b'-', "`-` after the year")?;
    let month = cursor.number(2, "a two-digit month")?;
    cursor.expect(b'-', "`-` after the month")?;
    let day = cursor.number(2, "a two-digit day")?;
    cursor.expect(b'T', "`T` between date and time")?;
    let hour = cursor.number(2, "a two-digit hour")?;
    cursor.expect(b':', "`:` after the hour")?;
    let minute = cursor.number(2, "two-digit minutes")?;
    cursor.expect(b':', "`:` after the minutes")?;
    let second = cursor.number(2, "two-digit seconds")?;
    let nanos = if cursor.eat(b'.') {
        cursor.fraction()?
    } else {
        0
    };
    let offset_seconds = cursor.zone()?;
    if cursor.offset != input.len() {
        return Err(TimeError::Trailing {
            offset: cursor.offset,
        });
    }

    check_range("month", month, 1, 12)?;
    check_range("day", day, 1, days_in_month(i64::from(year), month))?;
    check_range("hour", hour, 0, 23)?;
    check_range("minute", minute, 0, 59)?;
    check_range("second", second, 0, 59)?;

    let days = days_from_civil(i64::from(year), month, day);
    let seconds = days * SECONDS_PER_DAY
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second)
        - offset_seconds;
    let total = i128::from(seconds) * NANOS_PER_SECOND + i128::from(nanos);
    Ok(i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX }))
}

/// Formats nanoseconds since the unix epoch as an RFC 3339 UTC timestamp, with as many
/// fractional digits as needed (none for whole seconds), like Go's `time.RFC3339Nano`.
pub fn format_rfc3339(unix_nanos: i64) -> String {
    let nanos = i128::from(unix_nanos);
    let seconds = nanos.div_euclid(NANOS_PER_SECOND) as i64;
    let fraction = nanos.rem_euclid(NANOS_PER_SECOND) as u32;
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    if fraction != 0 {
        let digits = format!("{fraction:09}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

struct Cursor<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.offset).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.offset += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), TimeError> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(TimeError::Malformed {
                expected,
                offset: self.offset,
            })
        }
    }

    fn digit(&mut self) -> Option<u32> {
        let byte = self.peek().filter(u8::is_ascii_digit)?;
        self.offset += 1;
        Some(u32::from(byte - b'0'))
    }

    /// Reads exactly `width` decimal digits.
    fn number(&mut self, width: usize, expected: &'static str) -> Result<u32, TimeError> {
        let start = self.offset;
        let mut value = 0;
        for _ in 0..width {
            match self.digit() {
                Some(digit) => value = value * 10 + digit,
                None => {
                    return Err(TimeError::Malformed {
                        expected,
                        offset: start,
                    });
                }
            }
        }
        Ok(value)
    }

    /// Reads the digits after the decimal point as nanoseconds, truncating past nine digits.
    fn fraction(&mut self) -> Result<u32, TimeError> {
        let mut nanos = 0;
        let mut count = 0;
        while let Some(digit) = self.digit() {
            if count < 9 {
                nanos = nanos * 10 + digit;
            }
            count += 1;
        }
        if count == 0 {
            return Err(TimeError::Malformed {
                expected: "digits after the decimal point",
                offset: self.offset,
            });
        }
        for _ in count..9 {
            nanos *= 10;
        }
        Ok(nanos)
    }

    /// Reads `Z` or a `+HH:MM` / `-HH:MM` offset and returns it in seconds east of UTC.
    fn zone(&mut self) -> Result<i64, TimeError> {
        let sign = match self.peek() {
            Some(b'Z') => {
                self.offset += 1;
                return Ok(0);
            }
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => {
                return Err(TimeError::Malformed {
                    expected: "`Z` or a `+HH:MM` / `-HH:MM` offset",
                    offset: self.offset,
                });
            }
        };
        self.offset += 1;
        let hours = self.number(2, "a two-digit offset hour")?;
        self.expect(b':', "`:` in the offset")?;
        let minutes = self.number(2, "two-digit offset minutes")?;
        check_range("offset hour", hours, 0, 23)?;
        check_range("offset minute", minutes, 0, 59)?;
        Ok(sign * (i64::from(hours) * 3600 + i64::from(minutes) * 60))
    }
}

fn check_range(component: &'static str, value: u32, min: u32, max: u32) -> Result<(), TimeError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(TimeError::OutOfRange { component, value })
    }
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// The two conversions below count days in a proleptic Gregorian calendar whose years start
// in March, so the leap day falls at the end of the year. An "era" is a 400-year cycle of
// exactly 146_097 days; 719_468 is the number of days from 0000-03-01 to 1970-01-01.

/// Returns the number of days from 1970-01-01 to the given date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Returns the (year, month, day) that lies `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn epoch_is_zero() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
    }

    #[test]
    fn parses_a_known_instant() {
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00Z"),
            Ok(1_704_067_200 * SECOND)
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T12:34:56Z"),
            Ok(951_827_696 * SECOND)
        );
    }

    #[test]
    fn parses_instants_before_the_epoch() {
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Ok(-SECOND));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.5Z"), Ok(-SECOND / 2));
    }

    #[test]
    fn fractional_seconds_scale_to_nanoseconds() {
        let base = 1_704_067_200 * SECOND;
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00.1Z"),
            Ok(base + 100_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00.123Z"),
            Ok(base + 123_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00.000000001Z"),
            Ok(base + 1)
        );
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00.123456789Z"),
            Ok(base + 123_456_789)
        );
    }

    #[test]
    fn fractions_beyond_nanoseconds_are_truncated() {
        let base = 1_704_067_200 * SECOND;
        assert_eq!(
            parse_rfc3339("2024-01-01T00:00:00.1234567891Z"),
            Ok(base + 123_456_789)
        );
    }

    #[test]
    fn offsets_name_the_same_instant_in_another_zone() {
        let utc = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(parse_rfc3339("2024-01-01T02:00:00+02:00"), Ok(utc));
        assert_eq!(parse_rfc3339("2023-12-31T19:00:00-05:00"), Ok(utc));
        assert_eq!(parse_rfc3339("2024-01-01T05:45:00+05:45"), Ok(utc));
        assert_eq!(parse_rfc3339("2024-01-01T00:00:00+00:00"), Ok(utc));
        assert_eq!(parse_rfc3339("2024-01-01T00:00:00-00:00"), Ok(utc));
    }

    #[test]
    fn offsets_combine_with_fractions() {
        let utc = parse_rfc3339("2024-06-30T21:59:59.999Z").unwrap();
        assert_eq!(parse_rfc3339("2024-07-01T00:59:59.999+03:00"), Ok(utc));
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for input in [
            "",
            "2024",
            "2024-01-01",
            "2024-01-01 00:00:00Z",
            "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00Z",
            "2024-1-01T00:00:00Z",
            "24-01-01T00:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0200",
            "2024-01-01T00:00:00+02",
            "2024-01-01T00:00:00ZZ",
            "2024-01-01T00:00:00Z ",
            " 2024-01-01T00:00:00Z",
        ] {
            assert!(parse_rfc3339(input).is_err(), "{input:?} should not parse");
        }
    }

    #[test]
    fn rejects_out_of_range_components() {
        assert_eq!(
            parse_rfc3339("2023-02-29T00:00:00Z"),
            Err(TimeError::OutOfRange {
                component: "day",
                value: 29
            })
        );
        assert_eq!(
            parse_rfc3339("2024-13-01T00:00:00Z"),
            Err(TimeError::OutOfRange {
                component: "month",
                value: 13
            })
        );
        for input in [
            "2024-00-01T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00+01:60",
        ] {
            assert!(parse_rfc3339(input).is_err(), "{input:?} should not parse");
        }
    }

    #[test]
    fn leap_day_of_a_400_year_is_valid() {
        assert!(parse_rfc3339("2000-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn instants_outside_the_nanosecond_range_saturate() {
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59Z"), Ok(i64::MAX));
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), Ok(i64::MIN));
    }

    #[test]
    fn formats_whole_and_fractional_seconds() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339(1_704_067_200 * SECOND),
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(
            format_rfc3339(1_704_067_200 * SECOND + 120_000_000),
            "2024-01-01T00:00:00.12Z"
        );
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
    }

    proptest! {
        #[test]
        fn formatting_then_parsing_returns_the_same_instant(nanos in any::<i64>()) {
            prop_assert_eq!(parse_rfc3339(&format_rfc3339(nanos)), Ok(nanos));
        }

        #[test]
        fn civil_dates_round_trip_through_day_numbers(days in -1_000_000i64..1_000_000) {
            let (year, month, day) = civil_from_days(days);
            prop_assert!((1..=12).contains(&month));
            prop_assert!(day >= 1 && day <= days_in_month(year, month));
            prop_assert_eq!(days_from_civil(year, month, day), days);
        }

        #[test]
        fn any_parsed_instant_formats_to_an_equivalent_timestamp(input in "\\PC{0,40}") {
            if let Ok(nanos) = parse_rfc3339(&input) {
                prop_assert_eq!(parse_rfc3339(&format_rfc3339(nanos)), Ok(nanos));
            }
        }
    }
}
