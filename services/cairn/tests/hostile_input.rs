//! Hostile input at the public gRPC port of a real dev server (this crate's binary): random
//! bytes and mutations of valid requests sent to every kind of call, and a set of
//! adversarial requests (oversized fields, invalid UTF-8, deep nesting, bad task tokens)
//! each of which must be refused; a huge page size is capped and an enum value out of range
//! taken as Temporal's dev server takes it. Every answer
//! must be a proper gRPC status, nothing may panic, the server must keep serving, and a
//! refused request must write nothing.
//!
//! The fuzzing part runs for `CAIRN_FUZZ_SECONDS` (default 10) from the seed
//! `CAIRN_FUZZ_SEED` (random by default, printed); run it longer by hand:
//! `CAIRN_FUZZ_SECONDS=600 cargo test -p cairn --test hostile_input -- --nocapture`.

use std::time::{Duration, Instant};

use cairn_api::proto::{
    common::v1::{Payload, Payloads, WorkflowExecution, WorkflowType},
    failure::v1::Failure,
    taskqueue::v1::TaskQueue,
    workflowservice::v1 as ws,
};
use prost::Message;
use rand::{Rng, RngCore, SeedableRng, rngs::StdRng};
use tonic::{Code, Status, transport::Channel};

mod common;

use common::{DevServer, call};

/// An answer a client can act on: a result, or a status that is not the transport's
/// "something broke" (which is what a handler's panic looks like from outside).
fn assert_proper(method: &str, answer: &Result<Vec<u8>, Status>) {
    if let Err(status) = answer {
        assert_ne!(status.code(), Code::Unknown, "{method}: {status:?}");
        assert!(
            !status.message().contains("panic") && !status.message().contains("h2 protocol"),
            "{method}: {status:?}"
        );
    }
}

fn payloads(data: Vec<u8>) -> Option<Payloads> {
    Some(Payloads {
        payloads: vec![Payload {
            metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
            data,
            ..Default::default()
        }],
    })
}

fn start_request(id: &str) -> ws::StartWorkflowExecutionRequest {
    ws::StartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: id.into(),
        workflow_type: Some(WorkflowType {
            name: "Fuzzed".into(),
        }),
        task_queue: Some(TaskQueue {
            name: "fuzz".into(),
            ..Default::default()
        }),
        input: payloads(b"1".to_vec()),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    }
}

fn execution(id: &str) -> Option<WorkflowExecution> {
    Some(WorkflowExecution {
        workflow_id: id.into(),
        run_id: String::new(),
    })
}

/// Valid requests of many kinds, for the fuzzer to mutate.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "StartWorkflowExecution",
            start_request("fuzz-seed").encode_to_vec(),
        ),
        (
            "SignalWorkflowExecution",
            ws::SignalWorkflowExecutionRequest {
                namespace: "default".into(),
                workflow_execution: execution("fuzz-seed"),
                signal_name: "poke".into(),
                input: payloads(b"2".to_vec()),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "DescribeWorkflowExecution",
            ws::DescribeWorkflowExecutionRequest {
                namespace: "default".into(),
                execution: execution("fuzz-seed"),
            }
            .encode_to_vec(),
        ),
        (
            "GetWorkflowExecutionHistory",
            ws::GetWorkflowExecutionHistoryRequest {
                namespace: "default".into(),
                execution: execution("fuzz-seed"),
                maximum_page_size: 10,
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "ListWorkflowExecutions",
            ws::ListWorkflowExecutionsRequest {
                namespace: "default".into(),
                page_size: 10,
                query: "WorkflowType = 'Fuzzed' AND ExecutionStatus = 'Running'".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "CountWorkflowExecutions",
            ws::CountWorkflowExecutionsRequest {
                namespace: "default".into(),
                query: "GROUP BY ExecutionStatus".into(),
            }
            .encode_to_vec(),
        ),
        (
            "TerminateWorkflowExecution",
            ws::TerminateWorkflowExecutionRequest {
                namespace: "default".into(),
                workflow_execution: execution("fuzz-other"),
                reason: "fuzz".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "RespondWorkflowTaskCompleted",
            ws::RespondWorkflowTaskCompletedRequest {
                namespace: "default".into(),
                task_token: b"not a task token".to_vec(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "RespondActivityTaskFailed",
            ws::RespondActivityTaskFailedRequest {
                namespace: "default".into(),
                task_token: vec![0xff; 64],
                failure: Some(Failure {
                    message: "boom".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "PollActivityTaskQueue",
            ws::PollActivityTaskQueueRequest {
                namespace: "default".into(),
                task_queue: Some(TaskQueue {
                    name: "fuzz".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "DescribeTaskQueue",
            ws::DescribeTaskQueueRequest {
                namespace: "default".into(),
                task_queue: Some(TaskQueue {
                    name: "fuzz".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "QueryWorkflow",
            ws::QueryWorkflowRequest {
                namespace: "default".into(),
                execution: execution("fuzz-seed"),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "RegisterNamespace",
            ws::RegisterNamespaceRequest {
                namespace: "fuzz-namespace".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
    ]
}

/// Flips, drops, repeats or inserts bytes of `seed`, or replaces it with noise.
fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    match rng.random_range(0..6) {
        0 => {
            let mut noise = vec![0; rng.random_range(0..2048)];
            rng.fill_bytes(&mut noise);
            return noise;
        }
        1 => bytes.truncate(rng.random_range(0..=bytes.len())),
        2 => {
            let at = rng.random_range(0..=bytes.len());
            let mut noise = vec![0; rng.random_range(1..64)];
            rng.fill_bytes(&mut noise);
            bytes.splice(at..at, noise);
        }
        3 => {
            let copy = bytes.clone();
            bytes.extend_from_slice(&copy);
        }
        _ => {
            for _ in 0..rng.random_range(1..8) {
                if !bytes.is_empty() {
                    let at = rng.random_range(0..bytes.len());
                    bytes[at] ^= 1 << rng.random_range(0..8);
                }
            }
        }
    }
    bytes
}

#[tokio::test(flavor = "multi_thread")]
async fn adversarial_requests_are_refused_with_a_status_and_write_nothing() {
    let server = DevServer::start(&[]);
    let channel = Channel::from_shared(format!("http://{}", server.address))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let before = server.transitions().await;

    // Deep nesting: a failure whose cause is nested past any decoder's recursion limit.
    let mut deep = Failure::default();
    for _ in 0..200 {
        deep = Failure {
            message: "again".into(),
            cause: Some(Box::new(deep)),
            ..Default::default()
        };
    }
    let mut invalid_utf8 = Vec::new();
    // Field 1 (namespace), length 3, not UTF-8.
    invalid_utf8.extend_from_slice(&[0x0a, 0x03, 0xff, 0xfe, 0xfd]);
    let oversized_id = start_request(&"w".repeat(5 << 20)).encode_to_vec();
    let oversized_input = ws::StartWorkflowExecutionRequest {
        input: payloads(vec![b'x'; 3 << 20]),
        ..start_request("fuzz-oversized-input")
    }
    .encode_to_vec();
    let bad_enum = ws::StartWorkflowExecutionRequest {
        workflow_id_reuse_policy: 999,
        ..start_request("fuzz-bad-enum")
    };
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "oversized workflow id",
            "StartWorkflowExecution",
            oversized_id,
        ),
        ("oversized input", "StartWorkflowExecution", oversized_input),
        (
            "invalid UTF-8",
            "StartWorkflowExecution",
            invalid_utf8.clone(),
        ),
        ("invalid UTF-8", "SignalWorkflowExecution", invalid_utf8),
        (
            "deep nesting",
            "RespondActivityTaskFailed",
            ws::RespondActivityTaskFailedRequest {
                namespace: "default".into(),
                task_token: b"token".to_vec(),
                failure: Some(deep),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "bad task token",
            "RespondWorkflowTaskCompleted",
            ws::RespondWorkflowTaskCompletedRequest {
                namespace: "default".into(),
                task_token: vec![0x42; 300],
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "bad task token",
            "RespondActivityTaskCompleted",
            ws::RespondActivityTaskCompletedRequest {
                namespace: "default".into(),
                task_token: Vec::new(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "signal to a workflow that does not exist",
            "SignalWorkflowExecution",
            ws::SignalWorkflowExecutionRequest {
                namespace: "default".into(),
                workflow_execution: execution("fuzz-nobody"),
                signal_name: "poke".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "unknown namespace",
            "StartWorkflowExecution",
            ws::StartWorkflowExecutionRequest {
                namespace: "no-such-namespace".into(),
                ..start_request("fuzz-no-namespace")
            }
            .encode_to_vec(),
        ),
        (
            "truncated message",
            "StartWorkflowExecution",
            start_request("fuzz-truncated").encode_to_vec()[..20].to_vec(),
        ),
    ];
    for (what, method, body) in cases {
        let answer = call(&channel, method, body).await;
        assert_proper(method, &answer);
        assert!(answer.is_err(), "{what} to {method} was accepted");
    }
    // A huge page size is capped, not refused, and answers at once.
    let huge_page = ws::ListWorkflowExecutionsRequest {
        namespace: "default".into(),
        page_size: i32::MAX,
        ..Default::default()
    };
    let answer = call(
        &channel,
        "ListWorkflowExecutions",
        huge_page.encode_to_vec(),
    )
    .await;
    assert_proper("ListWorkflowExecutions", &answer);
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(
        server.transitions().await,
        before,
        "a refused request wrote to a run"
    );
    // An enum value out of range is taken as Temporal takes it (its dev server starts the
    // workflow with the default policy), not refused and not a crash.
    let answer = call(&channel, "StartWorkflowExecution", bad_enum.encode_to_vec()).await;
    assert_proper("StartWorkflowExecution", &answer);
    assert!(answer.is_ok(), "{answer:?}");
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn random_and_mutated_requests_get_a_status_and_the_server_keeps_serving() {
    let server = DevServer::start(&[]);
    let channel = Channel::from_shared(format!("http://{}", server.address))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let seconds = std::env::var("CAIRN_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let seed = std::env::var("CAIRN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("fuzzing for {seconds} s from CAIRN_FUZZ_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let seeds = seeds();
    // Something for the seeds that name a workflow to find.
    let started = call(&channel, "StartWorkflowExecution", seeds[0].1.clone()).await;
    assert!(started.is_ok(), "{started:?}");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut calls = 0;
    while Instant::now() < deadline {
        let (method, seed_bytes) = &seeds[rng.random_range(0..seeds.len())];
        let body = mutate(&mut rng, seed_bytes);
        let answer = call(&channel, method, body.clone()).await;
        assert!(
            answer.as_ref().is_ok() || answer.as_ref().is_err_and(|s| s.code() != Code::Unknown),
            "seed {seed}: {method} with {body:?}: {answer:?}"
        );
        assert_proper(method, &answer);
        calls += 1;
    }
    println!("{calls} calls");
    assert!(server.child.id() > 0);
    let info = call(&channel, "GetSystemInfo", Vec::new()).await;
    assert!(info.is_ok(), "the server stopped serving: {info:?}");
    assert!(
        !server.log().contains("panicked"),
        "seed {seed}: {}",
        server.log()
    );
}
