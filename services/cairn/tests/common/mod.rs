//! A dev server of this build for tests, and raw gRPC calls to it.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    str::FromStr,
    time::Duration,
};

use bytes::{Buf, BufMut};
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::Channel,
};

pub const SERVICE: &str = "temporal.api.workflowservice.v1.WorkflowService";

/// A dev server of this build, on free ports, its stderr in a file.
pub struct DevServer {
    pub child: Child,
    pub address: String,
    pub metrics: String,
    log: tempfile::NamedTempFile,
    _dir: tempfile::TempDir,
}

impl DevServer {
    /// Starts one with `env` added to its environment.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args([
                "server",
                "start-dev",
                "--headless",
                "--port",
                "0",
                "--log-level",
                "info",
            ])
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut address, mut metrics) = (None, None);
        while address.is_none() || metrics.is_none() {
            let line = lines
                .next()
                .expect("the dev server printed its addresses")
                .unwrap();
            let last = line.rsplit(' ').next().unwrap_or_default().to_string();
            if line.contains("frontend listening on") {
                address = Some(last);
            } else if line.contains("metrics listening on") {
                metrics = Some(last);
            }
        }
        // Keep draining stdout so the server never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            address: address.unwrap(),
            metrics: metrics.unwrap(),
            log,
            _dir: dir,
        }
    }

    /// Run transitions the server has made durable.
    pub async fn transitions(&self) -> f64 {
        let text = http_get(&self.metrics, "/metrics").await;
        text.lines()
            .find_map(|line| line.strip_prefix("cairn_history_transitions_total "))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _killed = self.child.kill();
        let _reaped = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET, enough for `/metrics`.
async fn http_get(address: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text
}

/// Sends message bytes as they are, whatever they hold.
#[derive(Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut bytes = vec![0; src.remaining()];
        src.copy_to_slice(&mut bytes);
        Ok(Some(bytes))
    }
}

/// Calls `method` with `body` as its request message; at most a few seconds (long polls
/// answer empty before their deadline).
pub async fn call(channel: &Channel, method: &str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    call_with(channel, method, body, &[]).await
}

/// [`call`], with gRPC metadata.
pub async fn call_with(
    channel: &Channel,
    method: &str,
    body: Vec<u8>,
    metadata: &[(&'static str, &str)],
) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    let path = http::uri::PathAndQuery::from_str(&format!("/{SERVICE}/{method}")).unwrap();
    let mut request = tonic::Request::new(body);
    request.set_timeout(Duration::from_secs(3));
    for (key, value) in metadata {
        request
            .metadata_mut()
            .insert(*key, value.parse().expect("metadata values are ASCII"));
    }
    let answer = tokio::time::timeout(Duration::from_secs(20), grpc.unary(request, path, Raw))
        .await
        .expect("every call is answered");
    answer.map(tonic::Response::into_inner)
}
