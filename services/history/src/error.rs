use cairn_engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("history partition {partition} is not owned by this node")]
    NotOwner { partition: u32 },
    #[error("history partition {partition} lost its ownership while the request was in flight")]
    Fenced { partition: u32 },
    #[error("history partition {partition} is unavailable")]
    Unavailable { partition: u32 },
    #[error(
        "history partition {partition} lost records {expected}..{found} before this node read \
         them (broker retention or size limit); its state cannot be rebuilt from the log"
    )]
    LogTruncated {
        partition: u32,
        expected: i64,
        found: i64,
    },
    #[error("snapshot of partition {partition} is unreadable: {message}")]
    Snapshot { partition: u32, message: String },
    #[error("history owner of partition {partition} failed: {message}")]
    Peer { partition: u32, message: String },
    #[error("kafka append failed")]
    Log(#[from] cairn_log::LogError),
    #[error("state store failed")]
    State(#[from] cairn_state::StateError),
    #[error(
        "workflow {workflow_id} run {run_id} lacks event {event_id}, which its state refers to"
    )]
    MissingEvent {
        workflow_id: String,
        run_id: String,
        event_id: i64,
    },
    #[error("record encoding failed")]
    Encode(#[from] cairn_schemas::EncodeError),
}
