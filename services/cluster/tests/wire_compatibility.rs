//! Internal messages across protocols, so that two builds serve one cluster during a rolling
//! upgrade. `tests/wire/protocol-N/` holds each message as protocol N wrote it. This build
//! must read the messages of every protocol from `OLDEST_READER` on (a newer node reads an
//! older one), and what it writes must still carry every field those protocols' readers
//! expect, with the same JSON type (an older node reads a newer one; unknown fields are
//! ignored).
//!
//! A message added to the protocol gets its file with `CAIRN_RECORD_WIRE=1 cargo test`.

use std::path::{Path, PathBuf};

use cairn_cluster::wire::{
    self, AddQuery, AddTasks, EventsRequest, Partition, RecordStarted, Reply, WaitingTasks,
    WireError,
};
use cairn_engine::{
    RunKey, TaskKind, TaskRef,
    proto::{
        common::WorkflowType, query::WorkflowQuery, taskqueue::TaskQueue,
        workflowservice::StartWorkflowExecutionRequest,
    },
    transfer::{Transfer, TransferOutcome},
    workflow_task,
};
use cairn_history::{QueryTask, StartedWorkflowTask};
use serde_json::Value;

fn run() -> RunKey {
    RunKey {
        namespace_id: "3f1c0d1e-namespace".into(),
        workflow_id: "order-17".into(),
        run_id: "01a24577-ce07-7355-a405-aa4aa95231a8".into(),
    }
}

fn task() -> TaskRef {
    TaskRef {
        run: run(),
        kind: TaskKind::Workflow,
        task_queue: "orders".into(),
        scheduled_event_id: 2,
        attempt: 1,
    }
}

fn query() -> QueryTask {
    QueryTask {
        query_id: "5d8e4bb6-query".into(),
        run: run(),
        query: WorkflowQuery {
            query_type: "state".into(),
            ..Default::default()
        },
    }
}

fn started() -> (
    cairn_engine::MutableState,
    Vec<cairn_engine::proto::HistoryEvent>,
) {
    let request = StartWorkflowExecutionRequest {
        workflow_type: Some(WorkflowType {
            name: "Order".into(),
        }),
        task_queue: Some(TaskQueue {
            name: "orders".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (state, changes) =
        cairn_engine::start::start(run(), "default", &request, 1_700_000_000_000_000_000);
    (state, changes.events)
}

/// Every message of the internal services, as this build writes it.
fn messages() -> Vec<(&'static str, Vec<u8>)> {
    let (state, events) = started();
    let encode = |value: &dyn erased::Encode| value.encode();
    vec![
        (
            "record-started",
            encode(&RecordStarted {
                task: task(),
                request_id: "b1e0-request".into(),
                identity: "worker@host".into(),
            }),
        ),
        (
            "events-request",
            encode(&EventsRequest {
                run: run(),
                from: 1,
                to: 9,
            }),
        ),
        ("partition", encode(&Partition(3))),
        ("run", encode(&run())),
        (
            "add-tasks",
            encode(&AddTasks {
                partition: 3,
                tasks: vec![task()],
                withdrawn: vec![task()],
            }),
        ),
        (
            "waiting-tasks",
            encode(&WaitingTasks {
                partition: 3,
                namespace_id: run().namespace_id,
                task_queue: "orders".into(),
                kind: TaskKind::Activity,
            }),
        ),
        (
            "add-query",
            encode(&AddQuery {
                partition: 3,
                namespace_id: run().namespace_id,
                task_queue: "orders".into(),
                task: query(),
            }),
        ),
        (
            "transfer",
            encode(&Transfer::External {
                from: run(),
                namespace: "default".into(),
                initiated_event_id: 5,
                cancel: false,
                command: vec![1, 2, 3],
            }),
        ),
        (
            "reply-workflow-task",
            encode(&Reply::<StartedWorkflowTask>::Ok(StartedWorkflowTask {
                state: state.clone(),
                task: workflow_task::StartedWorkflowTask {
                    scheduled_event_id: 2,
                    started_event_id: 3,
                    attempt: 1,
                    transient_events: Vec::new(),
                },
                history: events.clone(),
                queries: vec![query()],
            })),
        ),
        ("reply-state", encode(&Reply::Ok(state))),
        ("reply-events", encode(&Reply::Ok(events))),
        (
            "reply-transfer",
            encode(&Reply::Ok(TransferOutcome::ChildStarted {
                run_id: "01a24577-child".into(),
            })),
        ),
        (
            "reply-refusal",
            encode(&Reply::<()>::Err(WireError::NotOwner { partition: 3 })),
        ),
    ]
}

/// Reads a recorded message as the type this build reads it as.
fn read(name: &str, bytes: &[u8]) -> Result<(), tonic::Status> {
    match name {
        "record-started" => wire::decode::<RecordStarted>(bytes).map(drop),
        "events-request" => wire::decode::<EventsRequest>(bytes).map(drop),
        "partition" => wire::decode::<Partition>(bytes).map(drop),
        "run" => wire::decode::<RunKey>(bytes).map(drop),
        "add-tasks" => wire::decode::<AddTasks>(bytes).map(drop),
        "waiting-tasks" => wire::decode::<WaitingTasks>(bytes).map(drop),
        "add-query" => wire::decode::<AddQuery>(bytes).map(drop),
        "transfer" => wire::decode::<Transfer>(bytes).map(drop),
        "reply-workflow-task" => wire::decode::<Reply<StartedWorkflowTask>>(bytes).map(drop),
        "reply-state" => wire::decode::<Reply<cairn_engine::MutableState>>(bytes).map(drop),
        "reply-events" => {
            wire::decode::<Reply<Vec<cairn_engine::proto::HistoryEvent>>>(bytes).map(drop)
        }
        "reply-transfer" => wire::decode::<Reply<TransferOutcome>>(bytes).map(drop),
        "reply-refusal" => wire::decode::<Reply<()>>(bytes).map(drop),
        other => panic!("no reader for the recorded message {other}"),
    }
}

mod erased {
    pub trait Encode {
        fn encode(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Encode for T {
        fn encode(&self) -> Vec<u8> {
            cairn_cluster::wire::encode(self).expect("every internal message encodes")
        }
    }
}

fn protocol_dir(protocol: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/wire")
        .join(format!("protocol-{protocol}"))
}

fn recorded(protocol: u32, name: &str) -> Option<Vec<u8>> {
    std::fs::read(protocol_dir(protocol).join(format!("{name}.json"))).ok()
}

#[test]
fn this_protocol_has_every_message_recorded() {
    let record = std::env::var_os("CAIRN_RECORD_WIRE").is_some();
    for (name, bytes) in messages() {
        if recorded(wire::PROTOCOL, name).is_some() {
            continue;
        }
        assert!(
            record,
            "message {name} of protocol {} is not recorded: run with CAIRN_RECORD_WIRE=1",
            wire::PROTOCOL
        );
        let dir = protocol_dir(wire::PROTOCOL);
        std::fs::create_dir_all(&dir).unwrap();
        let pretty: Value = serde_json::from_slice(&bytes).unwrap();
        std::fs::write(
            dir.join(format!("{name}.json")),
            serde_json::to_string_pretty(&pretty).unwrap() + "\n",
        )
        .unwrap();
    }
}

#[test]
fn this_build_reads_every_message_of_the_protocols_it_must_read() {
    for protocol in wire::OLDEST_READER..=wire::PROTOCOL {
        for (name, _) in messages() {
            if let Some(bytes) = recorded(protocol, name) {
                read(name, &bytes).unwrap_or_else(|status| {
                    panic!("protocol {protocol}'s {name} no longer reads: {status}")
                });
            }
        }
    }
}

#[test]
fn what_this_build_writes_keeps_every_field_older_readers_expect() {
    for protocol in wire::OLDEST_READER..=wire::PROTOCOL {
        for (name, bytes) in messages() {
            let Some(old) = recorded(protocol, name) else {
                continue;
            };
            let old: Value = serde_json::from_slice(&old).unwrap();
            let new: Value = serde_json::from_slice(&bytes).unwrap();
            assert!(
                new["oldest_reader"].as_u64() <= Some(u64::from(protocol)),
                "{name}: protocol {protocol}'s readers are refused"
            );
            if let Err(path) = keeps(&old["message"], &new["message"], "message") {
                panic!(
                    "{name}: protocol {protocol}'s readers expect {path}, which this build no longer writes as they read it"
                );
            }
        }
    }
}

/// Whether `new` has every field of `old`, each with the same JSON type; the path of the
/// first that is missing or changed otherwise.
fn keeps(old: &Value, new: &Value, path: &str) -> Result<(), String> {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            for (key, value) in old {
                let inner = format!("{path}.{key}");
                match new.get(key) {
                    Some(found) => keeps(value, found, &inner)?,
                    None => return Err(inner),
                }
            }
            Ok(())
        }
        (Value::Array(old), Value::Array(new)) => match (old.first(), new.first()) {
            (Some(old), Some(new)) => keeps(old, new, &format!("{path}[0]")),
            (Some(_), None) => Err(format!("{path}[0]")),
            _ => Ok(()),
        },
        (Value::Null, _) | (_, Value::Null) => Ok(()),
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_)) => Ok(()),
        _ => Err(path.to_string()),
    }
}

#[test]
fn a_message_of_a_protocol_this_build_cannot_read_is_refused_with_a_clear_error() {
    let future = serde_json::json!({
        "protocol": wire::PROTOCOL + 2,
        "oldest_reader": wire::PROTOCOL + 1,
        "message": { "run": "a shape this build does not know" },
    });
    let status = wire::decode::<RunKey>(&serde_json::to_vec(&future).unwrap()).unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(
        status.message().contains("upgrade every node"),
        "{}",
        status.message()
    );
}

#[test]
fn a_message_of_a_newer_protocol_readable_here_is_read_with_its_new_fields_ignored() {
    let newer = serde_json::json!({
        "protocol": wire::PROTOCOL + 1,
        "oldest_reader": wire::PROTOCOL,
        "message": {
            "namespace_id": "ns", "workflow_id": "wf", "run_id": "r",
            "a_field_of_the_next_protocol": 7,
        },
    });
    let run: RunKey = wire::decode(&serde_json::to_vec(&newer).unwrap()).unwrap();
    assert_eq!(run.workflow_id, "wf");
}
