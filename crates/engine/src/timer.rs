//! Deadlines: every timer a run needs (user timers, workflow-task and activity timeouts,
//! activity retry backoffs, run and execution timeouts) derives from its state. The history
//! owner keeps them in a wheel and fires them back through [`Tx::fire`], which checks the
//! deadline still applies: a stale deadline is a no-op.

use crate::{
    activity::activity_deadline,
    events::Tx,
    proto::{enums::TimeoutType, history},
    sections::{Change, Section},
    state::{ActivityInfo, MutableState, TimerInfo},
    time::Nanos,
};

#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Deadline {
    UserTimer {
        timer_id: String,
        started_event_id: i64,
    },
    WorkflowTaskTimeout {
        scheduled_event_id: i64,
        started_event_id: i64,
    },
    StickyScheduleToStart {
        scheduled_event_id: i64,
    },
    ActivityRetry {
        scheduled_event_id: i64,
        stamp: i32,
    },
    ActivityTimeout {
        scheduled_event_id: i64,
        attempt: i32,
        timeout: i32,
    },
    WorkflowTimeout,
    /// The end of a start delay or of a retry or cron backoff.
    FirstWorkflowTask,
    /// The next time of a schedule's spec came due.
    ScheduleWake,
}

const ACTIVITY_TIMEOUTS: [TimeoutType; 4] = [
    TimeoutType::ScheduleToStart,
    TimeoutType::StartToClose,
    TimeoutType::Heartbeat,
    TimeoutType::ScheduleToClose,
];

/// Every deadline of the run with its due time. Empty once the run is closed.
pub fn deadlines(state: &MutableState) -> Vec<(Nanos, Deadline)> {
    let mut out = Vec::new();
    if !state.is_open() {
        return out;
    }
    for timer in &state.timers {
        out.push(timer_deadline(timer));
    }
    for activity in &state.activities {
        activity_deadlines(activity, &mut out);
    }
    run_deadlines(state, &mut out);
    out
}

/// The deadlines one section of an open run holds: the run's own fields (without its
/// schedule, a section of its own), a timer, an activity, a schedule. Over every section of
/// a state they are [`deadlines`], so an index of them can be kept section by section.
pub fn section_deadlines(section: &Section) -> Vec<(Nanos, Deadline)> {
    let mut out = Vec::new();
    match section {
        Section::Run(fields) => {
            let fields: &MutableState = fields;
            if fields.schedule.is_none() {
                run_deadlines(fields, &mut out);
            } else {
                // Only a state's own fields come here; its schedule counts as a section.
                let mut fields = fields.clone();
                fields.schedule = None;
                run_deadlines(&fields, &mut out);
            }
        }
        Section::Timer(timer) => out.push(timer_deadline(timer)),
        Section::Activity(activity) => activity_deadlines(activity, &mut out),
        Section::Schedule(schedule) => {
            if let Some(due) = schedule.wake_time() {
                out.push((due, Deadline::ScheduleWake));
            }
        }
        _ => {}
    }
    out
}

/// The deadlines a transition may have added: those of the run's own fields, and those of
/// the activities and timers it put. The others are unchanged since they were scheduled.
pub fn changed_deadlines(state: &MutableState, changes: &[Change]) -> Vec<(Nanos, Deadline)> {
    let mut out = Vec::new();
    if !state.is_open() {
        return out;
    }
    for change in changes {
        match change {
            Change::Put(Section::Timer(timer)) => out.push(timer_deadline(timer)),
            Change::Put(Section::Activity(activity)) => activity_deadlines(activity, &mut out),
            _ => {}
        }
    }
    run_deadlines(state, &mut out);
    out
}

fn timer_deadline(timer: &TimerInfo) -> (Nanos, Deadline) {
    (
        timer.fire_time,
        Deadline::UserTimer {
            timer_id: timer.timer_id.clone(),
            started_event_id: timer.started_event_id,
        },
    )
}

fn activity_deadlines(activity: &ActivityInfo, out: &mut Vec<(Nanos, Deadline)>) {
    // A paused activity has no deadlines, as in Temporal: none of its timeouts runs while
    // an operator holds it.
    if activity.is_paused() {
        return;
    }
    let id = activity.scheduled_event_id;
    if activity.started_time.is_none()
        && (activity.attempt > 1 || activity.attempt_scheduled_time > activity.scheduled_time)
    {
        out.push((
            activity.attempt_scheduled_time,
            Deadline::ActivityRetry {
                scheduled_event_id: id,
                stamp: activity.current_stamp(),
            },
        ));
    }
    for timeout in ACTIVITY_TIMEOUTS {
        if let Some(due) = activity_deadline(activity, timeout) {
            // Schedule-to-start counts from the end of a retry backoff.
            out.push((
                due,
                Deadline::ActivityTimeout {
                    scheduled_event_id: id,
                    attempt: activity.attempt,
                    timeout: timeout as i32,
                },
            ));
        }
    }
}

/// The deadlines of the run's own fields: its workflow task, its first task's backoff, its
/// schedule and its timeouts.
fn run_deadlines(state: &MutableState, out: &mut Vec<(Nanos, Deadline)>) {
    if let Some(task) = &state.workflow_task
        && task.is_started()
        && task.timeout > 0
    {
        out.push((
            task.started_time + task.timeout,
            Deadline::WorkflowTaskTimeout {
                scheduled_event_id: task.scheduled_event_id,
                started_event_id: task.started_event_id,
            },
        ));
    }
    if let Some(task) = &state.workflow_task
        && !task.is_started()
        && task.is_sticky()
        && state.sticky_schedule_to_start_timeout > 0
    {
        out.push((
            task.scheduled_time + state.sticky_schedule_to_start_timeout,
            Deadline::StickyScheduleToStart {
                scheduled_event_id: task.scheduled_event_id,
            },
        ));
    }
    if let Some(due) = state.first_workflow_task_due {
        out.push((due, Deadline::FirstWorkflowTask));
    }
    if let Some(due) = state.schedule.as_ref().and_then(|s| s.wake_time()) {
        out.push((due, Deadline::ScheduleWake));
    }
    let expiry = [state.run_expiration, state.execution_expiration]
        .into_iter()
        .flatten()
        .min();
    if let Some(expiry) = expiry {
        out.push((expiry, Deadline::WorkflowTimeout));
    }
}

impl Tx<'_> {
    /// Fires a deadline that came due. Does nothing when the run moved on since.
    pub fn fire(&mut self, deadline: &Deadline) {
        if !self.state.is_open() {
            return;
        }
        match deadline {
            Deadline::UserTimer {
                timer_id,
                started_event_id,
            } => {
                let due = self.state.timer(timer_id).is_some_and(|t| {
                    t.started_event_id == *started_event_id && t.fire_time <= self.now
                });
                if due {
                    self.state.remove_timer(timer_id);
                    self.append_for_workflow(history::TimerFiredEventAttributes {
                        timer_id: timer_id.clone(),
                        started_event_id: *started_event_id,
                    });
                }
            }
            Deadline::WorkflowTaskTimeout {
                scheduled_event_id,
                started_event_id,
            } => {
                let due = self
                    .state
                    .workflow_task
                    .as_ref()
                    .is_some_and(|t| t.started_time + t.timeout <= self.now);
                if due {
                    // A stale deadline fails the started-task check and changes nothing.
                    self.time_out_workflow_task(*scheduled_event_id, *started_event_id)
                        .unwrap_or(());
                }
            }
            Deadline::StickyScheduleToStart { scheduled_event_id } => {
                self.time_out_sticky_workflow_task(*scheduled_event_id);
            }
            Deadline::ActivityRetry {
                scheduled_event_id,
                stamp,
            } => {
                self.dispatch_activity_retry(*scheduled_event_id, *stamp);
            }
            Deadline::ActivityTimeout {
                scheduled_event_id,
                attempt,
                timeout,
            } => {
                let timeout = TimeoutType::try_from(*timeout).unwrap_or(TimeoutType::Unspecified);
                self.time_out_activity(*scheduled_event_id, *attempt, timeout);
            }
            Deadline::WorkflowTimeout => {
                let expiry = [self.state.run_expiration, self.state.execution_expiration]
                    .into_iter()
                    .flatten()
                    .min();
                if expiry.is_some_and(|e| e <= self.now) {
                    self.time_out_run();
                }
            }
            Deadline::FirstWorkflowTask => {
                if self
                    .state
                    .first_workflow_task_due
                    .is_some_and(|due| due <= self.now)
                {
                    self.state.first_workflow_task_due = None;
                    self.schedule_workflow_task_if_none();
                }
            }
            Deadline::ScheduleWake => self.run_schedule(),
        }
    }
}
