//! The messages of the internal gRPC services, and their codec. Peers run the same build,
//! so the messages are the Rust types themselves, carried as JSON; a reply carries the
//! owner's error (an engine refusal stays an engine refusal on the caller's side).

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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddTasks {
    /// The matching partition every task belongs to, which the receiver must own.
    pub partition: PartitionId,
    pub tasks: Vec<TaskRef>,
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

/// Serde JSON as a tonic codec.
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
        serde_json::to_writer(buf.writer(), &item)
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
        serde_json::from_reader(buf.reader())
            .map(Some)
            .map_err(|error| Status::internal(format!("decoding an internal message: {error}")))
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
