//! The public API's request rate limit: Temporal's per-frontend `frontend.rps` (2400 requests
//! a second by default). A call over the limit is answered `ResourceExhausted` with the
//! `ResourceExhaustedFailure` detail the SDKs read (they back off and retry it).

use std::{
    num::NonZeroU32,
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::BoxFuture;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use prost::Message;
use temporalio_protos::protos::temporal::api::{
    enums::v1::ResourceExhaustedCause, errordetails::v1::ResourceExhaustedFailure,
};

/// Temporal's default rate of a frontend, in requests a second.
pub const DEFAULT_RPS: u32 = 2400;

/// Limits the calls of the services it wraps to `rps` a second, with bursts of as many.
#[derive(Clone)]
pub struct RateLimitLayer {
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl RateLimitLayer {
    pub fn new(rps: u32) -> Self {
        let rate = NonZeroU32::new(rps).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Arc::new(RateLimiter::direct(Quota::per_second(rate))),
        }
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimited {
            inner,
            limiter: Arc::clone(&self.limiter),
        }
    }
}

#[derive(Clone)]
pub struct RateLimited<S> {
    inner: S,
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl<S, B> tower::Service<http::Request<B>> for RateLimited<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Send,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // Health checks are never refused: a load balancer must see a busy node as alive.
        let health = request.uri().path().starts_with("/grpc.health.");
        if health || self.limiter.check().is_ok() {
            return Box::pin(self.inner.call(request));
        }
        Box::pin(async move { Ok(exhausted().into_http()) })
    }
}

/// Temporal's answer to a call over the rate limit.
fn exhausted() -> tonic::Status {
    let detail = ResourceExhaustedFailure {
        cause: ResourceExhaustedCause::RpsLimit as i32,
        ..Default::default()
    };
    cairn_frontend::with_detail(
        tonic::Code::ResourceExhausted,
        "service rate limit exceeded".into(),
        "ResourceExhaustedFailure",
        detail.encode_to_vec(),
    )
}
