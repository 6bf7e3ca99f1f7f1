//! The keys tokens are signed with: JSON Web Key Sets from files or URLs, read at start and
//! again every refresh interval (as Temporal's `jwtKeyProvider`). A refresh that fails keeps
//! the keys already read.

use std::{collections::HashMap, sync::Arc, time::Duration};

use anyhow::Context;
use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, JwkSet},
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// The signing algorithms tokens may use, as Temporal's default key provider accepts.
pub const ALGORITHMS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

/// How long fetching a key set from a URL may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A verification key, by its key ID.
#[derive(Clone)]
pub struct Key {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// The keys read last, by key ID.
#[derive(Clone)]
pub struct Keys {
    current: watch::Receiver<Arc<HashMap<String, Key>>>,
}

impl Keys {
    /// Reads every source (a path, a `file://` URI or an `http(s)://` URL); an error when one
    /// cannot be read: a node that cannot check tokens does not start. Then reads them again
    /// every `refresh` (never when zero) until `stop`.
    pub async fn load(
        sources: Vec<String>,
        refresh: Duration,
        stop: CancellationToken,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .context("an HTTP client for key sets")?;
        let first = read_all(&client, &sources).await?;
        let (sender, current) = watch::channel(Arc::new(first));
        if !refresh.is_zero() {
            cairn_runtime::supervise("jwks-refresh", cairn_runtime::Failure::Logged, async move {
                let mut ticks = tokio::time::interval(refresh);
                ticks.tick().await;
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        _ = ticks.tick() => {}
                    }
                    match read_all(&client, &sources).await {
                        Ok(keys) => {
                            if keys.len() != sender.borrow().len() {
                                info!(keys = keys.len(), "token signing keys changed");
                            }
                            sender.send_replace(Arc::new(keys));
                        }
                        Err(error) => {
                            warn!(error = %format!("{error:#}"), "reading the token signing keys failed; keeping the previous ones");
                        }
                    }
                }
            });
        }
        Ok(Self { current })
    }

    /// The key with ID `kid`.
    pub fn get(&self, kid: &str) -> Option<Key> {
        self.current.borrow().get(kid).cloned()
    }
}

async fn read_all(
    client: &reqwest::Client,
    sources: &[String],
) -> anyhow::Result<HashMap<String, Key>> {
    let mut keys = HashMap::new();
    for source in sources {
        let text = read_source(client, source)
            .await
            .with_context(|| format!("reading the key set {source}"))?;
        let set: JwkSet = serde_json::from_str(&text)
            .with_context(|| format!("{source} is not a JSON Web Key Set"))?;
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let algorithm = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                // Neither RS256 nor ES256: no token signed with it is accepted anyway.
                _ => continue,
            };
            let key =
                DecodingKey::from_jwk(jwk).with_context(|| format!("key {kid} of {source}"))?;
            keys.insert(kid, Key { algorithm, key });
        }
    }
    Ok(keys)
}

async fn read_source(client: &reqwest::Client, source: &str) -> anyhow::Result<String> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let response = client.get(source).send().await?.error_for_status()?;
        return Ok(response.text().await?);
    }
    let path = source.strip_prefix("file://").unwrap_or(source);
    Ok(tokio::fs::read_to_string(path).await?)
}
