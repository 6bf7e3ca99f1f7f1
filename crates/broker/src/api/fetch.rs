//! Reads: a fetch answers as soon as any partition it asks for has records past its offset,
//! or when its wait runs out.

use std::time::Duration;

use kafka_protocol::messages::{
    FetchRequest, FetchResponse,
    fetch_response::{FetchableTopicResponse, PartitionData},
};
use tokio::time::Instant;

use crate::{Shared, errors};

/// The longest a fetch waits, whatever it asks.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub async fn fetch(shared: &Shared, request: FetchRequest) -> FetchResponse {
    let wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0)).min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0).max(1);
    let mut appended = shared.appended.subscribe();
    loop {
        appended.mark_unchanged();
        let (response, bytes, failed) = read(shared, &request);
        if bytes >= min_bytes || failed || Instant::now() >= deadline {
            return response;
        }
        if tokio::time::timeout_at(deadline, appended.changed())
            .await
            .is_err()
        {
            return read(shared, &request).0;
        }
    }
}

/// One pass over the partitions asked for: their records, how many bytes, and whether any
/// partition answered with an error (which a client must hear without waiting).
fn read(shared: &Shared, request: &FetchRequest) -> (FetchResponse, usize, bool) {
    let mut response = FetchResponse::default();
    let mut left = usize::try_from(request.max_bytes).unwrap_or(usize::MAX);
    let mut total = 0;
    let mut failed = false;
    for asked in &request.topics {
        let topic = shared.topics.get(&asked.topic);
        let mut answer = FetchableTopicResponse::default();
        answer.topic = asked.topic.clone();
        for wanted in &asked.partitions {
            let mut data = PartitionData::default();
            data.partition_index = wanted.partition;
            data.high_watermark = -1;
            data.last_stable_offset = -1;
            data.log_start_offset = -1;
            let Some(partition) = topic
                .as_ref()
                .and_then(|topic| topic.partition(wanted.partition))
            else {
                data.error_code = errors::UNKNOWN_TOPIC_OR_PARTITION;
                failed = true;
                answer.partitions.push(data);
                continue;
            };
            if total > 0 && left == 0 {
                // The response is full: this partition waits for the next fetch.
                data.high_watermark = partition.end();
                data.last_stable_offset = data.high_watermark;
                data.log_start_offset = 0;
                data.records = Some(bytes::Bytes::new());
                answer.partitions.push(data);
                continue;
            }
            // A partition's first batch comes whole, however large, so none is ever stuck.
            let limit = usize::try_from(wanted.partition_max_bytes)
                .unwrap_or(0)
                .min(left);
            match partition.read(wanted.fetch_offset, limit) {
                Ok(Some(read)) => {
                    data.high_watermark = read.end;
                    data.last_stable_offset = read.end;
                    data.log_start_offset = 0;
                    total += read.records.len();
                    left = left.saturating_sub(read.records.len());
                    data.records = Some(read.records);
                }
                Ok(None) => {
                    data.error_code = errors::OFFSET_OUT_OF_RANGE;
                    data.high_watermark = partition.end();
                    data.log_start_offset = 0;
                    failed = true;
                }
                Err(error) => {
                    tracing::warn!(topic = %asked.topic.as_str(), partition = wanted.partition, %error, "reading a partition");
                    data.error_code = errors::UNKNOWN_SERVER_ERROR;
                    failed = true;
                }
            }
            answer.partitions.push(data);
        }
        response.responses.push(answer);
    }
    (response, total, failed)
}
