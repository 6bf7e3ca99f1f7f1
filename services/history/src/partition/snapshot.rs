//! Snapshots of a partition's state, so that a node with no state of its own does not replay
//! the partition's whole log: the owner copies its cache to the snapshots topic every so many
//! transitions, and a claimant with no (or an older) cache loads the latest complete copy and
//! replays only the records after it. See `cairn_schemas::SnapshotRecord` for the layout.

use cairn_engine::PartitionId;
use cairn_log::{LogProducer, LogReader};
use cairn_schemas::{Entry, SnapshotRecord};
use cairn_state::{Checkpoint, StateDb};
use tracing::{debug, info, warn};

use crate::HistoryError;

/// Where snapshots go and how often.
///
/// An owner snapshots its partition after `every` transitions, and at the latest `interval`
/// after the previous snapshot began if anything changed since: the history topic may
/// delete records older than its retention, and whatever came after the latest snapshot
/// must be younger than that (see `cairn_cluster::topics` for the retention this needs).
/// The snapshot topic is compacted, so the latest snapshot stays however old it is.
#[derive(Debug, Clone)]
pub struct SnapshotConfig {
    pub topic: String,
    /// Transitions applied between two snapshots.
    pub every: u64,
    /// The longest time between two snapshots.
    pub interval: std::time::Duration,
}

/// Entries per chunk stay under this many bytes, well below a record's limit.
const CHUNK_BYTES: usize = 1024 * 1024;

/// The latest complete snapshot of a partition, as found at the end of the topic.
#[derive(Debug, Clone)]
pub struct Found {
    pub snapshot_id: String,
    pub first_offset: i64,
    pub last_offset: i64,
    pub checkpoint: Checkpoint,
}

/// Finds the latest complete snapshot from the topic's last record. `None` when there is
/// none, or when it was written in another state format.
pub async fn latest(
    reader: &LogReader,
    topic: &str,
    partition: PartitionId,
) -> Result<Option<Found>, HistoryError> {
    let kafka_partition = partition as i32;
    let end = reader.end_offset(topic, kafka_partition).await?;
    if end == 0 {
        return Ok(None);
    }
    let Some(tail) = read_one(reader, topic, kafka_partition, end - 1).await? else {
        return Ok(None);
    };
    let (last_offset, last) = if tail.last {
        (end - 1, tail)
    } else if tail.previous_last_offset >= 0 {
        // The snapshot at the end was cut short; the one before it may have been compacted
        // away under it, chunk by chunk.
        let offset = tail.previous_last_offset;
        let Some(previous) = read_one(reader, topic, kafka_partition, offset).await? else {
            return Ok(None);
        };
        (offset, previous)
    } else {
        return Ok(None);
    };
    if !last.last || last.state_format != cairn_state::store_format() {
        return Ok(None);
    }
    let first_offset = if last.first_offset < 0 {
        last_offset
    } else {
        last.first_offset
    };
    // Retention may have deleted the snapshot's first chunks (a quiet partition whose owner
    // was away for longer than the topic keeps records): loading the rest would leave the
    // partition incomplete.
    let kept_from = reader.start_offset(topic, kafka_partition).await?;
    if kept_from > first_offset {
        warn!(
            partition,
            first_offset,
            kept_from,
            "the latest snapshot's first chunks were deleted by retention; not using it"
        );
        return Ok(None);
    }
    Ok(Some(Found {
        first_offset,
        last_offset,
        snapshot_id: last.snapshot_id,
        checkpoint: Checkpoint {
            next_offset: last.as_of_offset,
            epoch: last.epoch,
        },
    }))
}

/// The record at `offset`, or `None` when Kafka no longer has it (compacted, or deleted
/// by a retention the topic should not have) and the read lands on a later one.
async fn read_one(
    reader: &LogReader,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<Option<SnapshotRecord>, HistoryError> {
    let mut stream = reader.open_partition(topic, partition, offset)?;
    loop {
        let record = stream.next().await?;
        if record.offset < offset {
            continue;
        }
        if record.offset > offset {
            return Ok(None);
        }
        return SnapshotRecord::decode(&record.payload)
            .map(Some)
            .map_err(|error| HistoryError::Snapshot {
                partition: partition as u32,
                message: cairn_runtime::report(&error).to_string(),
            });
    }
}

/// Copies a found snapshot into the state store. Its checkpoint is written with the last
/// chunk only, so a load cut short leaves the partition to be rebuilt from the log.
pub async fn load(
    reader: &LogReader,
    topic: &str,
    partition: PartitionId,
    found: &Found,
    db: &StateDb,
) -> Result<(), HistoryError> {
    let clearing = db.clone();
    tokio::task::spawn_blocking(move || clearing.clear_partition(partition))
        .await
        .expect("clearing does not panic")?;
    let mut stream = reader.open_partition(topic, partition as i32, found.first_offset)?;
    let mut entries = 0;
    // Chunks are numbered from 0; each must be there, in order, or the state is not whole.
    let mut next_chunk = 0;
    let mut whole = false;
    loop {
        let record = stream.next().await?;
        if record.offset > found.last_offset {
            break;
        }
        let Ok(chunk) = SnapshotRecord::decode(&record.payload) else {
            continue;
        };
        if chunk.snapshot_id != found.snapshot_id {
            continue;
        }
        if chunk.chunk != next_chunk {
            return Err(HistoryError::Snapshot {
                partition,
                message: format!(
                    "snapshot {} lacks chunk {next_chunk} (found {}); not loading it",
                    found.snapshot_id, chunk.chunk
                ),
            });
        }
        next_chunk += 1;
        let complete = chunk.last;
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = chunk
            .entries
            .into_iter()
            .map(|entry| (entry.key, entry.value))
            .collect();
        entries += pairs.len();
        let checkpoint = complete.then_some(found.checkpoint);
        let db = db.clone();
        tokio::task::spawn_blocking(move || db.import(partition, &pairs, checkpoint))
            .await
            .expect("importing does not panic")?;
        if complete {
            whole = true;
            break;
        }
    }
    if !whole {
        return Err(HistoryError::Snapshot {
            partition,
            message: format!(
                "snapshot {} ended before its last chunk; not using it",
                found.snapshot_id
            ),
        });
    }
    info!(
        partition,
        entries,
        as_of = found.checkpoint.next_offset,
        "partition loaded from a snapshot"
    );
    Ok(())
}

/// A snapshot written: the offset of its last chunk (the next one's "previous complete
/// snapshot") and the entries it copied.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub last_offset: i64,
    pub entries: u64,
}

/// Copies the partition's cache to the snapshots topic, chunk by chunk as it is read: only
/// a chunk or two are in memory at a time, whatever the partition's size.
pub async fn write(
    db: StateDb,
    producer: LogProducer,
    config: SnapshotConfig,
    partition: PartitionId,
    previous_last_offset: i64,
) -> Result<Option<Written>, HistoryError> {
    let (chunks, mut read) = tokio::sync::mpsc::channel::<(Checkpoint, Vec<Entry>)>(1);
    let reading = tokio::task::spawn_blocking(move || {
        db.export(partition, CHUNK_BYTES, |checkpoint, entries| {
            let entries = entries
                .into_iter()
                .map(|(key, value)| Entry { key, value })
                .collect();
            chunks.blocking_send((checkpoint, entries)).is_ok()
        })
    });
    let snapshot_id = uuid::Uuid::new_v4().to_string();
    let mut first_offset = -1;
    let mut last_offset = -1;
    let mut index = 0;
    // A chunk goes out once the next is read: the last one says it is the last.
    let mut held = read.recv().await;
    while let Some((checkpoint, entries)) = held {
        held = read.recv().await;
        let record = SnapshotRecord {
            snapshot_id: snapshot_id.clone(),
            partition: partition as i32,
            as_of_offset: checkpoint.next_offset,
            epoch: checkpoint.epoch,
            state_format: cairn_state::store_format().to_vec(),
            chunk: index,
            last: held.is_none(),
            first_offset,
            previous_last_offset,
            entries,
        };
        let offset = producer
            .append(
                &config.topic,
                partition as i32,
                // Keyed by place: compaction keeps the latest snapshot's every chunk, and
                // drops the chunks it replaced.
                format!("chunk-{index}").as_bytes(),
                &record.encode()?,
            )
            .await?;
        // Chunks are linked by offset: one acknowledged without its offset (a retried send
        // Kafka took for a duplicate) leaves a snapshot nobody can follow; the next is tried
        // after as many transitions again.
        let Some(offset) = offset else {
            return Err(HistoryError::Snapshot {
                partition,
                message: "kafka acknowledged a chunk without its offset".into(),
            });
        };
        if first_offset < 0 {
            first_offset = offset;
        }
        last_offset = offset;
        index += 1;
    }
    let Some((as_of, entries)) = reading.await.expect("exporting does not panic")? else {
        return Ok(None);
    };
    debug!(
        partition,
        chunks = index,
        entries,
        as_of = as_of.next_offset,
        "snapshot written"
    );
    Ok(Some(Written {
        last_offset,
        entries,
    }))
}

/// Logs a failed snapshot: the next one is tried at the next interval, or after as many
/// transitions again, whichever comes first.
pub fn failed(partition: PartitionId, error: &HistoryError) {
    warn!(partition, error = %cairn_runtime::report(error), "writing a snapshot failed");
}
