//! History records of format 5 and earlier, which carried each run's whole mutable state.
//! They read as records of the current format whose transitions replace the run's state:
//! the `Run` section removed (every section with it), then every section of the state put.

use apache_avro::AvroSchema;
use cairn_engine::{MutableState, RunKey, sections};
use serde::{Deserialize, Serialize};

use super::{Claim, Event, StateChange};
use crate::codec::{Codec, DecodeError};

/// The record as format 5 wrote it. Avro resolves records by name, so the names are those
/// of the current format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.history")]
struct HistoryRecord {
    epoch: i64,
    writer: String,
    claim: Option<Claim>,
    transitions: Vec<Transition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.history")]
struct Transition {
    run: RunKey,
    events: Vec<Event>,
    state: MutableState,
    #[serde(default)]
    #[avro(default = "false")]
    deleted: bool,
}

/// Every released version of the whole-state format (`schemas/released/`).
const RELEASED: &[&str] = &[
    include_str!("../../../../schemas/released/history-record.v1.avsc"),
    include_str!("../../../../schemas/released/history-record.v2.avsc"),
    include_str!("../../../../schemas/released/history-record.v3.avsc"),
    include_str!("../../../../schemas/released/history-record.v4.avsc"),
    include_str!("../../../../schemas/released/history-record.v5.avsc"),
];

fn codec() -> &'static Codec<HistoryRecord> {
    static CODEC: std::sync::OnceLock<Codec<HistoryRecord>> = std::sync::OnceLock::new();
    CODEC.get_or_init(|| Codec::new("HistoryRecord", RELEASED))
}

pub(super) fn decode(bytes: &[u8]) -> Result<super::HistoryRecord, DecodeError> {
    let record = codec().decode(bytes)?;
    let mut transitions = Vec::with_capacity(record.transitions.len());
    for transition in record.transitions {
        transitions.push(super::Transition {
            changes: replacing(&transition.state)?,
            run: transition.run,
            events: transition.events,
            deleted: transition.deleted,
        });
    }
    Ok(super::HistoryRecord {
        epoch: record.epoch,
        writer: record.writer,
        claim: record.claim,
        transitions,
        fragment: None,
    })
}

/// Changes that replace whatever a run had with `state`.
fn replacing(state: &MutableState) -> Result<Vec<StateChange>, DecodeError> {
    let mut changes = vec![sections::Change::Remove(sections::SectionKey::Single(
        sections::SectionKind::Run,
    ))];
    changes.extend(
        sections::sections(state)
            .into_iter()
            .map(sections::Change::Put),
    );
    super::state_changes(&changes).map_err(|_| DecodeError::NotSingleObject)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::{run, started};
    use apache_avro::{Schema, types::Value};

    #[test]
    fn records_of_the_whole_state_format_read_as_changes_that_replace_the_state() {
        let run = run();
        let state = started();
        let record = HistoryRecord {
            epoch: 2,
            writer: "old-node".into(),
            claim: None,
            transitions: vec![Transition {
                run,
                events: vec![],
                state: state.clone(),
                deleted: false,
            }],
        };
        for (version, text) in RELEASED.iter().enumerate() {
            let schema = Schema::parse_str(text).unwrap();
            let value: Value = apache_avro::to_value(&record)
                .unwrap()
                .resolve(&schema)
                .unwrap();
            let mut bytes = Vec::new();
            apache_avro::GenericSingleObjectWriter::new_with_capacity(&schema, 1024)
                .unwrap()
                .write_value(value, &mut bytes)
                .unwrap();

            let read = super::super::HistoryRecord::decode(&bytes)
                .unwrap_or_else(|e| panic!("a v{} record reads: {e}", version + 1));
            assert_eq!(read.epoch, 2);
            assert_eq!(read.transitions.len(), 1);
            let changes = &read.transitions[0].changes;
            assert_eq!(changes[0].kind, sections::SectionKind::Run);
            assert_eq!(changes[0].value, None, "the old state goes first");
            let rebuilt = crate::history::sections::decode_changes(&changes[1..])
                .map(|changes| sections::apply(None, changes))
                .unwrap();
            assert_eq!(rebuilt, Some(state.clone()), "v{}", version + 1);
        }
    }
}
