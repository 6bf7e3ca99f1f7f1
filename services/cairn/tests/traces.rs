//! Traces over OTLP to a collector in the test: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a
//! public call's span continues the caller's trace, whether the caller sent W3C
//! `traceparent` metadata or its SDK's tracing interceptor put `_tracer-data` in the
//! request's Temporal headers; the partition batch that ran the call links to it, and the
//! batch's append to Kafka is its child.

mod common;

use std::collections::HashMap;

use cairn_api::proto::{
    common::v1::{Header, Payload, WorkflowType},
    taskqueue::v1::TaskQueue,
    workflowservice::v1 as ws,
};
use common::{DevServer, call_with};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, trace::v1::Span,
};
use prost::Message;
use tokio::sync::mpsc;
use tonic::transport::Channel;

/// Receives what the server exports, span by span.
async fn collector() -> (String, mpsc::UnboundedReceiver<Span>) {
    let (sender, spans) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sender = sender.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                for span in request
                    .resource_spans
                    .into_iter()
                    .flat_map(|r| r.scope_spans)
                    .flat_map(|s| s.spans)
                {
                    let _test_may_be_done = sender.send(span);
                }
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    cairn_runtime::supervise("collector", cairn_runtime::Failure::Logged, async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{address}"), spans)
}

fn start(id: &str, header: Option<Header>) -> Vec<u8> {
    ws::StartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: id.into(),
        workflow_type: Some(WorkflowType {
            name: "Traced".into(),
        }),
        task_queue: Some(TaskQueue {
            name: "traced".into(),
            ..Default::default()
        }),
        request_id: uuid::Uuid::new_v4().to_string(),
        header,
        ..Default::default()
    }
    .encode_to_vec()
}

/// Reads spans until `done` holds for what was read; the spans read.
async fn spans_until(
    spans: &mut mpsc::UnboundedReceiver<Span>,
    done: impl Fn(&[Span]) -> bool,
) -> Vec<Span> {
    let mut seen = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while !done(&seen) {
            seen.push(spans.recv().await.expect("the collector runs"));
        }
    })
    .await
    .unwrap_or_else(|_| {
        let names: Vec<_> = seen
            .iter()
            .map(|s| {
                format!(
                    "{} trace={} span={} parent={} links={:?}",
                    s.name,
                    hex(&s.trace_id),
                    hex(&s.span_id),
                    hex(&s.parent_span_id),
                    s.links.iter().map(|l| hex(&l.span_id)).collect::<Vec<_>>()
                )
            })
            .collect();
        panic!("spans seen: {names:?}")
    });
    seen
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_continues_its_callers_trace_and_its_batch_links_to_it() {
    let (endpoint, mut spans) = collector().await;
    let server = DevServer::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    let channel = Channel::from_shared(format!("http://{}", server.address))
        .unwrap()
        .connect()
        .await
        .unwrap();

    // A client with gRPC tracing: W3C traceparent in the metadata.
    let (trace, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let traceparent = format!("00-{trace}-{parent}-01");
    let started = call_with(
        &channel,
        "StartWorkflowExecution",
        start("traced-by-metadata", None),
        &[("traceparent", traceparent.as_str())],
    )
    .await;
    assert!(started.is_ok(), "{started:?}");
    let seen = spans_until(&mut spans, |seen| {
        seen.iter()
            .any(|s| s.name == "rpc" && hex(&s.trace_id) == trace)
            && seen
                .iter()
                .any(|s| s.name == "batch" && s.links.iter().any(|l| hex(&l.trace_id) == trace))
            && seen.iter().any(|s| s.name == "kafka_append")
    })
    .await;
    let rpc = seen
        .iter()
        .find(|s| s.name == "rpc" && hex(&s.trace_id) == trace)
        .unwrap();
    assert_eq!(hex(&rpc.parent_span_id), parent);
    let batch = seen
        .iter()
        .find(|s| s.name == "batch" && s.links.iter().any(|l| l.span_id == rpc.span_id))
        .expect("the batch links to the call it ran");
    assert!(
        seen.iter()
            .any(|s| s.name == "kafka_append" && s.parent_span_id == batch.span_id),
        "the append is the batch's child"
    );

    // An SDK's tracing interceptor: `_tracer-data` in the Temporal headers.
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let data = serde_json::to_vec(&HashMap::from([(
        "traceparent",
        format!("00-{trace}-b7ad6b7169203331-01"),
    )]))
    .unwrap();
    let header = Header {
        fields: HashMap::from([(
            "_tracer-data".to_string(),
            Payload {
                metadata: HashMap::from([("encoding".to_string(), b"json/plain".to_vec())]),
                data,
                ..Default::default()
            },
        )]),
    };
    let started = call_with(
        &channel,
        "StartWorkflowExecution",
        start("traced-by-header", Some(header)),
        &[],
    )
    .await;
    assert!(started.is_ok(), "{started:?}");
    let seen = spans_until(&mut spans, |seen| {
        seen.iter()
            .any(|s| s.name == "rpc" && hex(&s.trace_id) == trace)
    })
    .await;
    let rpc = seen.iter().find(|s| s.name == "rpc").unwrap();
    assert_eq!(hex(&rpc.parent_span_id), "b7ad6b7169203331");
}
