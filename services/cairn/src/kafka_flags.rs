//! The Kafka security flags that `server start`, `server start-dev --kafka` and
//! `admin topics` share. Secrets are taken only from files here: a password on a command
//! line is visible to every user of the machine.

use std::path::PathBuf;

use cairn_log::{KafkaConfig, SaslMechanism, SecurityProtocol};
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolFlag {
    Plaintext,
    Ssl,
    #[value(name = "sasl_plaintext")]
    SaslPlaintext,
    #[value(name = "sasl_ssl")]
    SaslSsl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MechanismFlag {
    #[value(name = "PLAIN")]
    Plain,
    #[value(name = "SCRAM-SHA-256")]
    ScramSha256,
    #[value(name = "SCRAM-SHA-512")]
    ScramSha512,
    #[value(name = "OAUTHBEARER")]
    OAuthBearer,
}

/// Flags over the `[kafka]` security settings; each wins over the file and the environment.
#[derive(Debug, Clone, Default, Args)]
pub struct KafkaSecurityFlags {
    /// Kafka's `security.protocol` (default plaintext).
    #[arg(long, value_enum)]
    pub kafka_security_protocol: Option<ProtocolFlag>,
    /// SASL mechanism, for sasl_ssl and sasl_plaintext.
    #[arg(long, value_enum)]
    pub kafka_sasl_mechanism: Option<MechanismFlag>,
    /// SASL user of PLAIN and SCRAM.
    #[arg(long)]
    pub kafka_sasl_username: Option<String>,
    /// File holding the SASL password (or set `CAIRN__KAFKA__SASL__PASSWORD`).
    #[arg(long)]
    pub kafka_sasl_password_file: Option<PathBuf>,
    /// PEM file of the CAs that sign the brokers' certificates (default: the system's).
    #[arg(long)]
    pub kafka_tls_ca_file: Option<PathBuf>,
    /// PEM certificate this node presents to brokers that require one (mutual TLS).
    #[arg(long)]
    pub kafka_tls_cert_file: Option<PathBuf>,
    /// PEM private key of `--kafka-tls-cert-file`.
    #[arg(long)]
    pub kafka_tls_key_file: Option<PathBuf>,
}

impl KafkaSecurityFlags {
    /// Whether no flag was given.
    pub fn is_empty(&self) -> bool {
        self.kafka_security_protocol.is_none()
            && self.kafka_sasl_mechanism.is_none()
            && self.kafka_sasl_username.is_none()
            && self.kafka_sasl_password_file.is_none()
            && self.kafka_tls_ca_file.is_none()
            && self.kafka_tls_cert_file.is_none()
            && self.kafka_tls_key_file.is_none()
    }

    /// Sets what the flags give on `kafka`, leaving the rest as it is.
    pub fn apply(&self, kafka: &mut KafkaConfig) {
        if let Some(protocol) = self.kafka_security_protocol {
            kafka.security_protocol = match protocol {
                ProtocolFlag::Plaintext => SecurityProtocol::Plaintext,
                ProtocolFlag::Ssl => SecurityProtocol::Ssl,
                ProtocolFlag::SaslPlaintext => SecurityProtocol::SaslPlaintext,
                ProtocolFlag::SaslSsl => SecurityProtocol::SaslSsl,
            };
        }
        if let Some(mechanism) = self.kafka_sasl_mechanism {
            kafka.sasl.mechanism = Some(match mechanism {
                MechanismFlag::Plain => SaslMechanism::Plain,
                MechanismFlag::ScramSha256 => SaslMechanism::ScramSha256,
                MechanismFlag::ScramSha512 => SaslMechanism::ScramSha512,
                MechanismFlag::OAuthBearer => SaslMechanism::OAuthBearer,
            });
        }
        if let Some(username) = &self.kafka_sasl_username {
            kafka.sasl.username = Some(username.clone());
        }
        if let Some(path) = &self.kafka_sasl_password_file {
            // The file replaces a password from a lower layer rather than clashing with it.
            kafka.sasl.password = None;
            kafka.sasl.password_file = Some(path.clone());
        }
        if let Some(path) = &self.kafka_tls_ca_file {
            kafka.tls.ca_file = Some(path.clone());
        }
        if let Some(path) = &self.kafka_tls_cert_file {
            kafka.tls.cert_file = Some(path.clone());
        }
        if let Some(path) = &self.kafka_tls_key_file {
            kafka.tls.key_file = Some(path.clone());
        }
    }
}
