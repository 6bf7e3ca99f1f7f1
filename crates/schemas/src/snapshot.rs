//! Records of the snapshots topic (`cairn.snapshots`, one Kafka partition per history
//! partition): copies of a partition's state as of an offset of its history log, so that a
//! node with no state of its own loads the latest copy and replays only what follows it.
//!
//! A snapshot is a run of chunks sharing a `snapshot_id`; only a snapshot whose `last` chunk
//! was written counts. Each chunk names where its snapshot started (`first_offset`) and where
//! the previous complete snapshot ended (`previous_last_offset`), so a reader finds the
//! latest complete snapshot from the topic's last record, without reading it all.
//!
//! The entries are the partition's cache (runs, events, current runs) in the state store's
//! own layout, valid only for the `state_format` they were written in; a reader with another
//! format ignores the snapshot and replays the log.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};

use crate::codec::{Codec, DecodeError, EncodeError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.snapshot")]
pub struct SnapshotRecord {
    pub snapshot_id: String,
    pub partition: i32,
    /// The history-log offset the snapshot stands at: every record before it is in.
    pub as_of_offset: i64,
    /// The epoch of the latest valid claim before `as_of_offset`.
    pub epoch: i64,
    /// The mutable state's schema fingerprint the entries were written with.
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub state_format: Vec<u8>,
    /// This chunk's place in its snapshot, from 0.
    pub chunk: i32,
    /// True on the snapshot's last chunk: only then is the snapshot complete.
    pub last: bool,
    /// Offset in this topic of the snapshot's first chunk; -1 on the first chunk itself.
    pub first_offset: i64,
    /// Offset in this topic of the previous complete snapshot's last chunk; -1 when none.
    pub previous_last_offset: i64,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.snapshot")]
pub struct Entry {
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub key: Vec<u8>,
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub value: Vec<u8>,
}

impl SnapshotRecord {
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        codec().encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec().decode(bytes)
    }
}

/// Every released version of the snapshot record (`schemas/released/`).
const RELEASED: &[&str] = &[include_str!(
    "../../../schemas/released/snapshot-record.v1.avsc"
)];

fn codec() -> &'static Codec<SnapshotRecord> {
    static CODEC: std::sync::OnceLock<Codec<SnapshotRecord>> = std::sync::OnceLock::new();
    CODEC.get_or_init(|| Codec::new("SnapshotRecord", RELEASED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_record_matches_its_committed_schema() {
        crate::codec::check_contract::<SnapshotRecord>("snapshot-record", RELEASED.len());
    }

    #[test]
    fn snapshot_records_round_trip() {
        let record = SnapshotRecord {
            snapshot_id: "s".into(),
            partition: 3,
            as_of_offset: 42,
            epoch: 2,
            state_format: crate::state_format().to_vec(),
            chunk: 0,
            last: true,
            first_offset: -1,
            previous_last_offset: -1,
            entries: vec![Entry {
                key: vec![0, 1],
                value: vec![2, 3],
            }],
        };
        assert_eq!(
            SnapshotRecord::decode(&record.encode().unwrap()).unwrap(),
            record
        );
    }
}
