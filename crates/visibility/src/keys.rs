//! The index entries of a row, as byte strings whose order is the listing's order.
//!
//! ```text
//! entry:    ns | division | kind | components | status | order key
//! order:    close time DESC (open runs first) | start time DESC | run ID | workflow ID
//! kinds:    1 status     (no components; the status is the status byte)
//!           2 type       lp(workflow type)
//!           3 queue      lp(task queue)
//!           4 id         lp(workflow ID)            (no status byte)
//!           5 attribute  lp(name) | value           (a custom attribute's value)
//! value:    's' lp(string) | 'i' i64 | 't' i64 (RFC 3339 text, as unix nanoseconds)
//! ```
//! `lp` is a 4-byte big-endian length and the bytes; integers are big-endian with the sign
//! bit flipped, so they sort as numbers, and inverted where the order is descending. The
//! order key is Temporal's default listing order, so scanning a prefix lists its runs in that
//! order, and one order key (the last row a page returned) resumes every prefix.

use cairn_query::Value;

use crate::Row;

/// Sets Temporal's own workflows (the runs holding schedules) apart from the namespace's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum Division {
    Workflows = 0,
    Schedulers = 1,
}

impl Division {
    pub fn of(row: &Row) -> Self {
        if row.scheduler {
            Self::Schedulers
        } else {
            Self::Workflows
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Status = 1,
    Type = 2,
    Queue = 3,
    WorkflowId = 4,
    Attribute = 5,
}

pub(crate) fn push_lp(key: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("indexed values are far below 4 GiB");
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(bytes);
}

fn ascending(value: i64) -> [u8; 8] {
    ((value as u64) ^ (1 << 63)).to_be_bytes()
}

/// An integer as bytes that sort in its descending order (as order keys hold times).
pub fn descending(value: i64) -> [u8; 8] {
    (!((value as u64) ^ (1 << 63))).to_be_bytes()
}

/// The row's place in the default listing order.
pub fn order_key(row: &Row) -> Vec<u8> {
    let mut key = Vec::with_capacity(32 + row.run_id.len() + row.workflow_id.len());
    key.extend_from_slice(&descending(row.close_time.unwrap_or(i64::MAX)));
    key.extend_from_slice(&descending(row.start_time));
    push_lp(&mut key, row.run_id.as_bytes());
    push_lp(&mut key, row.workflow_id.as_bytes());
    key
}

/// The workflow and run IDs at the end of an order key.
pub fn run_of_order_key(key: &[u8]) -> Option<(&str, &str)> {
    let rest = key.get(16..)?;
    let (run_id, rest) = take_lp(rest)?;
    let (workflow_id, rest) = take_lp(rest)?;
    rest.is_empty().then_some(())?;
    Some((
        std::str::from_utf8(workflow_id).ok()?,
        std::str::from_utf8(run_id).ok()?,
    ))
}

fn take_lp(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let value = bytes.get(4..4 + len)?;
    Some((value, &bytes[4 + len..]))
}

/// The start of every entry of a kind in a namespace's division.
pub fn kind_prefix(namespace_id: &str, division: Division, kind: Kind) -> Vec<u8> {
    let mut key = Vec::with_capacity(64);
    push_lp(&mut key, namespace_id.as_bytes());
    key.push(division as u8);
    key.push(kind as u8);
    key
}

/// A custom attribute's value as entries and lookups encode it; `None` for values the
/// index does not hold (doubles, booleans, lists).
pub fn encode_value(value: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match value {
        Value::String(text) => {
            out.push(b's');
            push_lp(&mut out, text.as_bytes());
        }
        Value::Int(number) => {
            out.push(b'i');
            out.extend_from_slice(&ascending(*number));
        }
        Value::Time(nanos) => {
            out.push(b't');
            out.extend_from_slice(&ascending(*nanos));
        }
        _ => return None,
    }
    Some(out)
}

/// Every index entry of a row: a prefix a lookup names, then the row's order key.
pub fn entries(row: &Row) -> Vec<Vec<u8>> {
    let division = Division::of(row);
    let ns = row.namespace_id.as_str();
    let status = status_byte(row.status);
    let order = order_key(row);
    let mut prefixes = Vec::new();
    let mut status_prefix = kind_prefix(ns, division, Kind::Status);
    status_prefix.push(status);
    prefixes.push(status_prefix);
    for (kind, text) in [
        (Kind::Type, &row.workflow_type),
        (Kind::Queue, &row.task_queue),
    ] {
        let mut key = kind_prefix(ns, division, kind);
        push_lp(&mut key, text.as_bytes());
        key.push(status);
        prefixes.push(key);
    }
    let mut id = kind_prefix(ns, division, Kind::WorkflowId);
    push_lp(&mut id, row.workflow_id.as_bytes());
    prefixes.push(id);
    for (name, value) in attribute_values(&row.search_attributes) {
        let mut key = kind_prefix(ns, division, Kind::Attribute);
        push_lp(&mut key, name.as_bytes());
        key.extend_from_slice(&value);
        key.push(status);
        prefixes.push(key);
    }
    prefixes.sort();
    prefixes.dedup();
    for prefix in &mut prefixes {
        prefix.extend_from_slice(&order);
    }
    prefixes
}

/// Whether two rows of a run have the same entries: they differ only in fields no entry
/// holds (history length and size, memo, parent...). Most transitions change only those.
pub fn same_entries(a: &Row, b: &Row) -> bool {
    a.namespace_id == b.namespace_id
        && a.workflow_id == b.workflow_id
        && a.run_id == b.run_id
        && a.status == b.status
        && a.start_time == b.start_time
        && a.close_time == b.close_time
        && a.workflow_type == b.workflow_type
        && a.task_queue == b.task_queue
        && a.scheduler == b.scheduler
        && a.search_attributes == b.search_attributes
}

/// A status as the one byte entries hold.
pub fn status_byte(status: i32) -> u8 {
    u8::try_from(status).unwrap_or(0)
}

/// Each custom attribute's indexable values, encoded: every string (also as a time when it
/// reads as RFC 3339) and every integer, of the value or of its list's items. Whatever the
/// attribute's registered type, a value that query would match on equality is among these.
fn attribute_values(encoded: &[u8]) -> Vec<(String, Vec<u8>)> {
    use prost::Message;
    use temporalio_protos::protos::temporal::api::common::v1::SearchAttributes;
    let Ok(attributes) = SearchAttributes::decode(encoded) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, payload) in attributes.indexed_fields {
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&payload.data) else {
            continue;
        };
        let items = match json {
            serde_json::Value::Array(items) => items,
            single => vec![single],
        };
        for item in items {
            let values = match &item {
                serde_json::Value::String(text) => {
                    let mut values = vec![Value::String(text.clone())];
                    if let Ok(nanos) = cairn_query::parse_rfc3339(text) {
                        values.push(Value::Time(nanos));
                    }
                    values
                }
                serde_json::Value::Number(number) => {
                    number.as_i64().map(Value::Int).into_iter().collect()
                }
                _ => Vec::new(),
            };
            for value in values {
                if let Some(encoded) = encode_value(&value) {
                    out.push((name.clone(), encoded));
                }
            }
        }
    }
    out
}

/// The key of a namespace's count of runs in one division and status.
pub fn count_key(namespace_id: &str, division: Division, status: u8) -> Vec<u8> {
    let mut key = Vec::with_capacity(32);
    push_lp(&mut key, namespace_id.as_bytes());
    key.push(division as u8);
    key.push(status);
    key
}

/// Splits a count key into its namespace, division and status.
pub fn parse_count_key(key: &[u8]) -> Option<(&str, u8, u8)> {
    let (ns, rest) = take_lp(key)?;
    match rest {
        [division, status] => Some((std::str::from_utf8(ns).ok()?, *division, *status)),
        _ => None,
    }
}
