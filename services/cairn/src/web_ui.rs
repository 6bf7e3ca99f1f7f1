//! The Temporal Web UI beside the dev server: the official UI server (Go module
//! `github.com/temporalio/ui-server/v2`, which embeds the built UI; `scripts/setup` installs it
//! as `temporal-ui-server`) run as a child process whose gRPC client is this server's frontend.
//! `temporal server start-dev` serves the same UI from the same code, linked into its binary.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::Context;
use nix::{sys::signal::Signal, unistd::Pid};
use tokio::{net::TcpStream, process::Child};

/// The executable's name on `PATH` or beside `cairn`.
pub const BINARY_NAME: &str = "temporal-ui-server";
/// How long the UI server may take to listen.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How often startup checks whether the UI server listens yet.
const STARTUP_POLL: Duration = Duration::from_millis(50);
/// How long the UI server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The UI server's environment name: it reads `<config dir>/cairn.yaml`.
const ENVIRONMENT: &str = "cairn";

/// Where the UI server runs and what it talks to.
#[derive(Debug, Clone)]
pub struct WebUiConfig {
    pub binary: PathBuf,
    /// Address the UI listens on.
    pub listen: SocketAddr,
    /// The frontend's gRPC address, as the UI server dials it.
    pub frontend: SocketAddr,
    /// The namespace the UI opens first.
    pub default_namespace: String,
}

/// A running UI server; stopped by [`WebUi::stop`], killed if dropped.
#[derive(Debug)]
pub struct WebUi {
    child: Child,
    pub address: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The UI server to run: `explicit` (the `--ui-server` flag or `CAIRN_UI_SERVER`), else
/// `temporal-ui-server` on `PATH`, beside the running `cairn` executable, or where
/// `scripts/setup` links it (`$CAIRN_CACHE_DIR/bin`, by default `~/.cache/cairn/bin`).
pub fn find_binary(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>());
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let setup = std::env::var_os("CAIRN_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/cairn")))
        .map(|cache| cache.join("bin"));
    on_path
        .chain(beside)
        .chain(setup)
        .map(|dir| dir.join(BINARY_NAME))
        .find(|path| path.is_file())
}

/// The port the UI listens on: `requested` when given; else the gRPC port + 1000, as
/// `temporal server start-dev` does (7233 → 8233); a free one when that is 0 or too large.
pub fn choose_port(ip: IpAddr, requested: Option<u16>, grpc_port: u16) -> anyhow::Result<u16> {
    let wanted = match requested {
        Some(port) => port,
        None if grpc_port == 0 => 0,
        None => grpc_port.checked_add(1000).unwrap_or(0),
    };
    if wanted != 0 {
        return Ok(wanted);
    }
    let listener = std::net::TcpListener::bind((ip, 0))
        .with_context(|| format!("finding a free port for the Web UI on {ip}"))?;
    Ok(listener.local_addr()?.port())
}

impl WebUi {
    /// Writes the UI server's configuration into a temporary directory, starts it and
    /// waits until it listens.
    pub async fn start(config: WebUiConfig) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("cairn-web-ui-")
            .tempdir()
            .context("creating the Web UI's config directory")?;
        std::fs::write(
            dir.path().join(format!("{ENVIRONMENT}.yaml")),
            ui_server_yaml(&config),
        )
        .context("writing the Web UI's config")?;
        let log = dir.path().join("ui-server.log");
        let output = std::fs::File::create(&log).context("creating the Web UI's log")?;
        let child = tokio::process::Command::new(&config.binary)
            .arg("--root")
            .arg(dir.path())
            .args(["--config", ".", "--env", ENVIRONMENT, "start"])
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("running {}", config.binary.display()))?;
        let mut ui = WebUi {
            child,
            address: config.listen,
            log,
            _dir: dir,
        };
        ui.wait_listening().await?;
        Ok(ui)
    }

    async fn wait_listening(&mut self) -> anyhow::Result<()> {
        let dial = SocketAddr::new(dialable(self.address.ip()), self.address.port());
        let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "the Web UI server exited ({status}) before listening on {}:\n{}",
                    self.address,
                    self.log_tail()
                );
            }
            if TcpStream::connect(dial).await.is_ok() {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the Web UI server did not listen on {} within {STARTUP_TIMEOUT:?}:\n{}",
                self.address,
                self.log_tail()
            );
            tokio::time::sleep(STARTUP_POLL).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Asks the UI server to exit (SIGTERM) and kills it if it does not in time.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok()) {
            // An error means it already exited: waiting collects it.
            if nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM).is_err()
                || tokio::time::timeout(STOP_TIMEOUT, self.child.wait())
                    .await
                    .is_ok()
            {
                return;
            }
        }
        if let Err(error) = self.child.kill().await {
            tracing::warn!("stopping the Web UI server: {error}");
        }
    }
}

/// An address a client can dial for a server listening on `ip` (the unspecified address
/// listens on loopback too).
fn dialable(ip: IpAddr) -> IpAddr {
    if ip.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        ip
    }
}

/// The UI server's configuration: where it listens, the frontend it calls, and the dev
/// server's defaults (no auth, cookies over plain HTTP, no request log).
fn ui_server_yaml(config: &WebUiConfig) -> String {
    let frontend = SocketAddr::new(dialable(config.frontend.ip()), config.frontend.port());
    format!(
        "temporalGrpcAddress: \"{frontend}\"\n\
         host: \"{host}\"\n\
         port: {port}\n\
         enableUi: true\n\
         defaultNamespace: \"{namespace}\"\n\
         hideLogs: true\n\
         cors:\n  cookieInsecure: true\n",
        host = config.listen.ip(),
        port = config.listen.port(),
        namespace = config.default_namespace.replace('"', ""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ui_port_follows_the_grpc_port_as_temporal_does() {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(choose_port(ip, None, 7233).unwrap(), 8233);
        assert_eq!(choose_port(ip, Some(9000), 7233).unwrap(), 9000);
        assert_ne!(choose_port(ip, None, 0).unwrap(), 0);
        assert_ne!(choose_port(ip, Some(0), 7233).unwrap(), 0);
        assert_ne!(choose_port(ip, None, 65000).unwrap(), 0);
    }

    #[test]
    fn the_ui_server_dials_loopback_when_the_frontend_listens_everywhere() {
        let yaml = ui_server_yaml(&WebUiConfig {
            binary: PathBuf::from(BINARY_NAME),
            listen: "0.0.0.0:8233".parse().unwrap(),
            frontend: "0.0.0.0:7233".parse().unwrap(),
            default_namespace: "default".into(),
        });
        assert!(
            yaml.contains("temporalGrpcAddress: \"127.0.0.1:7233\""),
            "{yaml}"
        );
        assert!(yaml.contains("host: \"0.0.0.0\""), "{yaml}");
        assert!(yaml.contains("port: 8233"), "{yaml}");
    }
}
