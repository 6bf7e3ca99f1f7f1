//! Authorization of public calls as Temporal's default JWT claim mapper and authorizer do
//! it: a bearer token in the `authorization` header, signed (RS256 or ES256) by a key from
//! the configured JSON Web Key Sets, whose `permissions` claim lists `namespace:role`
//! entries. A call is allowed when the caller's roles on the cluster (`temporal-system:` or
//! `system:` entries), or on the namespace the request names, give the access the call
//! needs ([`access`]). Everything else is answered `PermissionDenied` ("Request
//! unauthorized."), as Temporal answers it, and logged with the reason.
//!
//! The check has two halves: [`AuthorizeLayer`], in front of the public gRPC services,
//! verifies the token and decides every call that needs no namespace; a call that needs a
//! namespace role the caller does not hold everywhere carries a [`Grant`] to the service,
//! which checks it against the namespace in the request ([`check_namespace`]).

pub mod access;
mod claims;
mod keys;

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use anyhow::Context as _;
use futures::future::BoxFuture;
use jsonwebtoken::Validation;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tracing::debug;

pub use access::{Access, Scope};
pub use claims::{Claims, Roles};
use keys::Keys;

/// How often key sets are read again, unless configured (Temporal's template says 1m).
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// The `[authorization]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// JSON Web Key Sets the tokens' signing keys come from: paths, `file://` URIs or
    /// `http(s)://` URLs. Authorization is off when there is none.
    pub jwt_key_sources: Vec<String>,
    /// How often the key sets are read again (0s: never).
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
    /// The claim that lists the caller's `namespace:role` permissions.
    pub permissions_claim: String,
    /// When set, tokens must name this audience in `aud`.
    pub audience: Option<String>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_key_sources: Vec::new(),
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            permissions_claim: "permissions".into(),
            audience: None,
        }
    }
}

/// Checks tokens against the keys read last.
#[derive(Clone)]
pub struct Authorizer {
    keys: Keys,
    permissions_claim: Arc<str>,
    audience: Option<Arc<str>>,
}

/// Why a call was refused, for the log (the caller hears only "Request unauthorized.").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied(pub String);

impl Authorizer {
    /// The authorizer `settings` describe, once its keys are read; `None` when
    /// authorization is off.
    pub async fn start(
        settings: &AuthSettings,
        stop: CancellationToken,
    ) -> anyhow::Result<Option<Self>> {
        if settings.jwt_key_sources.is_empty() {
            anyhow::ensure!(
                settings.audience.is_none(),
                "authorization.audience needs authorization.jwt_key_sources"
            );
            return Ok(None);
        }
        anyhow::ensure!(
            !settings.permissions_claim.is_empty(),
            "authorization.permissions_claim cannot be empty"
        );
        let keys = Keys::load(
            settings.jwt_key_sources.clone(),
            settings.refresh_interval,
            stop,
        )
        .await
        .context("the token signing keys (authorization.jwt_key_sources)")?;
        Ok(Some(Self {
            keys,
            permissions_claim: settings.permissions_claim.as_str().into(),
            audience: settings.audience.as_deref().map(Into::into),
        }))
    }

    /// The claims of an `authorization` header's bearer token.
    pub fn claims(&self, header: &[u8]) -> Result<Claims, Denied> {
        let header =
            std::str::from_utf8(header).map_err(|_| Denied("the header is not text".into()))?;
        let (scheme, token) = header
            .split_once(' ')
            .ok_or_else(|| Denied("unexpected authorization token format".into()))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Denied("unexpected name in authorization token".into()));
        }
        let head = jsonwebtoken::decode_header(token)
            .map_err(|error| Denied(format!("malformed token: {error}")))?;
        if !keys::ALGORITHMS.contains(&head.alg) {
            return Err(Denied(format!(
                "signing method {:?} is not accepted",
                head.alg
            )));
        }
        let kid = head
            .kid
            .ok_or_else(|| Denied("malformed token: no \"kid\" header".into()))?;
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| Denied(format!("no key with ID {kid}")))?;
        if key.algorithm != head.alg {
            return Err(Denied(format!("key {kid} does not sign {:?}", head.alg)));
        }
        let mut validation = Validation::new(head.alg);
        // `exp` and `nbf` are checked when present, to the second; none is required.
        validation.required_spec_claims.clear();
        validation.leeway = 0;
        validation.validate_nbf = true;
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience.as_ref()]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key.key,
            &validation,
        )
        .map_err(|error| Denied(format!("token refused: {error}")))?;
        let subject = match data.claims.get("sub") {
            None => String::new(),
            Some(serde_json::Value::String(subject)) => subject.clone(),
            Some(_) => return Err(Denied("unexpected value type of \"sub\" claim".into())),
        };
        Ok(Claims::from_permissions(
            subject,
            data.claims.get(self.permissions_claim.as_ref()),
        ))
    }

    /// Whether `service`'s `method` may be called with the `authorization` header `header`.
    pub fn decide(&self, service: &str, method: &str, header: Option<&[u8]>) -> Decision {
        let claims = match header.map(|header| self.claims(header)) {
            Some(Ok(claims)) => Some(claims),
            Some(Err(denied)) => return Decision::Deny(denied),
            None => None,
        };
        if access::always_allowed(service, method) {
            return Decision::Allow;
        }
        let Some(claims) = claims else {
            return Decision::Deny(Denied("no authorization header".into()));
        };
        let Some((scope, access)) = access::of(service, method) else {
            return Decision::Deny(Denied(format!(
                "{service}/{method} is not a call anyone may make"
            )));
        };
        if claims.roles_in(None).allow(access) {
            return Decision::Allow;
        }
        match scope {
            Scope::Cluster => Decision::Deny(Denied(format!(
                "{} holds no system role that allows {method}",
                claims.subject
            ))),
            Scope::Namespace => Decision::Namespace(Grant {
                claims: Arc::new(claims),
                access,
                method: method.into(),
            }),
        }
    }
}

/// What the layer decided about a call.
#[derive(Debug)]
pub enum Decision {
    Allow,
    Deny(Denied),
    /// Allowed if the caller's roles on the request's namespace allow it.
    Namespace(Grant),
}

/// A caller's claims and the access its call needs, for the service to check against the
/// namespace the request names.
#[derive(Debug, Clone)]
pub struct Grant {
    claims: Arc<Claims>,
    access: Access,
    method: Arc<str>,
}

fn unauthorized() -> Status {
    Status::permission_denied("Request unauthorized.")
}

/// Checks a call that carries a [`Grant`] against the namespace its request names; calls
/// without one were decided before they reached the service (or come from a peer node).
pub fn check_namespace(extensions: &tonic::Extensions, namespace: &str) -> Result<(), Status> {
    let Some(grant) = extensions.get::<Grant>() else {
        return Ok(());
    };
    if grant.claims.roles_in(Some(namespace)).allow(grant.access) {
        Ok(())
    } else {
        debug!(subject = %grant.claims.subject, namespace, method = %grant.method, "call refused: no role on the namespace allows it");
        Err(unauthorized())
    }
}

/// Authorizes every call of the services behind it (see the module's documentation).
#[derive(Clone)]
pub struct AuthorizeLayer {
    pub authorizer: Option<Authorizer>,
}

impl<S> tower::Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorize {
            inner,
            authorizer: self.authorizer.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Authorize<S> {
    inner: S,
    authorizer: Option<Authorizer>,
}

impl<S, B> tower::Service<http::Request<B>> for Authorize<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Send,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let Some(authorizer) = &self.authorizer else {
            return Box::pin(self.inner.call(request));
        };
        let path = request.uri().path().trim_start_matches('/');
        let (service, method) = path.split_once('/').unwrap_or((path, ""));
        let header = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(http::HeaderValue::as_bytes);
        match authorizer.decide(service, method, header) {
            Decision::Allow => Box::pin(self.inner.call(request)),
            Decision::Namespace(grant) => {
                request.extensions_mut().insert(grant);
                Box::pin(self.inner.call(request))
            }
            Decision::Deny(Denied(reason)) => {
                debug!(%service, %method, %reason, "call refused");
                Box::pin(std::future::ready(Ok(unauthorized().into_http())))
            }
        }
    }
}
