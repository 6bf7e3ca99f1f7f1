//! The partition's timer wheel: every deadline of every open run, ordered by due time.
//! Deadlines are recomputed from a run's state whenever it changes; a deadline that no longer
//! applies fires as a no-op, so stale entries need no removal.

use std::collections::BTreeSet;

use cairn_engine::{
    MutableState, RunKey,
    timer::{Deadline, deadlines},
};

#[derive(Default)]
pub struct TimerWheel {
    entries: BTreeSet<(i64, RunKey, Deadline)>,
}

impl TimerWheel {
    /// Schedules every deadline of a run (one just loaded).
    pub fn schedule_run(&mut self, state: &MutableState) {
        self.schedule(&state.run, deadlines(state));
    }

    /// Schedules deadlines of a run; those already scheduled stay as they are.
    pub fn schedule(&mut self, run: &RunKey, deadlines: Vec<(i64, Deadline)>) {
        for (due, deadline) in deadlines {
            self.entries.insert((due, run.clone(), deadline));
        }
    }

    pub fn next_due(&self) -> Option<i64> {
        self.entries.first().map(|(due, _, _)| *due)
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
    }
}
