//! The public port's TLS flags that `server start` and `server start-dev` share. TLS between
//! nodes (`[tls.internode]`) is set in the config file or the environment.

use std::path::PathBuf;

use cairn_cluster::tls::TlsSettings;
use clap::Args;

/// Flags over the `[tls.frontend]` settings; each wins over the file and the environment.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsFlags {
    /// PEM certificate chain the public gRPC port presents (TLS is off without one).
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `--tls-cert-file`.
    #[arg(long)]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CAs whose client certificates the public port requires (mutual TLS; repeatable).
    #[arg(long)]
    pub tls_client_ca_file: Vec<PathBuf>,
    /// How often the certificate files are read again (default 30s; 0s: never).
    #[arg(long)]
    pub tls_refresh_interval: Option<humantime::Duration>,
}

impl TlsFlags {
    /// Sets what the flags give on `tls`, leaving the rest as it is.
    pub fn apply(&self, tls: &mut TlsSettings) {
        if let Some(path) = &self.tls_cert_file {
            tls.frontend.cert_file = Some(path.clone());
        }
        if let Some(path) = &self.tls_key_file {
            tls.frontend.key_file = Some(path.clone());
        }
        if !self.tls_client_ca_file.is_empty() {
            tls.frontend
                .client_ca_files
                .clone_from(&self.tls_client_ca_file);
        }
        if let Some(interval) = self.tls_refresh_interval {
            tls.refresh_interval = interval.into();
        }
    }
}
