//! Generates the internal gRPC services (history owners and matching owners as their peers
//! call them). Their messages are Rust types carried as JSON, so no .proto file is needed.

use tonic_build::manual::{Builder, Method, Service};

fn method(name: &str, route: &str, input: &str, output: &str) -> Method {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type(format!("crate::wire::{input}"))
        .output_type(format!("crate::wire::{output}"))
        .codec_path("crate::wire::JsonCodec")
        .build()
}

fn main() {
    let history = Service::builder()
        .name("History")
        .package("cairn.internal")
        .method(method(
            "record_workflow_task_started",
            "RecordWorkflowTaskStarted",
            "RecordStarted",
            "Reply<cairn_history::StartedWorkflowTask>",
        ))
        .method(method(
            "record_activity_task_started",
            "RecordActivityTaskStarted",
            "RecordStarted",
            "Reply<cairn_history::StartedActivityTask>",
        ))
        .method(method("reset_sticky", "ResetSticky", "RunKey", "Reply<()>"))
        .method(method(
            "describe",
            "Describe",
            "RunKey",
            "Reply<cairn_engine::MutableState>",
        ))
        .method(method(
            "progress",
            "Progress",
            "RunKey",
            "Reply<cairn_engine::MutableState>",
        ))
        .method(method(
            "events",
            "Events",
            "EventsRequest",
            "Reply<Vec<cairn_engine::proto::HistoryEvent>>",
        ))
        .method(method(
            "visibility_page",
            "VisibilityPage",
            "VisibilityPage",
            "Reply<cairn_visibility::Page>",
        ))
        .method(method(
            "visibility_count",
            "VisibilityCount",
            "VisibilityCount",
            "Reply<cairn_visibility::Counts>",
        ))
        .method(method(
            "waiting_tasks",
            "WaitingTasks",
            "WaitingTasks",
            "Reply<i64>",
        ))
        .method(method(
            "deliver",
            "Deliver",
            "Transfer",
            "Reply<cairn_engine::transfer::TransferOutcome>",
        ))
        .build();
    let matching = Service::builder()
        .name("Matching")
        .package("cairn.internal")
        .method(method("add_tasks", "AddTasks", "AddTasks", "Reply<()>"))
        .method(method("add_query", "AddQuery", "AddQuery", "Reply<()>"))
        .build();
    Builder::new().compile(&[history, matching]);
}
