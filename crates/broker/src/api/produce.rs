//! Writes: produce requests and producer IDs for idempotent producers.

use std::sync::atomic::Ordering;

use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, ProducerId,
    produce_response::{PartitionProduceResponse, TopicProduceResponse},
};

use super::text;
use crate::{Shared, errors, partition::AppendError};

/// Appends each partition's batches; `None` for `acks=0`, which gets no answer.
pub fn produce(shared: &Shared, request: ProduceRequest) -> Option<ProduceResponse> {
    let mut response = ProduceResponse::default();
    let mut appended = false;
    for topic_data in request.topic_data {
        let topic = shared.topics.get(&topic_data.name);
        let mut answer = TopicProduceResponse::default();
        for data in topic_data.partition_data {
            let mut written = PartitionProduceResponse::default();
            written.index = data.index;
            written.log_append_time_ms = -1;
            written.base_offset = -1;
            let partition = topic.as_ref().and_then(|topic| {
                topic
                    .partition(data.index)
                    .map(|partition| (partition, topic.max_message_bytes()))
            });
            match (partition, data.records) {
                (None, _) => written.error_code = errors::UNKNOWN_TOPIC_OR_PARTITION,
                (Some(_), None) => written.error_code = errors::CORRUPT_MESSAGE,
                (Some((partition, limit)), Some(records)) => {
                    match partition.append(records, limit) {
                        Ok(base) => {
                            written.base_offset = base;
                            appended = true;
                        }
                        Err(error) => {
                            written.error_code = code(&error);
                            written.error_message = Some(text(error.to_string()));
                            tracing::debug!(topic = %topic_data.name.as_str(), partition = data.index, %error, "produce refused");
                        }
                    }
                }
            }
            answer.partition_responses.push(written);
        }
        answer.name = topic_data.name;
        response.responses.push(answer);
    }
    if appended {
        shared.appended.send_modify(|count| *count += 1);
    }
    (request.acks != 0).then_some(response)
}

fn code(error: &AppendError) -> i16 {
    match error {
        AppendError::Batch(_) => errors::CORRUPT_MESSAGE,
        AppendError::TooLarge { .. } => errors::MESSAGE_TOO_LARGE,
        AppendError::OutOfOrder { .. } => errors::OUT_OF_ORDER_SEQUENCE_NUMBER,
        AppendError::Fenced { .. } => errors::INVALID_PRODUCER_EPOCH,
        AppendError::Transactional => errors::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        AppendError::Io(_) => errors::UNKNOWN_SERVER_ERROR,
    }
}

/// Hands an idempotent producer a new ID. Transactions are not supported.
pub fn init_producer_id(
    shared: &Shared,
    request: &InitProducerIdRequest,
) -> InitProducerIdResponse {
    let mut response = InitProducerIdResponse::default();
    if request.transactional_id.is_some() {
        response.error_code = errors::TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        response.producer_id = ProducerId(-1);
        response.producer_epoch = -1;
        return response;
    }
    response.producer_id = ProducerId(shared.next_producer_id.fetch_add(1, Ordering::Relaxed));
    response.producer_epoch = 0;
    response
}
