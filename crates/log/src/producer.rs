//! Appending records: an idempotent producer that answers only after `acks=all`.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use tokio::time::Instant;

use crate::LogError;
use crate::config::{KafkaConfig, millis};

/// Pause before retrying to enqueue when librdkafka's local queue is full. The queue drains as
/// the broker acknowledges batches, which takes about one round trip.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(5);

/// Appends records to Kafka and reports their offsets once every in-sync replica has them.
///
/// An offset can be unknown: when a send is retried after its first attempt reached the
/// broker (a lost answer, a timeout), the broker recognises the retry as a duplicate and
/// acknowledges it without saying where the record is. Such appends report `None`; the
/// record is in the log, before [`LogProducer::end_offset`].
///
/// Cloning is cheap and clones share one librdkafka producer, so concurrent appends from many
/// tasks are batched together (group commit). Records appended to one partition land in the
/// order their `append` calls (or their positions in one `append_all`) were made.
#[derive(Clone)]
pub struct LogProducer {
    inner: Arc<Inner>,
}

struct Inner {
    producer: FutureProducer,
    /// How long an append may wait for room in librdkafka's local queue.
    enqueue_timeout: Duration,
    /// How long a watermark query may take.
    admin_timeout: Duration,
}

impl std::fmt::Debug for LogProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogProducer").finish_non_exhaustive()
    }
}

impl LogProducer {
    /// Creates the producer. Brokers are contacted lazily, on the first append.
    pub fn connect(config: &KafkaConfig) -> Result<Self, LogError> {
        let mut client = config.client_config("producer")?;
        client
            // No duplicates and no reordering within a partition when requests are retried:
            // the broker deduplicates by producer id and sequence number.
            .set("enable.idempotence", "true")
            // An append counts only once every in-sync replica has it (invariant 1, durable
            // before acknowledged). Idempotence implies it; stated so nobody weakens it.
            .set("acks", "all")
            // The most in-flight requests per broker for which idempotence keeps order.
            .set("max.in.flight.requests.per.connection", "5")
            // Retry transient failures for as long as the delivery timeout allows, not a
            // fixed number of times.
            .set("retries", i32::MAX.to_string())
            // Retry soon (brokers recover from leader moves in milliseconds), backing off
            // exponentially up to one second.
            .set("retry.backoff.ms", "10")
            .set("retry.backoff.max.ms", "1000")
            // An append fails after this instead of hanging; the caller then treats its
            // outcome as unknown.
            .set("delivery.timeout.ms", millis(config.delivery_timeout))
            // A produce request without an answer by then is retried.
            .set("request.timeout.ms", millis(config.request_timeout))
            // The group commit window: records appended within it share a request.
            .set("linger.ms", millis(config.linger))
            // One record holds a whole request's events, and Temporal accepts payloads of
            // up to 2 MB (several per request): librdkafka's 1 MB default is too small.
            .set("message.max.bytes", crate::MAX_RECORD_BYTES.to_string());
        let producer = client.create().map_err(|source| LogError::Connect {
            role: "producer",
            source,
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                producer,
                enqueue_timeout: config.delivery_timeout,
                admin_timeout: config.admin_timeout,
            }),
        })
    }

    /// Appends one record to `topic`/`partition` and returns its offset (when Kafka told it),
    /// once Kafka has acknowledged it with `acks=all`.
    ///
    /// On error the record may or may not have been written.
    pub async fn append(
        &self,
        topic: &str,
        partition: i32,
        key: &[u8],
        payload: &[u8],
    ) -> Result<Option<i64>, LogError> {
        check_partition(topic, partition)?;
        let delivery = self.enqueue(topic, partition, key, payload).await?;
        delivered_offset(delivery, topic, partition).await
    }

    /// Appends records given as `(topic, partition, key, payload)` and returns their offsets
    /// (when Kafka told them) in input order, once Kafka has acknowledged all of them with
    /// `acks=all`.
    ///
    /// All records are handed to librdkafka before the first acknowledgement is awaited, so
    /// records for one partition travel in as few requests as possible and partitions are
    /// written concurrently. Records for one partition keep their input order.
    ///
    /// Nothing is written when a partition number is invalid. On any other error some records
    /// may have been written; the caller must treat the whole batch's outcome as unknown.
    pub async fn append_all(
        &self,
        records: Vec<(String, i32, Vec<u8>, Vec<u8>)>,
    ) -> Result<Vec<Option<i64>>, LogError> {
        for (topic, partition, _, _) in &records {
            check_partition(topic, *partition)?;
        }
        let mut deliveries = Vec::with_capacity(records.len());
        for (topic, partition, key, payload) in &records {
            deliveries.push(self.enqueue(topic, *partition, key, payload).await?);
        }
        let mut offsets = Vec::with_capacity(records.len());
        for ((topic, partition, _, _), delivery) in records.iter().zip(deliveries) {
            offsets.push(delivered_offset(delivery, topic, *partition).await?);
        }
        Ok(offsets)
    }

    /// Returns the high watermark of `topic`/`partition`: every record acknowledged so far
    /// lies before it.
    pub async fn end_offset(&self, topic: &str, partition: i32) -> Result<i64, LogError> {
        let inner = Arc::clone(&self.inner);
        let topic = topic.to_owned();
        crate::admin::blocking(move || {
            let (_low, high) = crate::admin::retried(inner.admin_timeout, |remaining| {
                inner
                    .producer
                    .client()
                    .fetch_watermarks(&topic, partition, remaining)
            })
            .map_err(|source| LogError::Watermarks {
                topic: topic.clone(),
                partition,
                source,
            })?;
            Ok(high)
        })
        .await
    }

    /// Hands one record to librdkafka, waiting while its local queue is full.
    async fn enqueue(
        &self,
        topic: &str,
        partition: i32,
        key: &[u8],
        payload: &[u8],
    ) -> Result<DeliveryFuture, LogError> {
        let deadline = Instant::now() + self.inner.enqueue_timeout;
        loop {
            let record = FutureRecord::to(topic)
                .partition(partition)
                .key(key)
                .payload(payload);
            match self.inner.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if Instant::now() < deadline =>
                {
                    tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
                }
                Err((source, _)) => {
                    return Err(LogError::Append {
                        topic: topic.to_owned(),
                        partition,
                        source,
                    });
                }
            }
        }
    }
}

/// Rejects partition numbers librdkafka would not take literally: a negative one means "let
/// the partitioner choose", which would put a record in a partition its owner does not read.
fn check_partition(topic: &str, partition: i32) -> Result<(), LogError> {
    if partition < 0 {
        return Err(LogError::InvalidPartition {
            topic: topic.to_owned(),
            partition,
        });
    }
    Ok(())
}

async fn delivered_offset(
    delivery: DeliveryFuture,
    topic: &str,
    partition: i32,
) -> Result<Option<i64>, LogError> {
    match delivery.await {
        Ok(Ok(delivery)) => {
            debug_assert_eq!(
                delivery.partition, partition,
                "explicit partitions are kept"
            );
            // A retry the broker took for a duplicate is acknowledged without its offset.
            Ok((delivery.offset >= 0).then_some(delivery.offset))
        }
        Ok(Err((source, _record))) => Err(LogError::Append {
            topic: topic.to_owned(),
            partition,
            source,
        }),
        Err(_canceled) => Err(LogError::DeliveryLost {
            topic: topic.to_owned(),
            partition,
        }),
    }
}
