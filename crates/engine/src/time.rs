//! Time in the engine is plain nanoseconds since the Unix epoch, passed in by the caller.

use crate::proto::{Duration, Timestamp};

/// Nanoseconds since the Unix epoch.
pub type Nanos = i64;

pub const NANOS_PER_SEC: i64 = 1_000_000_000;

pub fn timestamp(nanos: Nanos) -> Timestamp {
    Timestamp {
        seconds: nanos.div_euclid(NANOS_PER_SEC),
        nanos: nanos.rem_euclid(NANOS_PER_SEC) as i32,
    }
}

pub fn from_timestamp(ts: &Timestamp) -> Nanos {
    ts.seconds
        .saturating_mul(NANOS_PER_SEC)
        .saturating_add(i64::from(ts.nanos))
}

pub fn duration(nanos: Nanos) -> Duration {
    Duration {
        seconds: nanos / NANOS_PER_SEC,
        nanos: (nanos % NANOS_PER_SEC) as i32,
    }
}

/// A protobuf duration in nanoseconds; absent or negative durations count as zero ("unset").
pub fn from_duration(d: Option<&Duration>) -> Nanos {
    match d {
        Some(d) if d.seconds >= 0 && d.nanos >= 0 => d
            .seconds
            .saturating_mul(NANOS_PER_SEC)
            .saturating_add(i64::from(d.nanos)),
        _ => 0,
    }
}

pub fn secs(s: i64) -> Nanos {
    s * NANOS_PER_SEC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        for n in [0, 1, 1_700_000_000_123_456_789, -5] {
            assert_eq!(from_timestamp(&timestamp(n)), n);
        }
        assert_eq!(from_duration(Some(&duration(1_500_000_000))), 1_500_000_000);
        assert_eq!(from_duration(None), 0);
    }
}
