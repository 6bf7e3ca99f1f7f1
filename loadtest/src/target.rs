//! The servers a run loads: given by address, or started here on free loopback ports (a
//! `cairn` binary's dev server, or the `temporal` CLI's), one after the other.
//!
//! `--target` takes `ADDRESS`, or comma-separated `key=value` pairs:
//! `name=…` (how reports call it), `address=HOST:PORT`, `pid=PID` (a server process whose
//! CPU and memory to report; repeat it for a server of several processes), `metrics=URL` (a
//! Prometheus endpoint whose `process_cpu_seconds_total` and `process_resident_memory_bytes`
//! to report instead; repeatable too), `start=cairn:PATH` or `start=temporal:PATH` (a dev
//! server to start for the run and stop after it).
//!
//! A dev server started here gets the same call-rate limits whichever it is: Temporal's
//! defaults (2,400 calls a second per frontend and per namespace) are raised to
//! [`RATE_LIMIT`], so that a run measures the server and not its limiter.

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    Cairn(String),
    Temporal(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    pub name: String,
    pub address: Option<String>,
    pub pids: Vec<u32>,
    pub metrics: Vec<String>,
    pub start: Option<Start>,
}

impl std::str::FromStr for TargetSpec {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Self> {
        if !text.contains('=') {
            return Ok(Self {
                name: text.to_string(),
                address: Some(text.to_string()),
                pids: Vec::new(),
                metrics: Vec::new(),
                start: None,
            });
        }
        let mut spec = Self {
            name: String::new(),
            address: None,
            pids: Vec::new(),
            metrics: Vec::new(),
            start: None,
        };
        for pair in text.split(',') {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("`{pair}` in --target is not key=value"))?;
            match key {
                "name" => spec.name = value.to_string(),
                "address" => spec.address = Some(value.to_string()),
                "pid" => spec
                    .pids
                    .push(value.parse().context("pid= takes a process id")?),
                "metrics" => spec.metrics.push(value.to_string()),
                "start" => {
                    spec.start = Some(match value.split_once(':') {
                        Some(("cairn", path)) => Start::Cairn(path.to_string()),
                        Some(("temporal", path)) => Start::Temporal(path.to_string()),
                        _ => bail!("start= takes cairn:PATH or temporal:PATH, not `{value}`"),
                    });
                }
                _ => bail!("--target has no key `{key}` (name, address, pid, metrics, start)"),
            }
        }
        ensure!(
            spec.address.is_some() != spec.start.is_some(),
            "a --target needs either address= or start=, not both"
        );
        if spec.name.is_empty() {
            spec.name = match (&spec.start, &spec.address) {
                (Some(Start::Cairn(_)), _) => "cairn".into(),
                (Some(Start::Temporal(_)), _) => "temporal".into(),
                (None, Some(address)) => address.clone(),
                (None, None) => unreachable!("checked above"),
            };
        }
        Ok(spec)
    }
}

/// A server ready for load: its address, its process if known, and the process to stop
/// afterwards if this run started it.
pub struct Server {
    pub address: String,
    pub pids: Vec<u32>,
    pub metrics: Vec<String>,
    child: Option<Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            // SIGKILL: a dev server started for the run keeps nothing.
            let _killed = child.kill();
            let _reaped = child.wait();
        }
    }
}

/// `frontend.rps` and `frontend.namespaceRPS` of the dev servers started here.
pub const RATE_LIMIT: u32 = 1_000_000;

/// The dynamic-config flags both dev servers take for the limits.
fn rate_limit_flags() -> Vec<String> {
    ["frontend.rps", "frontend.namespaceRPS"]
        .iter()
        .flat_map(|key| {
            [
                "--dynamic-config-value".to_string(),
                format!("{key}={RATE_LIMIT}"),
            ]
        })
        .collect()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Makes the target ready: starts it if asked, and waits until it answers.
pub async fn prepare(spec: &TargetSpec) -> anyhow::Result<Server> {
    match &spec.start {
        None => Ok(Server {
            address: spec.address.clone().unwrap_or_default(),
            pids: spec.pids.clone(),
            metrics: spec.metrics.clone(),
            child: None,
        }),
        Some(Start::Cairn(path)) => start_cairn(path),
        Some(Start::Temporal(path)) => start_temporal(path).await,
    }
}

/// `cairn server start-dev` on a free port; ready once it prints its frontend's address.
fn start_cairn(path: &str) -> anyhow::Result<Server> {
    let mut child = Command::new(path)
        .args(["server", "start-dev", "--headless", "--port", "0"])
        .args(rate_limit_flags())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {path}"))?;
    let stdout = child.stdout.take().context("the dev server's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let marker = "cairn frontend listening on ";
    let address = loop {
        let line = lines
            .next()
            .context("the dev server exited before it listened")??;
        if let Some(address) = line.strip_prefix(marker) {
            break address.trim().to_string();
        }
    };
    // Keep draining its stdout so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok(Server {
        address,
        pids: vec![child.id()],
        metrics: Vec::new(),
        child: Some(child),
    })
}

/// `temporal server start-dev` on free ports, in memory; ready once its frontend answers.
async fn start_temporal(path: &str) -> anyhow::Result<Server> {
    let port = free_port()?;
    let child = Command::new(path)
        .args(["server", "start-dev", "--headless", "--log-level", "error"])
        .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(rate_limit_flags())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {path}"))?;
    let server = Server {
        address: format!("127.0.0.1:{port}"),
        pids: vec![child.id()],
        metrics: Vec::new(),
        child: Some(child),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut client) =
            crate::connection::connect(&server.address, &crate::connection::Security::default())
                .await
        {
            let describe = cairn_api::proto::workflowservice::v1::DescribeNamespaceRequest {
                namespace: "default".into(),
                ..Default::default()
            };
            if client.describe_namespace(describe).await.is_ok() {
                return Ok(server);
            }
        }
        ensure!(
            Instant::now() < deadline,
            "the reference dev server did not answer within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_address_names_itself() {
        let spec: TargetSpec = "127.0.0.1:7233".parse().unwrap();
        assert_eq!(spec.address.as_deref(), Some("127.0.0.1:7233"));
        assert_eq!(spec.name, "127.0.0.1:7233");
    }

    #[test]
    fn pairs_name_start_address_and_pid() {
        let spec: TargetSpec = "name=ref,start=temporal:/bin/temporal".parse().unwrap();
        assert_eq!(spec.start, Some(Start::Temporal("/bin/temporal".into())));
        assert_eq!(spec.name, "ref");
        let spec: TargetSpec = "address=h:1,pid=42,pid=43,metrics=http://h:9/metrics"
            .parse()
            .unwrap();
        assert_eq!((spec.pids, spec.name.as_str()), (vec![42, 43], "h:1"));
        assert_eq!(spec.metrics, ["http://h:9/metrics"]);
    }

    #[test]
    fn bad_targets_say_why() {
        for bad in [
            "name=x",
            "address=a,start=cairn:/c",
            "start=java:/x",
            "colour=red",
        ] {
            assert!(bad.parse::<TargetSpec>().is_err(), "{bad}");
        }
    }
}
