//! Key layout: `partition (u32 BE) | table (u8) | components`.
//!
//! ```text
//! section:    p | 1 | ns | wf | run | kind | key  -> one section of the run's mutable state
//!             (key: the item's event ID BE, a signal's request ID, or nothing)
//! event:      p | 2 | ns | wf | run | id BE  -> HistoryEvent (protobuf)
//! current:    p | 3 | ns | wf                -> run ID
//! checkpoint: p | 0                          -> next offset BE | epoch BE | store format (8)
//! row:        p | 4 | ns | wf | run          -> visibility row (see `visibility`)
//! index:      p | 5 | entry                  -> nothing
//! count:      p | 6 | count key              -> i64 BE
//! obligation: p | 7 | ns | wf | run | mark   -> nothing (see `obligations`)
//! task:       p | 8 | task key               -> nothing (see `tasks`)
//! held:       p | 9 | ns | wf | run | mark   -> task key
//! waiting:    p | 10 | queue key             -> i64 BE
//! deadline:   p | 11 | due | run | deadline  -> nothing (see `deadlines`)
//! timed:      p | 12 | ns | wf | run | mark  -> deadline keys
//! ```
//! Each string component is `len (u16 BE) | bytes`.

use cairn_engine::{PartitionId, RunKey, WorkflowKey, sections::SectionKind};

#[derive(Clone, Copy)]
#[repr(u8)]
pub enum Table {
    Checkpoint = 0,
    Run = 1,
    Event = 2,
    Current = 3,
    Row = 4,
    Index = 5,
    Count = 6,
    Obligation = 7,
    Task = 8,
    Held = 9,
    Waiting = 10,
    Deadline = 11,
    Timed = 12,
}

pub fn table_prefix(partition: PartitionId, table: Table) -> Vec<u8> {
    let mut key = Vec::with_capacity(64);
    key.extend_from_slice(&partition.to_be_bytes());
    key.push(table as u8);
    key
}

/// A Unix nanosecond as a u64 that sorts like the signed time.
pub fn ordered_time(nanos: i64) -> u64 {
    (nanos as u64) ^ (1 << 63)
}

/// The time [`ordered_time`] encoded.
pub fn time_of(ordered: u64) -> i64 {
    (ordered ^ (1 << 63)) as i64
}

/// Appends a length-prefixed string.
pub fn push_str(key: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len()).expect("identifiers are validated to be shorter than 64 KiB");
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(s.as_bytes());
}

pub fn checkpoint(partition: PartitionId) -> Vec<u8> {
    table_prefix(partition, Table::Checkpoint)
}

/// A table's key prefix for one run: `p | table | ns | wf | run`.
fn run_in(partition: PartitionId, table: Table, run: &RunKey) -> Vec<u8> {
    let mut key = table_prefix(partition, table);
    push_str(&mut key, &run.namespace_id);
    push_str(&mut key, &run.workflow_id);
    push_str(&mut key, &run.run_id);
    key
}

pub fn run(partition: PartitionId, run: &RunKey) -> Vec<u8> {
    run_in(partition, Table::Run, run)
}

/// The key of one section of a run's mutable state.
pub fn section(
    partition: PartitionId,
    run: &RunKey,
    kind: SectionKind,
    id: i64,
    name: &str,
) -> Vec<u8> {
    let mut key = self::run(partition, run);
    key.push(kind as u8);
    match kind {
        SectionKind::Activity
        | SectionKind::Timer
        | SectionKind::Child
        | SectionKind::ExternalRequest => {
            key.extend_from_slice(&id.to_be_bytes());
        }
        SectionKind::SignalRequest => key.extend_from_slice(name.as_bytes()),
        _ => {}
    }
    key
}

/// The key past every section of a run (kind bytes are all below 0xff).
pub fn run_end(partition: PartitionId, run: &RunKey) -> Vec<u8> {
    let mut key = self::run(partition, run);
    key.push(0xff);
    key
}

/// Splits a section key after its run: the length of the run's prefix, the section's kind
/// and the rest (its item key). `None` for a key of another shape.
pub fn split_section(key: &[u8]) -> Option<(usize, SectionKind, &[u8])> {
    let mut at = 5;
    for _ in 0..3 {
        let len = u16::from_be_bytes(key.get(at..at + 2)?.try_into().ok()?);
        at += 2 + usize::from(len);
    }
    let kind = SectionKind::from_u8(*key.get(at)?)?;
    Some((at, kind, &key[at + 1..]))
}

pub fn event(partition: PartitionId, run: &RunKey, event_id: i64) -> Vec<u8> {
    let mut key = run_in(partition, Table::Event, run);
    key.extend_from_slice(&event_id.to_be_bytes());
    key
}

pub fn current(partition: PartitionId, workflow: &WorkflowKey) -> Vec<u8> {
    let mut key = table_prefix(partition, Table::Current);
    push_str(&mut key, &workflow.namespace_id);
    push_str(&mut key, &workflow.workflow_id);
    key
}

pub fn row(partition: PartitionId, run: &RunKey) -> Vec<u8> {
    run_in(partition, Table::Row, run)
}

/// An entry of the visibility index, or the prefix of a range of them.
pub fn index_entry(partition: PartitionId, entry: &[u8]) -> Vec<u8> {
    let mut key = table_prefix(partition, Table::Index);
    key.extend_from_slice(entry);
    key
}

pub fn count(partition: PartitionId, count_key: &[u8]) -> Vec<u8> {
    let mut key = table_prefix(partition, Table::Count);
    key.extend_from_slice(count_key);
    key
}

/// A mark on a run in the obligations table.
pub fn obligation(partition: PartitionId, run: &RunKey, mark: &[u8]) -> Vec<u8> {
    let mut key = run_in(partition, Table::Obligation, run);
    key.extend_from_slice(mark);
    key
}

/// A task entry, or the prefix of a range of them.
pub fn task(partition: PartitionId, entry: &[u8]) -> Vec<u8> {
    let mut key = table_prefix(partition, Table::Task);
    key.extend_from_slice(entry);
    key
}

/// A run's mark on the task entry it holds.
pub fn held(partition: PartitionId, run: &RunKey, mark: &[u8]) -> Vec<u8> {
    let mut key = run_in(partition, Table::Held, run);
    key.extend_from_slice(mark);
    key
}

/// The count of a queue's waiting tasks.
pub fn waiting(partition: PartitionId, queue: &[u8]) -> Vec<u8> {
    let mut key = table_prefix(partition, Table::Waiting);
    key.extend_from_slice(queue);
    key
}

/// A deadline entry, or the prefix of a range of them.
pub fn deadline(partition: PartitionId, entry: &[u8]) -> Vec<u8> {
    let mut key = table_prefix(partition, Table::Deadline);
    key.extend_from_slice(entry);
    key
}

/// A run's mark on the deadlines one of its sections holds.
pub fn timed(partition: PartitionId, run: &RunKey, mark: &[u8]) -> Vec<u8> {
    let mut key = run_in(partition, Table::Timed, run);
    key.extend_from_slice(mark);
    key
}

/// The run named at the start of `bytes` (three length-prefixed strings); what follows is
/// ignored.
pub fn parse_run(bytes: &[u8]) -> Option<RunKey> {
    let mut at = 0;
    let mut parts = Vec::with_capacity(3);
    for _ in 0..3 {
        let len = usize::from(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
        parts.push(
            std::str::from_utf8(bytes.get(at + 2..at + 2 + len)?)
                .ok()?
                .to_string(),
        );
        at += 2 + len;
    }
    let run_id = parts.pop()?;
    let workflow_id = parts.pop()?;
    let namespace_id = parts.pop()?;
    Some(RunKey {
        namespace_id,
        workflow_id,
        run_id,
    })
}
