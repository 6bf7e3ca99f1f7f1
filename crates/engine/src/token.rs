//! Task tokens: what a worker hands back to complete, fail or heartbeat a task. Opaque to
//! the worker; to the server they name the run, the scheduled event and the attempt, so a
//! late answer to an older attempt is refused.

use prost::Message;

use crate::{EngineError, RunKey};

#[derive(Clone, PartialEq, Message)]
pub struct TaskToken {
    #[prost(string, tag = "1")]
    pub namespace_id: String,
    #[prost(string, tag = "2")]
    pub workflow_id: String,
    #[prost(string, tag = "3")]
    pub run_id: String,
    #[prost(int64, tag = "4")]
    pub scheduled_event_id: i64,
    #[prost(int64, tag = "5")]
    pub started_event_id: i64,
    #[prost(int32, tag = "6")]
    pub attempt: i32,
    #[prost(bool, tag = "7")]
    pub activity: bool,
    #[prost(string, tag = "8")]
    pub activity_id: String,
    /// Set on query tasks instead of the fields above.
    #[prost(string, tag = "9")]
    pub query_id: String,
}

impl TaskToken {
    pub fn decode_from(bytes: &[u8]) -> Result<Self, EngineError> {
        if bytes.is_empty() {
            return Err(EngineError::InvalidArgument(
                "Task token not set on request.".into(),
            ));
        }
        Self::decode(bytes)
            .map_err(|_| EngineError::InvalidArgument("Error deserializing task token.".into()))
    }

    pub fn run(&self) -> RunKey {
        RunKey {
            namespace_id: self.namespace_id.clone(),
            workflow_id: self.workflow_id.clone(),
            run_id: self.run_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let token = TaskToken {
            workflow_id: "wf".into(),
            scheduled_event_id: 5,
            attempt: 2,
            ..Default::default()
        };
        assert_eq!(
            TaskToken::decode_from(&token.encode_to_vec()).unwrap(),
            token
        );
        assert!(TaskToken::decode_from(b"\xff\xff\xff").is_err());
        assert!(TaskToken::decode_from(b"").is_err());
    }
}
