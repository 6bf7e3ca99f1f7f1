//! Visibility: what `ListWorkflowExecutions`, `CountWorkflowExecutions` and
//! `ScanWorkflowExecutions` read, kept per history partition as an index beside the state.
//!
//! - [`Row`]: a run's visibility fields, derived from the state sections a transition
//!   changes, never the mutable state itself.
//! - [`keys`]: a row's index entries, byte strings in the listing's order, grouped under
//!   prefixes a lookup names (status, type, task queue, workflow ID, custom attributes).
//! - [`plan`]: which prefixes a query reads; the filter is then evaluated on each row.
//! - [`page`]: one partition's page after a cursor, and the merge of every partition's
//!   pages into the listing's page and its next cursor.
//!
//! The store that holds rows and entries is `cairn-state`; the frontend fans a query out to
//! every partition and merges.

pub mod attributes;
pub mod keys;
pub mod page;
pub mod plan;
mod record;
mod row;

pub use page::{CountRequest, Counts, Cursor, Page, PageRequest};
pub use plan::Plan;
pub use record::{NAMESPACE_DIVISION, SCHEDULER_DIVISION, names_division};
pub use row::Row;
