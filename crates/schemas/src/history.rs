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

use crate::codec::{Codec, DecodeError, EncodeError};

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
    /// The run is deleted (DeleteWorkflowExecution): readers drop its state, its events and,
    /// if it is its workflow's current run, that pointer.
    #[serde(default)]
    #[avro(default = "false")]
    pub deleted: bool,
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
        codec().encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec().decode(bytes)
    }
}

/// Every released version of the history record (`schemas/released/`).
pub(crate) const RELEASED: &[&str] = &[
    include_str!("../../../schemas/released/history-record.v1.avsc"),
    include_str!("../../../schemas/released/history-record.v2.avsc"),
    include_str!("../../../schemas/released/history-record.v3.avsc"),
    include_str!("../../../schemas/released/history-record.v4.avsc"),
    include_str!("../../../schemas/released/history-record.v5.avsc"),
];

fn codec() -> &'static Codec<HistoryRecord> {
    static CODEC: std::sync::OnceLock<Codec<HistoryRecord>> = std::sync::OnceLock::new();
    CODEC.get_or_init(|| Codec::new("HistoryRecord", RELEASED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_record_matches_its_committed_schema_and_released_versions() {
        crate::codec::check_contract::<HistoryRecord>("history-record", RELEASED.len());
    }

    #[test]
    fn records_written_with_a_released_schema_read_as_the_current_type() {
        use apache_avro::{Schema, types::Value};
        use cairn_engine::proto::{
            common::WorkflowType, taskqueue::TaskQueue,
            workflowservice::StartWorkflowExecutionRequest,
        };

        let run = cairn_engine::RunKey {
            namespace_id: "ns".into(),
            workflow_id: "wf".into(),
            run_id: "r".into(),
        };
        let request = StartWorkflowExecutionRequest {
            workflow_type: Some(WorkflowType {
                name: "Greet".into(),
            }),
            task_queue: Some(TaskQueue {
                name: "q".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (state, _) = cairn_engine::start::start(run.clone(), "default", &request, 7);
        let record = HistoryRecord {
            epoch: 2,
            writer: "old-node".into(),
            claim: None,
            transitions: vec![Transition {
                run,
                events: vec![],
                state,
                deleted: false,
            }],
        };
        // What a node running release v1 wrote: the v1 schema's fields only.
        let v1 = Schema::parse_str(RELEASED[0]).unwrap();
        let value: Value = apache_avro::to_value(&record)
            .unwrap()
            .resolve(&v1)
            .unwrap();
        let mut bytes = Vec::new();
        apache_avro::GenericSingleObjectWriter::new_with_capacity(&v1, 1024)
            .unwrap()
            .write_value(value, &mut bytes)
            .unwrap();
        assert_ne!(
            bytes[2..10],
            record.encode().unwrap()[2..10],
            "v1 differs from the current schema"
        );

        let read = HistoryRecord::decode(&bytes).expect("a v1 record reads as the current type");
        assert_eq!(read, record, "fields added since v1 take their defaults");
        let mut unknown = bytes.clone();
        unknown[2] ^= 0xff;
        assert!(matches!(
            HistoryRecord::decode(&unknown),
            Err(DecodeError::UnknownSchema { .. })
        ));
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
