//! The records on Cairn's Kafka topics, in Avro single-object encoding (marker, schema
//! fingerprint, body). The schemas in `schemas/*.avsc` at the repository root are the contract
//! for external consumers; tests here fail when the Rust types drift from them or when a
//! schema changes in a way that readers of an earlier version cannot read.

mod codec;
mod history;
mod metadata;
mod snapshot;

pub use codec::{DecodeError, EncodeError};
pub use history::{
    Assembler, Claim, Event, Fragment, HistoryRecord, StateChange, Transition, decode_changes,
    decode_section, encode_change, encode_section, state_changes,
};
pub use metadata::{ClusterRecord, MetadataRecord, NamespaceRecord, NodeRecord, OwnerRecord};
pub use snapshot::{Entry, SnapshotRecord};

/// Encodes a run's own fields (the `Run` section of its state). The node's store is rebuilt
/// from Kafka, so it knows only the current schema.
pub fn encode_state(state: &cairn_engine::MutableState) -> Result<Vec<u8>, EncodeError> {
    state_codec().encode(state)
}

pub fn decode_state(bytes: &[u8]) -> Result<cairn_engine::MutableState, DecodeError> {
    state_codec().decode(bytes)
}

/// The fingerprint of the internal state format (every section's schema and how the state
/// splits into sections): a store or snapshot written in another format must be rebuilt.
pub fn state_format() -> [u8; 8] {
    history::state_format()
}

fn state_codec() -> &'static codec::Codec<cairn_engine::MutableState> {
    static CODEC: std::sync::OnceLock<codec::Codec<cairn_engine::MutableState>> =
        std::sync::OnceLock::new();
    CODEC.get_or_init(|| codec::Codec::new("MutableState", &[]))
}
