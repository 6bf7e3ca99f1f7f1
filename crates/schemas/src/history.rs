//! Records of the history topic. Each Kafka partition of `cairn.history` is the log of one
//! history partition: ownership claims, and batches of run transitions written by the owner.
//!
//! ```text
//!  offset:   0         1          2          3         4          5
//!          Claim(1)  Trans(e1)  Trans(e1)  Claim(2)  Trans(e1)  Trans(e2)
//!                                                     ^ a zombie's write: ignored, epoch 1 < 2
//! ```
//! A record counts only if its epoch equals that of the latest claim before it.

use apache_avro::AvroSchema;
use cairn_engine::{MutableState, RunKey};
use serde::{Deserialize, Serialize};

use crate::codec::{self, DecodeError, EncodeError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.history")]
pub struct HistoryRecord {
    /// The epoch of the owner that wrote the record.
    pub epoch: i64,
    /// The node that wrote it (for operators; correctness uses only the epoch).
    pub writer: String,
    /// Set on an ownership claim: from here on only records of this epoch count.
    pub claim: Option<Claim>,
    /// The run transitions of one request, applied all or nothing.
    pub transitions: Vec<Transition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.history")]
pub struct Claim {
    /// Unix nanoseconds when the claim was written, by the claimant's clock.
    pub claimed_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.history")]
pub struct Transition {
    pub run: RunKey,
    /// Events appended to the run's history, in event-ID order.
    pub events: Vec<Event>,
    /// The run's mutable state after the transition.
    pub state: MutableState,
}

/// One history event. `data` is the `temporal.api.history.v1.HistoryEvent` protobuf exactly
/// as the SDKs read it; the other fields let consumers filter without decoding it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.history")]
pub struct Event {
    pub event_id: i64,
    /// Unix nanoseconds.
    pub event_time: i64,
    /// Temporal's event type name, e.g. `EVENT_TYPE_WORKFLOW_EXECUTION_STARTED`.
    pub event_type: String,
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub data: Vec<u8>,
}

impl HistoryRecord {
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        codec::encode(self, "HistoryRecord")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::decode(bytes, "HistoryRecord")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_record_matches_its_committed_schema_and_released_versions() {
        codec::check_contract::<HistoryRecord>("history-record");
    }

    #[test]
    fn records_round_trip_in_single_object_encoding() {
        let record = HistoryRecord {
            epoch: 3,
            writer: "node-a".into(),
            claim: Some(Claim { claimed_at: 42 }),
            transitions: vec![],
        };
        let bytes = record.encode().unwrap();
        assert_eq!(&bytes[..2], &[0xC3, 0x01], "single-object marker");
        assert_eq!(HistoryRecord::decode(&bytes).unwrap(), record);
        assert!(HistoryRecord::decode(&bytes[..5]).is_err());
    }
}
