//! Reading partitions from chosen offsets, each through its own stream.
//!
//! One librdkafka consumer serves every partition a node reads. Each partition's messages are
//! split off into a queue of their own before the partition is assigned, so partitions never
//! wait on one another:
//!
//! ```text
//!                    +--> split queue (topic, 0) --> PartitionStream
//!  StreamConsumer ---+--> split queue (topic, 7) --> PartitionStream
//!                    +--> main queue (errors only) --> driver task, logs them
//! ```
//!
//! The consumer has a `group.id` because librdkafka refuses manual assignment without one,
//! but it never subscribes, so it never joins the group, and it never commits offsets: the
//! caller keeps its own position next to its state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use rdkafka::consumer::{Consumer, DefaultConsumerContext, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::LogError;
use crate::config::{KafkaConfig, millis};

/// One record read back from a partition.
///
/// A Kafka null key or payload reads as empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
}

/// Reads partitions assigned by hand, each from an offset the caller chose.
///
/// There is no consumer group and there are no offset commits; the caller tracks its
/// position itself. Dropping the reader stops its driver task once every
/// [`PartitionStream`] it opened has been dropped too.
#[derive(Debug)]
pub struct LogReader {
    shared: Arc<Shared>,
}

struct Shared {
    consumer: Arc<StreamConsumer>,
    open: Mutex<OpenPartitions>,
    config: KafkaConfig,
    /// The task that serves the consumer's main queue; see [`drive_main_queue`].
    driver: AbortHandle,
}

/// The partitions that have a live stream, each with its "closed" flag.
///
/// An entry outlives `close_partition` until its stream is dropped: a new stream's queue would
/// be a second handle on the same librdkafka queue, and dropping the old handle would turn
/// off the wake-ups the new one relies on. So a partition reopens only after its previous
/// stream is gone.
type OpenPartitions = HashMap<(String, i32), watch::Sender<bool>>;

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl LogReader {
    /// Creates the consumer and starts the task that serves its main queue. Brokers are
    /// contacted lazily, when a partition is opened.
    ///
    /// # Panics
    ///
    /// When called outside a Tokio runtime.
    pub fn connect(config: &KafkaConfig) -> Result<Self, LogError> {
        let mut client = config.client_config("reader")?;
        client
            // Required by librdkafka for assign(); never joined (no subscribe), never
            // committed to, so readers that share it do not interact.
            .set("group.id", format!("{}-reader", config.client_id))
            // The caller stores its position itself, next to the state it derived.
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // A start offset outside the log (below its start after retention deleted
            // records, or past its end) reads from the oldest record still there. Callers
            // that must tell these apart compare their offset with the watermarks first.
            .set("auto.offset.reset", "earliest")
            // Cairn does not use transactions; every record written is meant to be read.
            .set("isolation.level", "read_uncommitted")
            // Bounds produce-to-read latency on brokers that hold fetches for this long.
            .set("fetch.wait.max.ms", millis(config.fetch_wait_max))
            // Reading only; topics are created explicitly with the partition count Cairn needs.
            .set("allow.auto.create.topics", "false")
            .set("enable.partition.eof", "false");
        let consumer: StreamConsumer = client.create().map_err(|source| LogError::Connect {
            role: "reader",
            source,
        })?;
        let consumer = Arc::new(consumer);
        // Serves the consumer's own events (errors, statistics); reads go through their
        // partition queues and do not depend on it.
        let driver = cairn_runtime::supervise(
            "reader-events",
            cairn_runtime::Failure::Logged,
            drive_main_queue(Arc::clone(&consumer)),
        )
        .abort_handle();
        let shared = Shared {
            consumer,
            open: Mutex::new(OpenPartitions::default()),
            config: config.clone(),
            driver,
        };
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// Starts reading `topic`/`partition` at `from_offset` (inclusive) and returns the stream
    /// of its records.
    ///
    /// A partition can be open once per reader at a time: it opens again once its previous
    /// stream has been dropped.
    pub fn open_partition(
        &self,
        topic: &str,
        partition: i32,
        from_offset: i64,
    ) -> Result<PartitionStream, LogError> {
        if partition < 0 {
            return Err(LogError::InvalidPartition {
                topic: topic.to_owned(),
                partition,
            });
        }
        if from_offset < 0 {
            let topic = topic.to_owned();
            return Err(LogError::InvalidOffset {
                topic,
                partition,
                offset: from_offset,
            });
        }
        let mut open = self.shared.lock_open();
        let id = (topic.to_owned(), partition);
        if let Some(closed) = open.get(&id) {
            let topic = id.0;
            if *closed.borrow() {
                return Err(LogError::StreamStillAlive { topic, partition });
            }
            return Err(LogError::AlreadyOpen { topic, partition });
        }
        // The queue is split off before the partition is assigned, so that no record of it
        // is ever fetched into the main queue. librdkafka remembers that the partition's
        // queue was redirected, so this holds across later reassignments too.
        let queue = self
            .shared
            .consumer
            .split_partition_queue(topic, partition)
            .ok_or_else(|| LogError::InvalidTopic {
                topic: topic.to_owned(),
            })?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition, Offset::Offset(from_offset))
            .and_then(|()| self.shared.consumer.incremental_assign(&assignment))
            .map_err(|source| LogError::Assign {
                topic: topic.to_owned(),
                partition,
                source,
            })?;
        let (closed_tx, closed) = watch::channel(false);
        open.insert(id, closed_tx);
        drop(open);
        Ok(PartitionStream {
            topic: topic.to_owned(),
            partition,
            queue,
            closed,
            shared: Arc::clone(&self.shared),
        })
    }

    /// Stops reading `topic`/`partition`. Its stream then answers [`LogError::Closed`], a
    /// `next` that is waiting included. Closing a partition that is not open does nothing.
    ///
    /// Dropping the stream closes the partition too, and only then can it be opened again.
    pub fn close_partition(&self, topic: &str, partition: i32) {
        let open = self.shared.lock_open();
        if let Some(closed) = open.get(&(topic.to_owned(), partition)) {
            let was_closed = closed.send_replace(true);
            if !was_closed {
                self.shared.unassign(topic, partition);
            }
        }
    }

    /// Returns the partition's high watermark (the offset the next record will get), asking
    /// the partition leader.
    pub async fn end_offset(&self, topic: &str, partition: i32) -> Result<i64, LogError> {
        Ok(self.watermarks(topic, partition).await?.1)
    }

    /// Returns the partition's low watermark: the oldest offset Kafka still keeps, above 0
    /// once retention deleted the records before it.
    pub async fn start_offset(&self, topic: &str, partition: i32) -> Result<i64, LogError> {
        Ok(self.watermarks(topic, partition).await?.0)
    }

    /// Asks the partition leader through the shared consumer and, if that fails, once more
    /// through a fresh client: after brokers die and come back, a long-lived client can keep
    /// a partition's metadata stale and answer "Unknown partition" for minutes, which a new
    /// client, reading the metadata afresh, does not.
    async fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), LogError> {
        let consumer = Arc::clone(&self.shared.consumer);
        let config = self.shared.config.clone();
        let topic = topic.to_owned();
        crate::admin::blocking(move || {
            let timeout = config.admin_timeout;
            crate::admin::watermarks(consumer.as_ref(), &topic, partition, timeout).or_else(
                |error| {
                    tracing::warn!(topic, partition, %error, "asking again with a fresh client");
                    let fresh = crate::admin::metadata_client(&config)?;
                    crate::admin::watermarks(&fresh, &topic, partition, timeout)
                },
            )
        })
        .await
    }
}

impl Shared {
    fn lock_open(&self) -> MutexGuard<'_, OpenPartitions> {
        // The map stays consistent even if a holder panicked: every update is one call.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn unassign(&self, topic: &str, partition: i32) {
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition(topic, partition);
        if let Err(error) = self.consumer.incremental_unassign(&assignment) {
            tracing::warn!(topic, partition, %error, "cannot unassign partition from the reader");
        }
    }
}

/// Serves the consumer's main queue, which librdkafka needs polled to deliver errors and
/// other events. No records arrive there, since every partition's queue is split off before
/// it is assigned.
async fn drive_main_queue(consumer: Arc<StreamConsumer>) {
    loop {
        match consumer.recv().await {
            Ok(message) => tracing::warn!(
                topic = message.topic(),
                partition = message.partition(),
                offset = message.offset(),
                "record arrived on the reader's main queue and is ignored"
            ),
            // Usually transient (a broker connection dropped); librdkafka retries on its own.
            Err(error) => tracing::warn!(%error, "kafka reader reports an error"),
        }
    }
}

/// The records of one partition, in offset order, from the offset it was opened at.
///
/// Dropping the stream closes the partition in its reader.
pub struct PartitionStream {
    topic: String,
    partition: i32,
    queue: StreamPartitionQueue<DefaultConsumerContext>,
    /// Becomes true when [`LogReader::close_partition`] closes the partition.
    closed: watch::Receiver<bool>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PartitionStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionStream")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .finish_non_exhaustive()
    }
}

impl PartitionStream {
    /// Returns the topic this stream reads.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Returns the partition this stream reads.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Waits for the partition's next record.
    ///
    /// An error does not end the stream: librdkafka keeps fetching, and the next call may
    /// return a record again. Cancel-safe: dropping the future loses no record.
    pub async fn next(&mut self) -> Result<Record, LogError> {
        let topic = &self.topic;
        let partition = self.partition;
        tokio::select! {
            biased;
            // Ready at once when already closed. Its error (the sender is gone) cannot happen
            // here: the sender lives in the reader until this stream is dropped.
            _ = self.closed.wait_for(|closed| *closed) => {
                Err(LogError::Closed { topic: topic.clone(), partition })
            }
            received = self.queue.recv() => match received {
                Ok(message) => Ok(to_record(&message)),
                Err(source) => Err(LogError::Read { topic: topic.clone(), partition, source }),
            },
        }
    }
}

impl Drop for PartitionStream {
    fn drop(&mut self) {
        let mut open = self.shared.lock_open();
        let id = (std::mem::take(&mut self.topic), self.partition);
        if let Some(closed) = open.remove(&id) {
            let was_closed = closed.send_replace(true);
            if !was_closed {
                self.shared.unassign(&id.0, id.1);
            }
        }
    }
}

fn to_record(message: &BorrowedMessage<'_>) -> Record {
    Record {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().unwrap_or_default().to_vec(),
        payload: message.payload().unwrap_or_default().to_vec(),
    }
}
