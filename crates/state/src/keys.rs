//! Key layout: `partition (u32 BE) | table (u8) | components`.
//!
//! ```text
//! run:        p | 1 | ns | wf | run          -> MutableState (Avro)
//! event:      p | 2 | ns | wf | run | id BE  -> HistoryEvent (protobuf)
//! current:    p | 3 | ns | wf                -> run ID
//! checkpoint: p | 0                          -> next offset BE | epoch BE | state format (8)
//! ```
//! Each string component is `len (u16 BE) | bytes`.

use cairn_engine::{PartitionId, RunKey, WorkflowKey};

#[derive(Clone, Copy)]
#[repr(u8)]
pub enum Table {
    Checkpoint = 0,
    Run = 1,
    Event = 2,
    Current = 3,
}

pub fn table_prefix(partition: PartitionId, table: Table) -> Vec<u8> {
    let mut key = Vec::with_capacity(64);
    key.extend_from_slice(&partition.to_be_bytes());
    key.push(table as u8);
    key
}

fn push_str(key: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len()).expect("identifiers are validated to be shorter than 64 KiB");
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(s.as_bytes());
}

pub fn checkpoint(partition: PartitionId) -> Vec<u8> {
    table_prefix(partition, Table::Checkpoint)
}

pub fn run(partition: PartitionId, run: &RunKey) -> Vec<u8> {
    let mut key = table_prefix(partition, Table::Run);
    push_str(&mut key, &run.namespace_id);
    push_str(&mut key, &run.workflow_id);
    push_str(&mut key, &run.run_id);
    key
}

pub fn event(partition: PartitionId, run: &RunKey, event_id: i64) -> Vec<u8> {
    let mut key = table_prefix(partition, Table::Event);
    push_str(&mut key, &run.namespace_id);
    push_str(&mut key, &run.workflow_id);
    push_str(&mut key, &run.run_id);
    key.extend_from_slice(&event_id.to_be_bytes());
    key
}

pub fn current(partition: PartitionId, workflow: &WorkflowKey) -> Vec<u8> {
    let mut key = table_prefix(partition, Table::Current);
    push_str(&mut key, &workflow.namespace_id);
    push_str(&mut key, &workflow.workflow_id);
    key
}
