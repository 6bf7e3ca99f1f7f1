//! Connection and tuning settings shared by every Kafka client this crate creates.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::LogError;
use crate::security::{self, SaslSettings, SecurityProtocol, TlsSettings};

/// Settings for Cairn's Kafka clients.
///
/// `Default` suits a local broker; tests build one with [`KafkaConfig::new`] from the
/// bootstrap address their broker reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Kafka's `bootstrap.servers`: a comma-separated list of `host:port`.
    pub bootstrap: String,
    /// Prefix of each client's `client.id`, which brokers show in their logs and quotas.
    pub client_id: String,
    /// Longest time a broker holds a fetch that has no new data (`fetch.wait.max.ms`).
    ///
    /// Kept low because some brokers (librdkafka's mock cluster among them) do not answer a
    /// waiting fetch when a record arrives, so produce-to-read latency follows this value.
    #[serde(with = "humantime_serde")]
    pub fetch_wait_max: Duration,
    /// Time the producer waits to gather records into one request (`linger.ms`): the group
    /// commit window.
    #[serde(with = "humantime_serde")]
    pub linger: Duration,
    /// Bound on one append, retries included (`delivery.timeout.ms`); after it the append
    /// fails instead of hanging.
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// Bound on one broker request (`request.timeout.ms`); a timed-out produce request is
    /// retried while `delivery_timeout` allows.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Bound on one metadata, watermark or topic-creation call.
    #[serde(with = "humantime_serde")]
    pub admin_timeout: Duration,
    /// Kafka's `security.protocol`: `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: SecurityProtocol,
    /// Certificates for `ssl` and `sasl_ssl`, and the client's own for mutual TLS.
    pub tls: TlsSettings,
    /// Mechanism and credentials for `sasl_plaintext` and `sasl_ssl`.
    pub sasl: SaslSettings,
    /// Extra librdkafka properties (buffer sizes, socket options), applied to every client
    /// first.
    ///
    /// They cannot override the properties this crate sets itself, because those carry its
    /// guarantees (idempotence, `acks=all`, no offset commits), nor the typed security
    /// settings above when those are given.
    pub properties: BTreeMap<String, String>,
}

impl KafkaConfig {
    /// Returns the default settings for the cluster at `bootstrap`.
    pub fn new(bootstrap: impl Into<String>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            ..Self::default()
        }
    }

    /// Returns a librdkafka configuration with the bootstrap servers, a client id of
    /// `{client_id}-{role}`, the extra [`properties`](Self::properties) and the security
    /// settings, reading the secret files they name.
    ///
    /// Callers set their role's own properties on the result, after these.
    ///
    /// # Errors
    ///
    /// [`LogError::Security`] when the security settings do not work together or a file
    /// they name cannot be read.
    pub fn client_config(&self, role: &str) -> Result<ClientConfig, LogError> {
        let mut config = ClientConfig::new();
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("client.id", format!("{}-{role}", self.client_id));
        security::apply(self.security_protocol, &self.tls, &self.sasl, &mut config)?;
        Ok(config)
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap: "localhost:9092".to_owned(),
            client_id: "cairn".to_owned(),
            fetch_wait_max: Duration::from_millis(5),
            linger: Duration::from_millis(1),
            delivery_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            admin_timeout: Duration::from_secs(10),
            security_protocol: SecurityProtocol::default(),
            tls: TlsSettings::default(),
            sasl: SaslSettings::default(),
            properties: BTreeMap::new(),
        }
    }
}

/// Renders a duration as the whole milliseconds librdkafka's `*.ms` properties take.
pub(crate) fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_properties_cannot_replace_the_bootstrap_servers() {
        let mut config = KafkaConfig::new("broker:1");
        config
            .properties
            .insert("bootstrap.servers".to_owned(), "elsewhere:2".to_owned());
        config
            .properties
            .insert("socket.keepalive.enable".to_owned(), "true".to_owned());
        let client = config.client_config("reader").unwrap();
        assert_eq!(client.get("bootstrap.servers"), Some("broker:1"));
        assert_eq!(client.get("client.id"), Some("cairn-reader"));
        assert_eq!(client.get("socket.keepalive.enable"), Some("true"));
    }

    #[test]
    fn durations_become_whole_milliseconds() {
        assert_eq!(millis(Duration::from_micros(5_900)), "5");
        assert_eq!(millis(Duration::from_secs(30)), "30000");
    }
}
