//! Connections: size-prefixed request frames in, responses out, one request at a time and
//! in order, as Kafka serves a connection.

use std::{net::SocketAddr, sync::Arc};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::{
    messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader},
    protocol::{Encodable, decode_request_header_from_buffer},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::{Shared, api};

/// Kafka's `socket.request.max.bytes`: a larger frame closes the connection.
const MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

pub async fn accept(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "accepting a broker connection");
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        let stop = stop.clone();
        cairn_runtime::supervise(
            "broker-connection",
            cairn_runtime::Failure::Logged,
            async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    served = serve(stream, peer, &shared) => {
                        if let Err(error) = served {
                            debug!(%peer, %error, "broker connection closed");
                        }
                    }
                }
            },
        );
    }
}

/// A request the broker will not answer: the connection is closed, as Kafka does.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("a request frame of {0} bytes is outside 0..={MAX_REQUEST_BYTES}")]
    FrameSize(i32),
    #[error("request header: {0:#}")]
    Header(anyhow::Error),
    #[error("{key:?} version {version} is not supported")]
    Version { key: ApiKey, version: i16 },
    #[error("{key:?} version {version} could not be read: {error:#}")]
    Body {
        key: ApiKey,
        version: i16,
        error: anyhow::Error,
    },
    #[error("encoding a response: {0:#}")]
    Encode(anyhow::Error),
}

async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
) -> Result<(), ConnectionError> {
    // Latency only: a socket that refuses no-delay still works.
    let _no_delay = stream.set_nodelay(true).is_ok();
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    loop {
        let size = match reader.read_i32().await {
            Ok(size) => size,
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        let size = usize::try_from(size)
            .ok()
            .filter(|size| *size <= MAX_REQUEST_BYTES && *size >= 4)
            .ok_or(ConnectionError::FrameSize(size))?;
        let mut frame = vec![0; size];
        reader.read_exact(&mut frame).await?;
        let mut frame = Bytes::from(frame);
        let Some(response) = answer(&mut frame, peer, shared).await? else {
            continue;
        };
        writer.write_all(&response).await?;
    }
}

/// Reads one request and answers it; `None` for a request that gets no answer (a produce
/// with `acks=0`).
async fn answer(
    frame: &mut Bytes,
    peer: SocketAddr,
    shared: &Shared,
) -> Result<Option<BytesMut>, ConnectionError> {
    let key_number = (&frame[..]).get_i16();
    let version = (&frame[2..]).get_i16();
    let Ok(key) = ApiKey::try_from(key_number) else {
        return Err(ConnectionError::Header(anyhow::anyhow!(
            "unknown API key {key_number}"
        )));
    };
    let supported = api::supported(key);
    if key == ApiKey::ApiVersions && supported.is_none_or(|range| version > range.1) {
        // A client newer than the broker asks at its own version; Kafka answers at version 0
        // with the versions it has, and the client asks again at one of those.
        let correlation_id = (&frame[4..]).get_i32();
        return Ok(Some(encode(
            correlation_id,
            key,
            0,
            &api::unsupported_api_versions().into(),
        )?));
    }
    let header: RequestHeader =
        decode_request_header_from_buffer(frame).map_err(ConnectionError::Header)?;
    if !supported.is_some_and(|(min, max)| (min..=max).contains(&version)) {
        return Err(ConnectionError::Version { key, version });
    }
    let request =
        RequestKind::decode(key, frame, version).map_err(|error| ConnectionError::Body {
            key,
            version,
            error,
        })?;
    let client = api::Client {
        id: header
            .client_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        host: peer.ip().to_string(),
        version,
    };
    let Some(response) = api::handle(shared, &client, request).await else {
        return Ok(None);
    };
    Ok(Some(encode(
        header.correlation_id,
        key,
        version,
        &response,
    )?))
}

fn encode(
    correlation_id: i32,
    key: ApiKey,
    version: i16,
    response: &kafka_protocol::messages::ResponseKind,
) -> Result<BytesMut, ConnectionError> {
    let mut body = BytesMut::new();
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    header
        .encode(&mut body, key.response_header_version(version))
        .map_err(ConnectionError::Encode)?;
    response
        .encode(&mut body, version)
        .map_err(ConnectionError::Encode)?;
    let mut framed = BytesMut::with_capacity(body.len() + 4);
    framed.put_i32(i32::try_from(body.len()).expect("responses are far below 2 GiB"));
    framed.extend_from_slice(&body);
    Ok(framed)
}
