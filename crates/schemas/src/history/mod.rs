//! Records of the history topic. Each Kafka partition of `cairn.history` is the log of one
//! history partition: ownership claims, and batches of run transitions written by the owner.
//!
//! ```text
//!  offset:   0         1          2          3         4          5
//!          Claim(1)  Trans(e1)  Trans(e1)  Claim(2)  Trans(e1)  Trans(e2)
//!                                                     ^ a zombie's write: ignored, epoch 1 < 2
//! ```
//! A record counts only if its epoch equals that of the latest claim before it.
//!
//! A transition carries the run's new events and the changes to its mutable state, section by
//! section ([`cairn_engine::sections`]), never the whole state, so a record's size follows
//! the change. A record larger than the topic takes is written as consecutive fragments of
//! its encoding: readers put them together and apply the record only once its last fragment
//! is read under the same epoch, so it applies whole or not at all.
//!
//! Records of format 5 and earlier carried each run's whole state; they still read, as
//! transitions whose changes replace the state.

mod legacy;
mod sections;

use apache_avro::AvroSchema;
use cairn_engine::{RunKey, sections::SectionKind};
use serde::{Deserialize, Serialize};

use crate::codec::{Codec, DecodeError, EncodeError};
pub(crate) use sections::state_format;
pub use sections::{decode_changes, decode_section, encode_change, encode_section, state_changes};

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
    /// Set on a part of a record too large for one Kafka record: the record is the
    /// concatenation of the `data` of fragments 0 to `count - 1`, written consecutively.
    pub fragment: Option<Fragment>,
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
    /// Changes to the run's mutable state, applied in order. A run's first transition puts
    /// every section it has.
    pub changes: Vec<StateChange>,
    /// The run is deleted (DeleteWorkflowExecution): readers drop its state, its events and,
    /// if it is its workflow's current run, that pointer.
    pub deleted: bool,
}

/// A change to one section of a run's mutable state. The section is named by its kind and,
/// for keyed kinds, `id` (the event ID that created an activity, timer, child or request to
/// another workflow) or `name` (a signal's request ID). `value` is the section's new value,
/// or nothing when the section is removed; removing the `Run` section removes every section
/// of the run. Values are Cairn's internal state format: Avro single-object encodings (of
/// the run's own fields, an activity, a timer...) that carry their schema's fingerprint, or
/// Temporal's protobuf bytes for the memo, search attributes, buffered events and the
/// start's input and header. Consumers that follow workflows read `events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.history")]
pub struct StateChange {
    pub kind: SectionKind,
    pub id: i64,
    pub name: String,
    #[serde(with = "apache_avro::serde::bytes_opt")]
    #[avro(with)]
    pub value: Option<Vec<u8>>,
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

/// A part of a record's encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.history")]
pub struct Fragment {
    /// From 0.
    pub index: i32,
    pub count: i32,
    #[serde(with = "apache_avro::serde::bytes")]
    #[avro(with)]
    pub data: Vec<u8>,
}

impl HistoryRecord {
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        codec().encode(self)
    }

    /// Decodes a record of the current format, or of format 5 and earlier.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        match codec().decode(bytes) {
            Err(DecodeError::UnknownSchema { .. }) => legacy::decode(bytes),
            decoded => decoded,
        }
    }

    /// Encodes the record as one Kafka record, or as fragments of at most about
    /// `max_bytes` each when it is larger.
    pub fn encode_within(&self, max_bytes: usize) -> Result<Vec<Vec<u8>>, EncodeError> {
        let whole = self.encode()?;
        if whole.len() <= max_bytes {
            return Ok(vec![whole]);
        }
        // Room for the fragment's own fields.
        let chunk = max_bytes
            .saturating_sub(self.writer.len() + FRAGMENT_OVERHEAD)
            .max(1);
        let count = whole.len().div_ceil(chunk);
        let count_i32 = i32::try_from(count).expect("a record has fewer than 2^31 fragments");
        let mut out = Vec::with_capacity(count);
        for (index, data) in whole.chunks(chunk).enumerate() {
            let fragment = HistoryRecord {
                epoch: self.epoch,
                writer: self.writer.clone(),
                claim: None,
                transitions: Vec::new(),
                fragment: Some(Fragment {
                    index: i32::try_from(index).expect("counted above"),
                    count: count_i32,
                    data: data.to_vec(),
                }),
            };
            out.push(fragment.encode()?);
        }
        Ok(out)
    }
}

/// What a fragment's fields other than its data and writer take, at most: the header,
/// epoch, empty claim and transitions, index, count and lengths.
const FRAGMENT_OVERHEAD: usize = 64;

/// Puts fragmented records back together, in log order.
#[derive(Debug, Default)]
pub struct Assembler {
    /// The epoch and data of the fragments read so far of the record being assembled.
    partial: Option<(i64, i32, Vec<u8>)>,
}

impl Assembler {
    /// Takes the next record of the log. Answers the record to apply: a whole one as it is,
    /// a fragmented one when its last fragment arrives, nothing for the fragments before.
    /// A fragment out of sequence (a writer that stopped mid-way, or another epoch) drops
    /// what was assembled: such a record never applies.
    pub fn push(&mut self, record: HistoryRecord) -> Result<Option<HistoryRecord>, DecodeError> {
        let assembling = self.partial.as_ref().map(|(epoch, _, _)| *epoch);
        let Some(fragment) = &record.fragment else {
            // Only a writer of an older epoch (whose records never count) can write between
            // the fragments of one record; anything else ends the record unfinished.
            if record.claim.is_some() || assembling.is_some_and(|epoch| record.epoch >= epoch) {
                self.partial = None;
            }
            return Ok(Some(record));
        };
        if assembling.is_some_and(|epoch| record.epoch < epoch) {
            return Ok(None);
        }
        let continues = matches!(
            &self.partial,
            Some((epoch, next, _)) if *epoch == record.epoch && *next == fragment.index
        );
        if fragment.index == 0 {
            self.partial = Some((record.epoch, 0, Vec::new()));
        } else if !continues {
            self.partial = None;
            return Ok(None);
        }
        let (_, next, data) = self.partial.as_mut().expect("set above");
        data.extend_from_slice(&fragment.data);
        *next += 1;
        if *next < fragment.count {
            return Ok(None);
        }
        let (_, _, data) = self.partial.take().expect("set above");
        let whole = HistoryRecord::decode(&data)?;
        if whole.epoch != record.epoch || whole.fragment.is_some() {
            return Err(DecodeError::NotSingleObject);
        }
        Ok(Some(whole))
    }
}

/// Every released version of the history record in this format (`schemas/released/`).
/// Versions 1 to 5 carried whole states: see [`legacy`].
pub(crate) const RELEASED: &[&str] = &[include_str!(
    "../../../../schemas/released/history-record.v6.avsc"
)];

/// The first version of the current format.
#[cfg(test)]
pub(crate) const FIRST_VERSION: usize = 6;

fn codec() -> &'static Codec<HistoryRecord> {
    static CODEC: std::sync::OnceLock<Codec<HistoryRecord>> = std::sync::OnceLock::new();
    CODEC.get_or_init(|| Codec::new("HistoryRecord", RELEASED))
}

#[cfg(test)]
mod tests;
