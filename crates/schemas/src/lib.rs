//! The records on Cairn's Kafka topics, in Avro single-object encoding (marker, schema
//! fingerprint, body). The schemas in `schemas/*.avsc` at the repository root are the contract
//! for external consumers; tests here fail when the Rust types drift from them or when a
//! schema changes in a way that readers of an earlier version cannot read.

mod codec;
mod history;
mod metadata;

pub use codec::{DecodeError, EncodeError};
pub use history::{Claim, Event, HistoryRecord, Transition};
pub use metadata::{ClusterRecord, MetadataRecord, NamespaceRecord};
