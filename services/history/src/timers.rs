//! The partition's timer wheel: the deadlines of its open runs that come due within the next
//! [`SPAN`], ordered by due time. The rest wait in the partition's deadline index (RocksDB,
//! kept with the state), and the wheel reads the next span from there as time reaches its
//! horizon, so an owner's memory holds the deadlines of the next while, not of every run.
//! Deadlines are recomputed from a run's state whenever it changes; a deadline that no longer
//! applies fires as a no-op, so stale entries need no removal.

use std::collections::BTreeSet;

use cairn_engine::{RunKey, timer::Deadline};
use cairn_state::DueDeadline;

/// How far ahead of now the wheel holds deadlines.
pub const SPAN: i64 = 60 * 1_000_000_000;

pub struct TimerWheel {
    entries: BTreeSet<(i64, RunKey, Deadline)>,
    /// Deadlines due from here on are not held: the index has them.
    horizon: i64,
}

impl Default for TimerWheel {
    fn default() -> Self {
        Self {
            entries: BTreeSet::new(),
            horizon: i64::MIN,
        }
    }
}

impl TimerWheel {
    /// Schedules deadlines of a run that changed, those due before the horizon; those
    /// already scheduled stay as they are.
    pub fn schedule(&mut self, run: &RunKey, deadlines: Vec<(i64, Deadline)>) {
        for (due, deadline) in deadlines {
            if due < self.horizon {
                self.entries.insert((due, run.clone(), deadline));
            }
        }
    }

    /// When the wheel next needs the loop: its first deadline, or its horizon.
    pub fn next_due(&self) -> Option<i64> {
        let first = self.entries.first().map(|(due, _, _)| *due);
        Some(first.map_or(self.horizon, |due| due.min(self.horizon)))
    }

    /// Where the deadlines the wheel holds end.
    pub fn horizon(&self) -> i64 {
        self.horizon
    }

    /// Takes the index's deadlines from the old horizon up to a new one.
    pub fn extend(&mut self, horizon: i64, deadlines: Vec<DueDeadline>) {
        for due in deadlines {
            self.entries.insert((due.due, due.run, due.deadline));
        }
        self.horizon = self.horizon.max(horizon);
    }

    /// Removes and returns every deadline due at `now`.
    pub fn take_due(&mut self, now: i64) -> Vec<(RunKey, Deadline)> {
        let mut due = Vec::new();
        while let Some((at, _, _)) = self.entries.first() {
            if *at > now {
                break;
            }
            let (_, run, deadline) = self.entries.pop_first().expect("first entry exists");
            due.push((run, deadline));
        }
        due
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.horizon = i64::MIN;
    }
}
