//! The authorization flags that `server start` and `server start-dev` share.

use cairn_frontend::authorization::AuthSettings;
use clap::Args;

/// Flags over the `[authorization]` settings; each wins over the file and the environment.
#[derive(Debug, Clone, Default, Args)]
pub struct AuthFlags {
    /// JSON Web Key Set of the keys that sign callers' tokens: a path, `file://` URI or
    /// `http(s)://` URL (repeatable). Turns authorization on: every call then needs a bearer
    /// token whose `permissions` claim grants it.
    #[arg(long)]
    pub jwt_key_source: Vec<String>,
    /// The audience tokens must name in `aud`.
    #[arg(long)]
    pub jwt_audience: Option<String>,
}

impl AuthFlags {
    /// Sets what the flags give on `settings`, leaving the rest as it is.
    pub fn apply(&self, settings: &mut AuthSettings) {
        if !self.jwt_key_source.is_empty() {
            settings.jwt_key_sources.clone_from(&self.jwt_key_source);
        }
        if let Some(audience) = &self.jwt_audience {
            settings.audience = Some(audience.clone());
        }
    }
}
