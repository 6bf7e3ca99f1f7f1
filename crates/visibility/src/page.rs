//! A page of a listing: what a partition is asked, what it answers, and how the answers of
//! every partition merge into one page and a cursor for the next.
//!
//! Rows are ordered by the query's `ORDER BY` keys, then by the default listing order (see
//! [`crate::keys::order_key`]), which is total. A cursor is where the last row returned sits
//! in that order, so the next page is every row after it: a run that did not change keeps
//! its place, and is neither skipped nor repeated however the runs around it change.

use std::{cmp::Ordering, collections::BTreeMap};

use cairn_query::{Field, Query, Record, Value};
use serde::{Deserialize, Serialize};

use crate::{Row, keys::Division, keys::order_key};

/// One partition's part of a page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageRequest {
    pub namespace_id: String,
    pub query: Query,
    pub divisions: Vec<Division>,
    /// Only rows after this one.
    pub after: Option<Cursor>,
    /// At most this many rows.
    pub limit: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Page {
    /// The first matching rows after the cursor, in order.
    pub rows: Vec<Row>,
    /// The partition stopped at the limit: more rows may follow.
    pub more: bool,
}

/// Where a listing stopped: the `ORDER BY` values and the order key of the last row returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub values: Vec<Value>,
    pub order_key: Vec<u8>,
}

/// The form of a page token, so a token from another listing or version is refused rather
/// than misread.
const TOKEN_VERSION: u8 = 1;

impl Cursor {
    pub fn at(query: &Query, row: &Row) -> Self {
        Self {
            values: query.order_by.iter().map(|o| row.field(&o.field)).collect(),
            order_key: order_key(row),
        }
    }

    pub fn to_token(&self) -> Vec<u8> {
        let mut token = vec![TOKEN_VERSION];
        token.extend(serde_json::to_vec(self).expect("cursors serialize"));
        token
    }

    /// The cursor of a page token; `None` when the bytes are not one.
    pub fn from_token(token: &[u8], query: &Query) -> Option<Self> {
        let (&version, json) = token.split_first()?;
        if version != TOKEN_VERSION {
            return None;
        }
        let cursor: Self = serde_json::from_slice(json).ok()?;
        (cursor.values.len() == query.order_by.len()).then_some(cursor)
    }
}

/// A cursor read as a record: its `ORDER BY` values.
struct CursorRecord<'a> {
    query: &'a Query,
    cursor: &'a Cursor,
}

impl Record for CursorRecord<'_> {
    fn field(&self, field: &Field) -> Value {
        self.query
            .order_by
            .iter()
            .position(|o| &o.field == field)
            .and_then(|i| self.cursor.values.get(i).cloned())
            .unwrap_or(Value::Null)
    }
}

/// Orders two rows as the listing does.
pub fn compare(query: &Query, a: &Row, b: &Row) -> Ordering {
    query
        .compare(a, b)
        .then_with(|| order_key(a).cmp(&order_key(b)))
}

/// Whether a row comes after the cursor in the listing.
pub fn is_after(query: &Query, row: &Row, cursor: &Cursor) -> bool {
    let by_values = query.compare(row, &CursorRecord { query, cursor });
    by_values
        .then_with(|| order_key(row).cmp(&cursor.order_key))
        .is_gt()
}

/// Merges every partition's page into the listing's page of at most `limit` rows, and the
/// cursor after it when more rows follow.
pub fn merge(query: &Query, pages: Vec<Page>, limit: usize) -> (Vec<Row>, Option<Cursor>) {
    let more = pages.iter().any(|p| p.more);
    let mut rows: Vec<Row> = pages.into_iter().flat_map(|p| p.rows).collect();
    rows.sort_by(|a, b| compare(query, a, b));
    let cut = rows.len() > limit;
    rows.truncate(limit);
    let next = (cut || more)
        .then(|| rows.last().map(|row| Cursor::at(query, row)))
        .flatten();
    (rows, next)
}

/// What a partition is asked to count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CountRequest {
    pub namespace_id: String,
    pub query: Query,
    pub divisions: Vec<Division>,
}

/// The runs a query matches, in all and by status (proto numbers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub total: i64,
    pub by_status: BTreeMap<i32, i64>,
}

impl Counts {
    pub fn add(&mut self, status: i32, count: i64) {
        if count != 0 {
            self.total += count;
            *self.by_status.entry(status).or_default() += count;
        }
    }

    pub fn merge(&mut self, other: Counts) {
        for (status, count) in other.by_status {
            self.add(status, count);
        }
    }
}
