//! A run's mutable state as sections, and the changes between two states.
//!
//! A transition record carries what changed, never the whole state, so its size follows the
//! change and not the run. The state splits into sections:
//!
//! ```text
//!  Run                 the run's own fields: everything below left empty
//!  Memo, SearchAttributes, StartInput, StartHeader
//!                      large values, each written only when it changes
//!  BufferedEvent(i)    the i-th event buffered behind a started workflow task
//!  Updates, ResetPoints, Schedule
//!                      small collections, written whole when they change
//!  Activity(id) Timer(id) Child(id) ExternalRequest(id)
//!                      one per pending item, keyed by the event ID that created it
//!  SignalRequest(id)   one per request ID of an accepted signal (a set)
//! ```
//! [`diff`] lists the sections that differ between two states (put or removed) and [`apply`]
//! applies such a list. Keyed items are kept in key order, which is the order the engine adds
//! them in, so applying a diff to the state before gives exactly the state after: that is
//! what lets any node rebuild a run from a snapshot and the changes after it.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};

use crate::{
    schedule::ScheduleState,
    state::{ActivityInfo, ChildInfo, ExternalRequest, MutableState, ResetPoint, TimerInfo},
    update::UpdateInfo,
};

/// What a section holds. The discriminants are part of the stored layout: never renumber.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, AvroSchema,
)]
#[repr(u8)]
pub enum SectionKind {
    Run = 0,
    Memo = 1,
    SearchAttributes = 2,
    BufferedEvent = 3,
    StartInput = 4,
    StartHeader = 5,
    Updates = 6,
    ResetPoints = 7,
    Schedule = 8,
    Activity = 9,
    Timer = 10,
    Child = 11,
    ExternalRequest = 12,
    SignalRequest = 13,
}

impl SectionKind {
    pub const ALL: [SectionKind; 14] = [
        Self::Run,
        Self::Memo,
        Self::SearchAttributes,
        Self::BufferedEvent,
        Self::StartInput,
        Self::StartHeader,
        Self::Updates,
        Self::ResetPoints,
        Self::Schedule,
        Self::Activity,
        Self::Timer,
        Self::Child,
        Self::ExternalRequest,
        Self::SignalRequest,
    ];

    pub fn from_u8(byte: u8) -> Option<Self> {
        Self::ALL.get(usize::from(byte)).copied()
    }
}

/// Which section: its kind, and for keyed items the event ID or request ID that names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SectionKey {
    /// A section of which a run has at most one.
    Single(SectionKind),
    /// An activity, timer, child or request to another workflow, by the event ID that
    /// created it; a buffered event by its place in the buffer.
    Item(SectionKind, i64),
    /// The request ID of an accepted signal.
    SignalRequest(String),
}

impl SectionKey {
    pub fn kind(&self) -> SectionKind {
        match self {
            Self::Single(kind) | Self::Item(kind, _) => *kind,
            Self::SignalRequest(_) => SectionKind::SignalRequest,
        }
    }
}

/// One section's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Section {
    /// The run's own fields; every collection and large value in it is empty.
    Run(Box<MutableState>),
    Memo(Vec<u8>),
    SearchAttributes(Vec<u8>),
    /// A buffered event (an encoded `HistoryEvent`) and its place in the buffer.
    BufferedEvent(i64, Vec<u8>),
    StartInput(Vec<u8>),
    StartHeader(Vec<u8>),
    Updates(Vec<UpdateInfo>),
    ResetPoints(Vec<ResetPoint>),
    Schedule(Box<ScheduleState>),
    Activity(Box<ActivityInfo>),
    Timer(TimerInfo),
    Child(ChildInfo),
    ExternalRequest(ExternalRequest),
    SignalRequest(String),
}

impl Section {
    pub fn key(&self) -> SectionKey {
        use SectionKind as K;
        match self {
            Self::Run(_) => SectionKey::Single(K::Run),
            Self::Memo(_) => SectionKey::Single(K::Memo),
            Self::SearchAttributes(_) => SectionKey::Single(K::SearchAttributes),
            Self::BufferedEvent(position, _) => SectionKey::Item(K::BufferedEvent, *position),
            Self::StartInput(_) => SectionKey::Single(K::StartInput),
            Self::StartHeader(_) => SectionKey::Single(K::StartHeader),
            Self::Updates(_) => SectionKey::Single(K::Updates),
            Self::ResetPoints(_) => SectionKey::Single(K::ResetPoints),
            Self::Schedule(_) => SectionKey::Single(K::Schedule),
            Self::Activity(a) => SectionKey::Item(K::Activity, a.scheduled_event_id),
            Self::Timer(t) => SectionKey::Item(K::Timer, t.started_event_id),
            Self::Child(c) => SectionKey::Item(K::Child, c.initiated_event_id),
            Self::ExternalRequest(r) => SectionKey::Item(K::ExternalRequest, r.initiated_event_id),
            Self::SignalRequest(id) => SectionKey::SignalRequest(id.clone()),
        }
    }
}

/// A change to one section.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Put(Section),
    Remove(SectionKey),
}

/// Every section of a state that holds something (the run's own fields always).
pub fn sections(state: &MutableState) -> Vec<Section> {
    let mut out = Vec::new();
    for change in diff(None, state) {
        if let Change::Put(section) = change {
            out.push(section);
        }
    }
    out
}

/// The changes that turn `before` (nothing, for a new run) into `after`.
pub fn diff(before: Option<&MutableState>, after: &MutableState) -> Vec<Change> {
    let blank;
    let (before, new) = match before {
        Some(before) => (before, false),
        None => {
            blank = run_fields(after);
            (&blank, true)
        }
    };
    let mut out = Vec::new();
    let fields = run_fields(after);
    if new || run_fields(before) != fields {
        out.push(Change::Put(Section::Run(Box::new(fields))));
    }
    diff_bytes(&before.memo, &after.memo, SectionKind::Memo, &mut out);
    diff_bytes(
        &before.search_attributes,
        &after.search_attributes,
        SectionKind::SearchAttributes,
        &mut out,
    );
    diff_buffered(&before.buffered_events, &after.buffered_events, &mut out);
    diff_bytes(
        &before.start_input,
        &after.start_input,
        SectionKind::StartInput,
        &mut out,
    );
    diff_bytes(
        &before.start_header,
        &after.start_header,
        SectionKind::StartHeader,
        &mut out,
    );
    if before.updates != after.updates {
        out.push(if after.updates.is_empty() {
            Change::Remove(SectionKey::Single(SectionKind::Updates))
        } else {
            Change::Put(Section::Updates(after.updates.clone()))
        });
    }
    if before.reset_points != after.reset_points {
        out.push(if after.reset_points.is_empty() {
            Change::Remove(SectionKey::Single(SectionKind::ResetPoints))
        } else {
            Change::Put(Section::ResetPoints(after.reset_points.clone()))
        });
    }
    if before.schedule != after.schedule {
        out.push(match &after.schedule {
            Some(schedule) => Change::Put(Section::Schedule(Box::new(schedule.clone()))),
            None => Change::Remove(SectionKey::Single(SectionKind::Schedule)),
        });
    }
    diff_items(
        &before.activities,
        &after.activities,
        |a| a.scheduled_event_id,
        |a| Section::Activity(Box::new(a.clone())),
        SectionKind::Activity,
        &mut out,
    );
    diff_items(
        &before.timers,
        &after.timers,
        |t| t.started_event_id,
        |t| Section::Timer(t.clone()),
        SectionKind::Timer,
        &mut out,
    );
    diff_items(
        &before.children,
        &after.children,
        |c| c.initiated_event_id,
        |c| Section::Child(c.clone()),
        SectionKind::Child,
        &mut out,
    );
    diff_items(
        &before.external_requests,
        &after.external_requests,
        |r| r.initiated_event_id,
        |r| Section::ExternalRequest(r.clone()),
        SectionKind::ExternalRequest,
        &mut out,
    );
    diff_signal_requests(
        &before.signal_request_ids,
        &after.signal_request_ids,
        &mut out,
    );
    out
}

/// Applies changes to a state (nothing, for a new run). `None` when no section of the run's
/// own fields was ever put: a run is only ever created whole.
pub fn apply(
    state: Option<MutableState>,
    changes: impl IntoIterator<Item = Change>,
) -> Option<MutableState> {
    let mut state = state;
    for change in changes {
        match change {
            Change::Put(Section::Run(fields)) => match state.as_mut() {
                Some(state) => put(state, Section::Run(fields)),
                None => state = Some(*fields),
            },
            Change::Put(section) => {
                let state = state.as_mut()?;
                put(state, section);
            }
            Change::Remove(key) => {
                let state = state.as_mut()?;
                remove(state, &key);
            }
        }
    }
    state
}

/// A state from its sections, in any order. `None` without the run's own fields.
pub fn assemble(sections: impl IntoIterator<Item = Section>) -> Option<MutableState> {
    let mut run = None;
    let mut rest = Vec::new();
    for section in sections {
        match section {
            Section::Run(fields) => run = Some(*fields),
            other => rest.push(other),
        }
    }
    let mut state = run?;
    for section in rest {
        put(&mut state, section);
    }
    Some(state)
}

fn put(state: &mut MutableState, section: Section) {
    match section {
        Section::Run(fields) => {
            let mut previous = *fields;
            std::mem::swap(state, &mut previous);
            move_collections(previous, state);
        }
        Section::Memo(bytes) => state.memo = bytes,
        Section::SearchAttributes(bytes) => state.search_attributes = bytes,
        Section::BufferedEvent(position, event) => put_buffered(state, position, event),
        Section::StartInput(bytes) => state.start_input = bytes,
        Section::StartHeader(bytes) => state.start_header = bytes,
        Section::Updates(updates) => state.updates = updates,
        Section::ResetPoints(points) => state.reset_points = points,
        Section::Schedule(schedule) => state.schedule = Some(*schedule),
        Section::Activity(a) => put_item(&mut state.activities, *a, |a| a.scheduled_event_id),
        Section::Timer(t) => put_item(&mut state.timers, t, |t| t.started_event_id),
        Section::Child(c) => put_item(&mut state.children, c, |c| c.initiated_event_id),
        Section::ExternalRequest(r) => {
            put_item(&mut state.external_requests, r, |r| r.initiated_event_id)
        }
        Section::SignalRequest(id) => {
            if let Err(at) = state.signal_request_ids.binary_search(&id) {
                state.signal_request_ids.insert(at, id);
            }
        }
    }
}

fn remove(state: &mut MutableState, key: &SectionKey) {
    use SectionKind as K;
    match key {
        SectionKey::Single(kind) => match kind {
            K::Memo => state.memo.clear(),
            K::SearchAttributes => state.search_attributes.clear(),
            K::StartInput => state.start_input.clear(),
            K::StartHeader => state.start_header.clear(),
            K::Updates => state.updates.clear(),
            K::ResetPoints => state.reset_points.clear(),
            K::Schedule => state.schedule = None,
            // The run's own fields go only with the run; keyed kinds never come as Single.
            K::Run
            | K::BufferedEvent
            | K::Activity
            | K::Timer
            | K::Child
            | K::ExternalRequest
            | K::SignalRequest => {}
        },
        SectionKey::Item(kind, id) => match kind {
            K::Activity => remove_item(&mut state.activities, *id, |a| a.scheduled_event_id),
            K::Timer => remove_item(&mut state.timers, *id, |t| t.started_event_id),
            K::Child => remove_item(&mut state.children, *id, |c| c.initiated_event_id),
            K::ExternalRequest => {
                remove_item(&mut state.external_requests, *id, |r| r.initiated_event_id)
            }
            // Only the end of the buffer is ever removed: what is at and past the place goes.
            K::BufferedEvent => {
                let mut events = buffered(&state.buffered_events);
                events.truncate(usize::try_from(*id).unwrap_or(0));
                state.buffered_events = frames(&events);
            }
            _ => {}
        },
        SectionKey::SignalRequest(id) => {
            if let Ok(at) = state.signal_request_ids.binary_search(id) {
                state.signal_request_ids.remove(at);
            }
        }
    }
}

/// Puts a buffered event at its place: the end of the buffer, or over the event there.
fn put_buffered(state: &mut MutableState, position: i64, event: Vec<u8>) {
    let at = usize::try_from(position).unwrap_or(0);
    let mut events: Vec<Vec<u8>> = buffered(&state.buffered_events)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    if at == events.len() {
        prost::encoding::encode_varint(event.len() as u64, &mut state.buffered_events);
        state.buffered_events.extend_from_slice(&event);
        return;
    }
    if at < events.len() {
        events[at] = event;
    } else {
        events.resize(at, Vec::new());
        events.push(event);
    }
    state.buffered_events = frames(&events);
}

/// The events of a buffer of length-delimited events.
fn buffered(bytes: &[u8]) -> Vec<&[u8]> {
    let mut events = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let mut cursor = rest;
        let Ok(len) = prost::encoding::decode_varint(&mut cursor) else {
            break;
        };
        let len = usize::try_from(len).unwrap_or(usize::MAX).min(cursor.len());
        events.push(&cursor[..len]);
        rest = &cursor[len..];
    }
    events
}

fn frames<E: AsRef<[u8]>>(events: &[E]) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        prost::encoding::encode_varint(event.as_ref().len() as u64, &mut out);
        out.extend_from_slice(event.as_ref());
    }
    out
}

/// Buffered events change by being appended, all flushed at once, or (rarely) one taken out:
/// the events at the same place are compared, the rest put or removed.
fn diff_buffered(before: &[u8], after: &[u8], out: &mut Vec<Change>) {
    if before == after {
        return;
    }
    let (old, new) = (buffered(before), buffered(after));
    for (position, event) in new.iter().enumerate() {
        if old.get(position) != Some(event) {
            out.push(Change::Put(Section::BufferedEvent(
                position as i64,
                event.to_vec(),
            )));
        }
    }
    for position in new.len()..old.len() {
        out.push(Change::Remove(SectionKey::Item(
            SectionKind::BufferedEvent,
            position as i64,
        )));
    }
}

fn put_item<T>(items: &mut Vec<T>, item: T, key: impl Fn(&T) -> i64) {
    let id = key(&item);
    match items.binary_search_by_key(&id, &key) {
        Ok(at) => items[at] = item,
        Err(at) => items.insert(at, item),
    }
}

fn remove_item<T>(items: &mut Vec<T>, id: i64, key: impl Fn(&T) -> i64) {
    if let Ok(at) = items.binary_search_by_key(&id, key) {
        items.remove(at);
    }
}

fn diff_bytes(before: &[u8], after: &[u8], kind: SectionKind, out: &mut Vec<Change>) {
    if before == after {
        return;
    }
    out.push(if after.is_empty() {
        Change::Remove(SectionKey::Single(kind))
    } else {
        let bytes = after.to_vec();
        Change::Put(match kind {
            SectionKind::Memo => Section::Memo(bytes),
            SectionKind::SearchAttributes => Section::SearchAttributes(bytes),
            SectionKind::StartInput => Section::StartInput(bytes),
            _ => Section::StartHeader(bytes),
        })
    });
}

/// Items of both lists are in key order: a merge finds what was added, changed or removed.
fn diff_items<T: PartialEq>(
    before: &[T],
    after: &[T],
    key: impl Fn(&T) -> i64,
    section: impl Fn(&T) -> Section,
    kind: SectionKind,
    out: &mut Vec<Change>,
) {
    let (mut b, mut a) = (0, 0);
    while b < before.len() || a < after.len() {
        match (before.get(b), after.get(a)) {
            (Some(old), Some(new)) if key(old) == key(new) => {
                if old != new {
                    out.push(Change::Put(section(new)));
                }
                b += 1;
                a += 1;
            }
            (Some(old), Some(new)) if key(old) < key(new) => {
                out.push(Change::Remove(SectionKey::Item(kind, key(old))));
                b += 1;
            }
            (Some(old), None) => {
                out.push(Change::Remove(SectionKey::Item(kind, key(old))));
                b += 1;
            }
            (_, Some(new)) => {
                out.push(Change::Put(section(new)));
                a += 1;
            }
            (None, None) => unreachable!("the loop runs while either list has items"),
        }
    }
}

fn diff_signal_requests(before: &[String], after: &[String], out: &mut Vec<Change>) {
    if before == after {
        return;
    }
    let (mut b, mut a) = (0, 0);
    while b < before.len() || a < after.len() {
        match (before.get(b), after.get(a)) {
            (Some(old), Some(new)) if old == new => {
                b += 1;
                a += 1;
            }
            (Some(old), Some(new)) if old < new => {
                out.push(Change::Remove(SectionKey::SignalRequest(old.clone())));
                b += 1;
            }
            (Some(old), None) => {
                out.push(Change::Remove(SectionKey::SignalRequest(old.clone())));
                b += 1;
            }
            (_, Some(new)) => {
                out.push(Change::Put(Section::SignalRequest(new.clone())));
                a += 1;
            }
            (None, None) => unreachable!("the loop runs while either list has items"),
        }
    }
}

/// The run's own fields: a copy of the state with every collection and large value left
/// empty. The destructuring names every field, so a field added to [`MutableState`] must be
/// placed here, in the run's own fields or in a section of its own.
fn run_fields(state: &MutableState) -> MutableState {
    let MutableState {
        run,
        namespace,
        workflow_type,
        task_queue,
        status,
        start_time,
        execution_time,
        close_time,
        start_request_id,
        first_run_id,
        identity,
        execution_timeout,
        run_timeout,
        sticky_task_queue,
        sticky_schedule_to_start_timeout,
        workflow_task_timeout,
        execution_expiration,
        run_expiration,
        next_event_id,
        last_completed_started_event_id,
        workflow_task,
        activities: _,
        timers: _,
        buffered_events: _,
        cancel_requested,
        signal_request_ids: _,
        signal_count,
        memo: _,
        search_attributes: _,
        completion_event_id,
        history_size_bytes,
        attempt,
        retry_policy,
        cron_schedule,
        first_workflow_task_due,
        start_input: _,
        start_header: _,
        children: _,
        external_requests: _,
        parent,
        notify_parent,
        updates: _,
        update_count,
        schedule: _,
        scheduled_by,
        reset_points: _,
        root,
    } = state;
    MutableState {
        run: run.clone(),
        namespace: namespace.clone(),
        workflow_type: workflow_type.clone(),
        task_queue: task_queue.clone(),
        status: *status,
        start_time: *start_time,
        execution_time: *execution_time,
        close_time: *close_time,
        start_request_id: start_request_id.clone(),
        first_run_id: first_run_id.clone(),
        identity: identity.clone(),
        execution_timeout: *execution_timeout,
        run_timeout: *run_timeout,
        sticky_task_queue: sticky_task_queue.clone(),
        sticky_schedule_to_start_timeout: *sticky_schedule_to_start_timeout,
        workflow_task_timeout: *workflow_task_timeout,
        execution_expiration: *execution_expiration,
        run_expiration: *run_expiration,
        next_event_id: *next_event_id,
        last_completed_started_event_id: *last_completed_started_event_id,
        workflow_task: workflow_task.clone(),
        activities: Vec::new(),
        timers: Vec::new(),
        buffered_events: Vec::new(),
        cancel_requested: *cancel_requested,
        signal_request_ids: Vec::new(),
        signal_count: *signal_count,
        memo: Vec::new(),
        search_attributes: Vec::new(),
        completion_event_id: *completion_event_id,
        history_size_bytes: *history_size_bytes,
        attempt: *attempt,
        retry_policy: retry_policy.clone(),
        cron_schedule: cron_schedule.clone(),
        first_workflow_task_due: *first_workflow_task_due,
        start_input: Vec::new(),
        start_header: Vec::new(),
        children: Vec::new(),
        external_requests: Vec::new(),
        parent: parent.clone(),
        notify_parent: *notify_parent,
        updates: Vec::new(),
        update_count: *update_count,
        schedule: None,
        scheduled_by: scheduled_by.clone(),
        reset_points: Vec::new(),
        root: root.clone(),
    }
}

/// Moves every collection and large value of `from` into `into` (whose own are empty).
fn move_collections(from: MutableState, into: &mut MutableState) {
    into.activities = from.activities;
    into.timers = from.timers;
    into.buffered_events = from.buffered_events;
    into.signal_request_ids = from.signal_request_ids;
    into.memo = from.memo;
    into.search_attributes = from.search_attributes;
    into.start_input = from.start_input;
    into.start_header = from.start_header;
    into.children = from.children;
    into.external_requests = from.external_requests;
    into.updates = from.updates;
    into.schedule = from.schedule;
    into.reset_points = from.reset_points;
}
