//! The messages of the internal gRPC services, and their codec: the Rust types themselves,
//! carried as JSON in an envelope that names the protocol they were written in. A reply
//! carries the owner's error (an engine refusal stays an engine refusal on the caller's
//! side).
//!
//! Two builds run side by side during a rolling upgrade, so a message must stay readable
//! by the previous protocol and a node must read the previous protocol's messages: fields
//! are only added, each with a default (`#[serde(default)]`), and readers ignore fields they
//! do not know. A change that cannot follow that rule raises [`OLDEST_READER`], and nodes
//! refuse messages of a protocol they cannot read with a clear error instead of misreading
//! them. `tests/wire_compatibility.rs` holds the messages of each released protocol and
//! checks both directions.

use std::marker::PhantomData;

use bytes::{Buf, BufMut};
use cairn_engine::{EngineError, PartitionId, TaskRef};
use cairn_history::{HistoryError, QueryTask};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
};

pub use cairn_engine::{RunKey, transfer::Transfer};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordStarted {
    pub task: TaskRef,
    pub request_id: String,
    pub identity: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventsRequest {
    pub run: RunKey,
    pub from: i64,
    pub to: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Partition(pub PartitionId);

/// A partition's part of a listing page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VisibilityPage {
    pub partition: PartitionId,
    pub request: cairn_visibility::PageRequest,
}

/// A partition's counts of a query's matches.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VisibilityCount {
    pub partition: PartitionId,
    pub request: cairn_visibility::CountRequest,
}

/// How many tasks of a queue wait in a history partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WaitingTasks {
    pub partition: PartitionId,
    pub namespace_id: String,
    pub task_queue: String,
    pub kind: cairn_engine::TaskKind,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddTasks {
    /// The matching partition every task belongs to, which the receiver must own.
    pub partition: PartitionId,
    pub tasks: Vec<TaskRef>,
    /// Tasks handed earlier that no longer wait: dropped before `tasks` are added. (Added
    /// in protocol 1 with a default: an older node ignores it and keeps stale copies, which
    /// history refuses when they are polled.)
    #[serde(default)]
    pub withdrawn: Vec<TaskRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddQuery {
    pub partition: PartitionId,
    pub namespace_id: String,
    pub task_queue: String,
    pub task: QueryTask,
}

/// An owner's answer: the value, or why it refused.
pub type Reply<T> = Result<T, WireError>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum WireError {
    #[error(transparent)]
    Engine(EngineError),
    #[error("partition {partition} is not owned by this node")]
    NotOwner { partition: PartitionId },
    #[error("partition {partition} is unavailable")]
    Unavailable { partition: PartitionId },
    #[error("{message}")]
    Failed {
        partition: PartitionId,
        message: String,
    },
}

impl WireError {
    pub fn from_history(error: HistoryError, partition: PartitionId) -> Self {
        match error {
            HistoryError::Engine(engine) => Self::Engine(engine),
            HistoryError::NotOwner { partition } => Self::NotOwner { partition },
            HistoryError::Unavailable { partition } | HistoryError::Fenced { partition } => {
                Self::Unavailable { partition }
            }
            other => Self::Failed {
                partition,
                message: cairn_runtime::report(&other).to_string(),
            },
        }
    }

    pub fn into_history(self) -> HistoryError {
        match self {
            Self::Engine(engine) => HistoryError::Engine(engine),
            Self::NotOwner { partition } => HistoryError::NotOwner { partition },
            Self::Unavailable { partition } => HistoryError::Unavailable { partition },
            Self::Failed { partition, message } => HistoryError::Peer { partition, message },
        }
    }
}

/// The protocol this build writes.
pub const PROTOCOL: u32 = 1;
/// The oldest protocol whose nodes can read what this build writes; this build reads
/// messages of that protocol and newer ones that say this build can read them.
pub const OLDEST_READER: u32 = 1;

/// A message as it travels: the protocol it was written in, the oldest protocol that can
/// read it, and the message.
#[derive(Serialize)]
struct Outgoing<'a, T> {
    protocol: u32,
    oldest_reader: u32,
    message: &'a T,
}

#[derive(Deserialize)]
struct Incoming<U> {
    protocol: u32,
    oldest_reader: u32,
    message: U,
}

/// Whether this build can read a message written in `protocol` for readers from
/// `oldest_reader` on.
pub fn readable(protocol: u32, oldest_reader: u32) -> Result<(), Status> {
    if oldest_reader > PROTOCOL || protocol < OLDEST_READER {
        return Err(Status::failed_precondition(format!(
            "a peer wrote an internal message in protocol {protocol} (readable from protocol \
             {oldest_reader}); this node speaks protocol {PROTOCOL} and reads from protocol \
             {OLDEST_READER}: upgrade every node to builds one protocol apart at most"
        )));
    }
    Ok(())
}

/// Writes `message` as this build sends it.
pub fn encode<T: Serialize>(message: &T) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Outgoing {
        protocol: PROTOCOL,
        oldest_reader: OLDEST_READER,
        message,
    })
}

/// Reads a message a peer sent, refusing one of a protocol this build cannot read.
pub fn decode<U: DeserializeOwned>(bytes: &[u8]) -> Result<U, Status> {
    #[derive(Deserialize)]
    struct Header {
        protocol: u32,
        oldest_reader: u32,
    }
    match serde_json::from_slice::<Incoming<U>>(bytes) {
        Ok(incoming) => {
            readable(incoming.protocol, incoming.oldest_reader)?;
            Ok(incoming.message)
        }
        Err(error) => {
            // A message this build cannot read says so by its protocol, when it has one.
            if let Ok(header) = serde_json::from_slice::<Header>(bytes) {
                readable(header.protocol, header.oldest_reader)?;
            }
            Err(Status::internal(format!(
                "decoding an internal message: {error}"
            )))
        }
    }
}

/// The envelope of [`encode`] and [`decode`] as a tonic codec.
pub struct JsonCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for JsonCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for JsonCodec<T, U>
where
    T: Serialize + Send + 'static,
    U: DeserializeOwned + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = JsonEncoder<T>;
    type Decoder = JsonDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        JsonEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        JsonDecoder(PhantomData)
    }
}

pub struct JsonEncoder<T>(PhantomData<T>);

impl<T: Serialize> Encoder for JsonEncoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: T, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        let outgoing = Outgoing {
            protocol: PROTOCOL,
            oldest_reader: OLDEST_READER,
            message: &item,
        };
        serde_json::to_writer(buf.writer(), &outgoing)
            .map_err(|error| Status::internal(format!("encoding an internal message: {error}")))
    }
}

pub struct JsonDecoder<U>(PhantomData<U>);

impl<U: DeserializeOwned> Decoder for JsonDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        if !buf.has_remaining() {
            return Ok(None);
        }
        let bytes = buf.copy_to_bytes(buf.remaining());
        decode(&bytes).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_refusal_survives_the_wire_as_the_same_error() {
        let refusal = WireError::from_history(
            HistoryError::Engine(EngineError::NotFound("Workflow task not found.".into())),
            3,
        );
        let json = serde_json::to_vec(&Reply::<()>::Err(refusal)).unwrap();
        let back: Reply<()> = serde_json::from_slice(&json).unwrap();
        match back.unwrap_err().into_history() {
            HistoryError::Engine(EngineError::NotFound(message)) => {
                assert_eq!(message, "Workflow task not found.");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
