//! Continuing a caller's trace, so that its spans and Cairn's form one trace: from W3C
//! `traceparent` in a call's gRPC metadata (clients with gRPC tracing), or from the
//! `_tracer-data` entry that Temporal's SDK tracing interceptors put in a request's Temporal
//! headers (a JSON object of the same W3C fields). Nothing happens when traces are not
//! exported (no propagator is installed then).

use std::collections::HashMap;

use opentelemetry::{Context, propagation::Extractor, trace::TraceContextExt};
use temporalio_protos::protos::temporal::api::common::v1::Header;

/// The entry of Temporal headers that SDK tracing interceptors write.
const TRACER_DATA: &str = "_tracer-data";

struct Metadata<'a>(&'a http::HeaderMap);

impl Extractor for Metadata<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct Fields(HashMap<String, String>);

impl Extractor for Fields {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

fn extract(carrier: &dyn Extractor) -> Option<Context> {
    let context =
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(carrier));
    context.span().span_context().is_valid().then_some(context)
}

/// The span of a call: `rpc`, a child of the trace named in the call's gRPC metadata, if
/// any (a root otherwise).
pub fn call_span(rpc: &str, headers: &http::HeaderMap) -> tracing::Span {
    let _parent = extract(&Metadata(headers)).map(Context::attach);
    tracing::info_span!("rpc", rpc = %rpc)
}

/// A span for the call's work in the trace an SDK interceptor put in the request's Temporal
/// headers, named after the call; none when there is no such trace.
pub fn header_span(rpc: &'static str, header: Option<&Header>) -> tracing::Span {
    let Some(payload) = header.and_then(|header| header.fields.get(TRACER_DATA)) else {
        return tracing::Span::none();
    };
    let Ok(fields) = serde_json::from_slice::<HashMap<String, String>>(&payload.data) else {
        return tracing::Span::none();
    };
    let Some(parent) = extract(&Fields(fields)) else {
        return tracing::Span::none();
    };
    let _parent = parent.attach();
    tracing::info_span!("rpc", rpc)
}
