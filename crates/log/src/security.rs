//! How Cairn's Kafka clients authenticate and encrypt: TLS, mutual TLS and SASL (PLAIN,
//! SCRAM-SHA-256/512, OAUTHBEARER), as Kafka's own client settings name them.
//!
//! Secrets (passwords, client secrets, key passwords) come from the configuration file, the
//! environment (`CAIRN__KAFKA__SASL__PASSWORD`) or a file (`password_file`), never from a
//! command line, and files are read each time a client is created, so a rotated secret is
//! picked up by the next client. Settings that cannot work together are refused with a
//! message that names the setting to change.

use std::fmt;
use std::path::{Path, PathBuf};

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// Kafka's `security.protocol`: whether the connection is encrypted and whether the client
/// authenticates with SASL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    #[default]
    #[serde(alias = "PLAINTEXT")]
    Plaintext,
    #[serde(alias = "SSL")]
    Ssl,
    #[serde(alias = "SASL_PLAINTEXT")]
    SaslPlaintext,
    #[serde(alias = "SASL_SSL")]
    SaslSsl,
}

impl SecurityProtocol {
    fn property(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.property())
    }
}

/// Kafka's `sasl.mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN", alias = "plain")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256", alias = "scram-sha-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512", alias = "scram-sha-512")]
    ScramSha512,
    #[serde(rename = "OAUTHBEARER", alias = "oauthbearer")]
    OAuthBearer,
}

impl SaslMechanism {
    fn property(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.property())
    }
}

/// A secret value: shown as `"<redacted>"` by `Debug`, so it never reaches a log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// TLS settings, used when the protocol is `ssl` or `sasl_ssl`. Every file is PEM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// The CA certificates that sign the brokers' certificates (`ssl.ca.location`); the
    /// system's trusted CAs when unset.
    pub ca_file: Option<PathBuf>,
    /// The certificate (chain) this client presents to brokers that require one (mutual
    /// TLS; `ssl.certificate.location`).
    pub cert_file: Option<PathBuf>,
    /// The private key of `cert_file` (`ssl.key.location`).
    pub key_file: Option<PathBuf>,
    /// The password of an encrypted `key_file` (`ssl.key.password`).
    pub key_password: Option<Secret>,
    /// A file holding the password of an encrypted `key_file`.
    pub key_password_file: Option<PathBuf>,
    /// Whether a broker's certificate must name the host the client connected to
    /// (`ssl.endpoint.identification.algorithm=https`). On by default, as in Kafka's clients.
    pub verify_hostname: bool,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            ca_file: None,
            cert_file: None,
            key_file: None,
            key_password: None,
            key_password_file: None,
            verify_hostname: true,
        }
    }
}

impl TlsSettings {
    fn is_set(&self) -> bool {
        self.ca_file.is_some()
            || self.cert_file.is_some()
            || self.key_file.is_some()
            || self.key_password.is_some()
            || self.key_password_file.is_some()
    }
}

/// SASL settings, used when the protocol is `sasl_plaintext` or `sasl_ssl`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SaslSettings {
    pub mechanism: Option<SaslMechanism>,
    /// The user of PLAIN and SCRAM (`sasl.username`).
    pub username: Option<String>,
    /// The password of PLAIN and SCRAM (`sasl.password`); prefer `password_file` or the
    /// `CAIRN__KAFKA__SASL__PASSWORD` environment variable to writing it in a file.
    pub password: Option<Secret>,
    /// A file holding the password (trailing newlines are ignored).
    pub password_file: Option<PathBuf>,
    pub oauthbearer: OAuthBearerSettings,
}

/// OAUTHBEARER settings: tokens from an OpenID Connect token endpoint by the client
/// credentials grant (Confluent Cloud, Strimzi with Keycloak and the like), or, for
/// development brokers only, unsecured tokens naming a principal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthBearerSettings {
    /// The token endpoint (`sasl.oauthbearer.token.endpoint.url`).
    pub token_endpoint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    /// A file holding the client secret.
    pub client_secret_file: Option<PathBuf>,
    /// The scope asked for (`sasl.oauthbearer.scope`).
    pub scope: Option<String>,
    /// SASL extensions sent with the token, `key=value,key=value`
    /// (`sasl.oauthbearer.extensions`; Confluent Cloud's `logicalCluster` and
    /// `identityPoolId`).
    pub extensions: Option<String>,
    /// Instead of an endpoint: unsecured tokens (`alg: none`) for this principal, which only
    /// brokers configured for testing accept.
    pub unsecured_principal: Option<String>,
}

/// A security setting that cannot work, or a secret file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("kafka security settings: {0}")]
    Invalid(String),
    #[error("cannot read kafka.{setting} {path}")]
    ReadFile {
        setting: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn invalid(message: impl Into<String>) -> SecurityError {
    SecurityError::Invalid(message.into())
}

/// Checks that the settings work together and adds them to `client`.
pub(crate) fn apply(
    protocol: SecurityProtocol,
    tls: &TlsSettings,
    sasl: &SaslSettings,
    client: &mut ClientConfig,
) -> Result<(), SecurityError> {
    if protocol == SecurityProtocol::Plaintext && !tls.is_set() && sasl.mechanism.is_none() {
        // Nothing typed: librdkafka's own default, or what `properties` said.
        return Ok(());
    }
    client.set("security.protocol", protocol.property());
    if protocol.uses_tls() {
        apply_tls(tls, client)?;
    } else if tls.is_set() {
        return Err(invalid(format!(
            "kafka.tls is set but kafka.security_protocol is {protocol}, which does not use \
             TLS: set security_protocol to ssl or sasl_ssl, or remove the tls settings"
        )));
    }
    match (protocol.uses_sasl(), sasl.mechanism) {
        (true, Some(mechanism)) => apply_sasl(mechanism, sasl, client),
        (true, None) => Err(invalid(format!(
            "kafka.security_protocol is {protocol} but kafka.sasl.mechanism is not set: set it \
             to PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"
        ))),
        (false, Some(mechanism)) => Err(invalid(format!(
            "kafka.sasl.mechanism is {mechanism} but kafka.security_protocol is {protocol}: set \
             security_protocol to sasl_ssl (or sasl_plaintext on a network you trust)"
        ))),
        (false, None) => Ok(()),
    }
}

fn apply_tls(tls: &TlsSettings, client: &mut ClientConfig) -> Result<(), SecurityError> {
    if let Some(ca) = &tls.ca_file {
        client.set("ssl.ca.location", existing("tls.ca_file", ca)?);
    }
    match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            client.set("ssl.certificate.location", existing("tls.cert_file", cert)?);
            client.set("ssl.key.location", existing("tls.key_file", key)?);
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(invalid(
                "kafka.tls.cert_file is set without kafka.tls.key_file: give both for mutual TLS",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "kafka.tls.key_file is set without kafka.tls.cert_file: give both for mutual TLS",
            ));
        }
    }
    if let Some(password) = secret(
        "tls.key_password",
        &tls.key_password,
        "tls.key_password_file",
        &tls.key_password_file,
    )? {
        client.set("ssl.key.password", password);
    }
    client.set(
        "ssl.endpoint.identification.algorithm",
        if tls.verify_hostname { "https" } else { "none" },
    );
    Ok(())
}

fn apply_sasl(
    mechanism: SaslMechanism,
    sasl: &SaslSettings,
    client: &mut ClientConfig,
) -> Result<(), SecurityError> {
    client.set("sasl.mechanism", mechanism.property());
    if mechanism == SaslMechanism::OAuthBearer {
        return apply_oauthbearer(&sasl.oauthbearer, client);
    }
    let username = sasl.username.as_deref().ok_or_else(|| {
        invalid(format!(
            "kafka.sasl.mechanism is {mechanism} but kafka.sasl.username is not set"
        ))
    })?;
    let password = secret(
        "sasl.password",
        &sasl.password,
        "sasl.password_file",
        &sasl.password_file,
    )?
    .ok_or_else(|| {
        invalid(format!(
            "kafka.sasl.mechanism is {mechanism} but no password is given: set \
             kafka.sasl.password_file or the CAIRN__KAFKA__SASL__PASSWORD environment variable"
        ))
    })?;
    client
        .set("sasl.username", username)
        .set("sasl.password", password);
    Ok(())
}

fn apply_oauthbearer(
    oauth: &OAuthBearerSettings,
    client: &mut ClientConfig,
) -> Result<(), SecurityError> {
    match (&oauth.token_endpoint, &oauth.unsecured_principal) {
        (Some(endpoint), None) => {
            let client_id = oauth.client_id.as_deref().ok_or_else(|| {
                invalid("kafka.sasl.oauthbearer.token_endpoint is set without client_id")
            })?;
            let client_secret = secret(
                "sasl.oauthbearer.client_secret",
                &oauth.client_secret,
                "sasl.oauthbearer.client_secret_file",
                &oauth.client_secret_file,
            )?
            .ok_or_else(|| {
                invalid(
                    "kafka.sasl.oauthbearer.token_endpoint is set without a client secret: set \
                     client_secret_file or CAIRN__KAFKA__SASL__OAUTHBEARER__CLIENT_SECRET",
                )
            })?;
            client
                .set("sasl.oauthbearer.method", "oidc")
                .set("sasl.oauthbearer.token.endpoint.url", endpoint)
                .set("sasl.oauthbearer.client.id", client_id)
                .set("sasl.oauthbearer.client.secret", client_secret);
            if let Some(scope) = &oauth.scope {
                client.set("sasl.oauthbearer.scope", scope);
            }
            if let Some(extensions) = &oauth.extensions {
                client.set("sasl.oauthbearer.extensions", extensions);
            }
            Ok(())
        }
        (None, Some(principal)) => {
            let mut config = format!("principal={principal}");
            if let Some(extensions) = &oauth.extensions {
                for extension in extensions.split(',').filter(|e| !e.is_empty()) {
                    config.push_str(&format!(" extension_{extension}"));
                }
            }
            client
                .set("enable.sasl.oauthbearer.unsecure.jwt", "true")
                .set("sasl.oauthbearer.config", config);
            Ok(())
        }
        (Some(_), Some(_)) => Err(invalid(
            "kafka.sasl.oauthbearer has both token_endpoint and unsecured_principal: keep one",
        )),
        (None, None) => Err(invalid(
            "kafka.sasl.mechanism is OAUTHBEARER but kafka.sasl.oauthbearer.token_endpoint is \
             not set (nor unsecured_principal, for test brokers)",
        )),
    }
}

/// The value of a secret given either inline or in a file, not both.
fn secret(
    inline_name: &'static str,
    inline: &Option<Secret>,
    file_name: &'static str,
    file: &Option<PathBuf>,
) -> Result<Option<String>, SecurityError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(invalid(format!(
            "both kafka.{inline_name} and kafka.{file_name} are set: keep one"
        ))),
        (Some(Secret(value)), None) => Ok(Some(value.clone())),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|source| SecurityError::ReadFile {
                setting: file_name,
                path: path.clone(),
                source,
            })?;
            Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
        }
        (None, None) => Ok(None),
    }
}

/// The path as librdkafka takes it, once it is known to be a readable file.
fn existing<'a>(setting: &'static str, path: &'a Path) -> Result<&'a str, SecurityError> {
    std::fs::File::open(path).map_err(|source| SecurityError::ReadFile {
        setting,
        path: path.to_owned(),
        source,
    })?;
    path.to_str()
        .ok_or_else(|| invalid(format!("kafka.{setting} {} is not UTF-8", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(
        protocol: SecurityProtocol,
        tls: &TlsSettings,
        sasl: &SaslSettings,
    ) -> Result<ClientConfig, SecurityError> {
        let mut client = ClientConfig::new();
        apply(protocol, tls, sasl, &mut client)?;
        Ok(client)
    }

    fn scram(password: Option<Secret>, password_file: Option<PathBuf>) -> SaslSettings {
        SaslSettings {
            mechanism: Some(SaslMechanism::ScramSha512),
            username: Some("cairn".into()),
            password,
            password_file,
            ..SaslSettings::default()
        }
    }

    #[test]
    fn plaintext_leaves_the_raw_properties_alone() {
        let client = applied(
            SecurityProtocol::Plaintext,
            &TlsSettings::default(),
            &SaslSettings::default(),
        )
        .unwrap();
        assert_eq!(client.get("security.protocol"), None);
        assert_eq!(client.get("sasl.mechanism"), None);
    }

    #[test]
    fn scram_over_tls_reads_the_password_file_without_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "pem").unwrap();
        let password = dir.path().join("password");
        std::fs::write(&password, "s3cret\n").unwrap();
        let tls = TlsSettings {
            ca_file: Some(ca.clone()),
            ..TlsSettings::default()
        };
        let client = applied(
            SecurityProtocol::SaslSsl,
            &tls,
            &scram(None, Some(password)),
        )
        .unwrap();
        assert_eq!(client.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(client.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(client.get("sasl.username"), Some("cairn"));
        assert_eq!(client.get("sasl.password"), Some("s3cret"));
        assert_eq!(client.get("ssl.ca.location"), ca.to_str());
        assert_eq!(
            client.get("ssl.endpoint.identification.algorithm"),
            Some("https")
        );
    }

    #[test]
    fn settings_that_cannot_work_name_what_to_change() {
        let sasl = scram(Some(Secret("x".into())), None);
        let error = applied(SecurityProtocol::Ssl, &TlsSettings::default(), &sasl)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("set security_protocol to sasl_ssl"),
            "{error}"
        );

        let error = applied(
            SecurityProtocol::SaslSsl,
            &TlsSettings::default(),
            &scram(None, None),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("CAIRN__KAFKA__SASL__PASSWORD"), "{error}");

        let both = scram(Some(Secret("x".into())), Some("p".into()));
        let error = applied(SecurityProtocol::SaslSsl, &TlsSettings::default(), &both)
            .unwrap_err()
            .to_string();
        assert!(error.contains("keep one"), "{error}");

        let tls = TlsSettings {
            cert_file: Some("client.pem".into()),
            ..TlsSettings::default()
        };
        let error = applied(SecurityProtocol::Ssl, &tls, &SaslSettings::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("key_file"), "{error}");

        let tls = TlsSettings {
            ca_file: Some("ca.pem".into()),
            ..TlsSettings::default()
        };
        let error = applied(SecurityProtocol::Plaintext, &tls, &SaslSettings::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("does not use TLS"), "{error}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let tls = TlsSettings {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsSettings::default()
        };
        let error = applied(SecurityProtocol::Ssl, &tls, &SaslSettings::default()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("tls.ca_file /nonexistent/ca.pem"),
            "{error}"
        );
    }

    #[test]
    fn oauthbearer_takes_an_oidc_endpoint_or_an_unsecured_principal() {
        let mut sasl = SaslSettings {
            mechanism: Some(SaslMechanism::OAuthBearer),
            ..SaslSettings::default()
        };
        sasl.oauthbearer.token_endpoint = Some("https://idp/token".into());
        sasl.oauthbearer.client_id = Some("cairn".into());
        sasl.oauthbearer.client_secret = Some(Secret("s".into()));
        sasl.oauthbearer.scope = Some("kafka".into());
        let client = applied(SecurityProtocol::SaslSsl, &TlsSettings::default(), &sasl).unwrap();
        assert_eq!(client.get("sasl.oauthbearer.method"), Some("oidc"));
        assert_eq!(
            client.get("sasl.oauthbearer.token.endpoint.url"),
            Some("https://idp/token")
        );
        assert_eq!(client.get("sasl.oauthbearer.client.secret"), Some("s"));
        assert_eq!(client.get("sasl.oauthbearer.scope"), Some("kafka"));

        sasl.oauthbearer = OAuthBearerSettings {
            unsecured_principal: Some("cairn".into()),
            ..OAuthBearerSettings::default()
        };
        let client = applied(SecurityProtocol::SaslSsl, &TlsSettings::default(), &sasl).unwrap();
        assert_eq!(
            client.get("enable.sasl.oauthbearer.unsecure.jwt"),
            Some("true")
        );
        assert_eq!(
            client.get("sasl.oauthbearer.config"),
            Some("principal=cairn")
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let sasl = scram(Some(Secret("hunter2".into())), None);
        assert!(!format!("{sasl:?}").contains("hunter2"));
    }
}
