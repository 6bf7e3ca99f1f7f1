//! One partition's log: its record batches, one after another, in a file laid out as a Kafka
//! log segment (`<topic>-<partition>/00000000000000000000.log`), with an index of the
//! batches in memory. Nothing is ever removed: the dev server keeps everything, as Temporal's
//! does, so a partition has no size or count at which records go missing.
//!
//! Appends write through to the operating system before they are acknowledged; they survive
//! the broker's process, not a power cut (there is no fsync).

use std::{
    collections::{HashMap, VecDeque},
    fs::{self, File, OpenOptions},
    io,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::Mutex,
};

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use crate::batch::{self, BatchError, BatchHeader};

/// Batches of one producer a partition remembers, to recognise a retried one: the most a
/// producer has in flight (`max.in.flight.requests.per.connection` ≤ 5 with idempotence).
const REMEMBERED_BATCHES: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(
        "a record batch of {size} bytes is larger than the topic's max.message.bytes ({limit})"
    )]
    TooLarge { size: usize, limit: usize },
    #[error("producer {producer_id} sent sequence {got} where {expected} was due")]
    OutOfOrder {
        producer_id: i64,
        expected: i32,
        got: i32,
    },
    #[error("producer {producer_id} has epoch {got}, older than {current}")]
    Fenced {
        producer_id: i64,
        current: i16,
        got: i16,
    },
    #[error("transactional records are not supported by the embedded broker")]
    Transactional,
    #[error("writing the partition's log: {0}")]
    Io(#[from] io::Error),
}

/// The answer to a read.
#[derive(Debug)]
pub struct Read {
    /// Whole batches from the one holding the offset asked for; empty at the log's end.
    pub records: Bytes,
    /// The offset the next record will get.
    pub end: i64,
}

#[derive(Debug, Clone, Copy)]
struct Stored {
    base: i64,
    last: i64,
    position: u64,
    size: u32,
    max_timestamp: i64,
}

#[derive(Debug, Clone, Copy)]
struct Produced {
    epoch: i16,
    first_sequence: i32,
    last_sequence: i32,
    base: i64,
}

#[derive(Debug)]
struct Index {
    batches: Vec<Stored>,
    end: i64,
    length: u64,
    producers: HashMap<i64, VecDeque<Produced>>,
}

#[derive(Debug)]
pub struct Partition {
    file: File,
    index: Mutex<Index>,
}

impl Partition {
    /// Opens the log in `dir` (created when absent), reading its batches back. A batch cut
    /// short by a crash mid-append is dropped: it was never acknowledged.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = segment(dir);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let index = recover(&file, &path)?;
        Ok(Self {
            file,
            index: Mutex::new(index),
        })
    }

    /// The offset the next record will get.
    pub fn end(&self) -> i64 {
        self.lock().end
    }

    /// Appends the batches of one produce request and returns the offset of the first
    /// record. A batch its producer already wrote (a retry) is not written again; its first
    /// offset is returned.
    pub fn append(&self, records: Bytes, max_message_bytes: usize) -> Result<i64, AppendError> {
        let batches = batch::split(records)?;
        let mut index = self.lock();
        let mut first = None;
        for (header, bytes) in batches {
            if header.size > max_message_bytes {
                return Err(AppendError::TooLarge {
                    size: header.size,
                    limit: max_message_bytes,
                });
            }
            if header.is_transactional || header.is_control {
                return Err(AppendError::Transactional);
            }
            if let Some(base) = index.duplicate(&header)? {
                first.get_or_insert(base);
                continue;
            }
            let base = index.end;
            let stamped = batch::stamp(&bytes, base);
            self.file.write_all_at(&stamped, index.length)?;
            index.push(&header, base);
            first.get_or_insert(base);
        }
        Ok(first.unwrap_or(index.end))
    }

    /// Reads whole batches from the one holding `offset`, as many as fit in `max_bytes`
    /// (always at least one, as Kafka does, so a large batch is never stuck). `None` when
    /// `offset` is outside the log.
    pub fn read(&self, offset: i64, max_bytes: usize) -> io::Result<Option<Read>> {
        let (start, length, end) = {
            let index = self.lock();
            if offset < 0 || offset > index.end {
                return Ok(None);
            }
            let first = index.batches.partition_point(|stored| stored.last < offset);
            let Some(head) = index.batches.get(first) else {
                return Ok(Some(Read {
                    records: Bytes::new(),
                    end: index.end,
                }));
            };
            let mut length = u64::from(head.size);
            for stored in &index.batches[first + 1..] {
                let grown = length + u64::from(stored.size);
                if grown > max_bytes as u64 {
                    break;
                }
                length = grown;
            }
            (head.position, length, index.end)
        };
        let mut records = vec![0; usize::try_from(length).expect("a read fits in memory")];
        self.file.read_exact_at(&mut records, start)?;
        Ok(Some(Read {
            records: Bytes::from(records),
            end,
        }))
    }

    /// The offset of the first record whose timestamp is at or after `timestamp`, with that
    /// record's timestamp; `None` when every record is older.
    pub fn offset_for_time(&self, timestamp: i64) -> io::Result<Option<(i64, i64)>> {
        let found = {
            let index = self.lock();
            index
                .batches
                .iter()
                .find(|stored| stored.max_timestamp >= timestamp)
                .copied()
        };
        let Some(stored) = found else {
            return Ok(None);
        };
        let mut bytes = vec![0; stored.size as usize];
        self.file.read_exact_at(&mut bytes, stored.position)?;
        let mut bytes = Bytes::from(bytes);
        let set = RecordBatchDecoder::decode(&mut bytes)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
        Ok(set
            .records
            .iter()
            .find(|record| record.timestamp >= timestamp)
            .map(|record| (record.offset, record.timestamp))
            .or(Some((stored.base, stored.max_timestamp))))
    }

    /// The largest producer ID this log holds, so new IDs never reuse one.
    pub fn largest_producer_id(&self) -> i64 {
        self.lock().producers.keys().copied().max().unwrap_or(-1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Index {
    /// Recognises a retried batch of an idempotent producer, and refuses a sequence gap.
    fn duplicate(&self, header: &BatchHeader) -> Result<Option<i64>, AppendError> {
        if header.producer_id < 0 {
            return Ok(None);
        }
        let Some(produced) = self.producers.get(&header.producer_id) else {
            return Ok(None);
        };
        let Some(latest) = produced.back() else {
            return Ok(None);
        };
        if header.producer_epoch < latest.epoch {
            return Err(AppendError::Fenced {
                producer_id: header.producer_id,
                current: latest.epoch,
                got: header.producer_epoch,
            });
        }
        if header.producer_epoch > latest.epoch {
            return Ok(None);
        }
        if let Some(same) = produced.iter().find(|produced| {
            produced.first_sequence == header.base_sequence
                && produced.last_sequence == header.last_sequence()
        }) {
            return Ok(Some(same.base));
        }
        let expected = if latest.last_sequence == i32::MAX {
            0
        } else {
            latest.last_sequence + 1
        };
        if header.base_sequence != expected {
            return Err(AppendError::OutOfOrder {
                producer_id: header.producer_id,
                expected,
                got: header.base_sequence,
            });
        }
        Ok(None)
    }

    fn push(&mut self, header: &BatchHeader, base: i64) {
        let size = u32::try_from(header.size).expect("batches are far below 4 GiB");
        self.batches.push(Stored {
            base,
            last: base + i64::from(header.last_offset_delta),
            position: self.length,
            size,
            max_timestamp: header.max_timestamp,
        });
        self.length += u64::from(size);
        self.end = base + header.offset_count();
        if header.producer_id >= 0 {
            let produced = self.producers.entry(header.producer_id).or_default();
            if produced
                .back()
                .is_some_and(|latest| latest.epoch != header.producer_epoch)
            {
                produced.clear();
            }
            produced.push_back(Produced {
                epoch: header.producer_epoch,
                first_sequence: header.base_sequence,
                last_sequence: header.last_sequence(),
                base,
            });
            if produced.len() > REMEMBERED_BATCHES {
                produced.pop_front();
            }
        }
    }
}

fn segment(dir: &Path) -> PathBuf {
    dir.join("00000000000000000000.log")
}

/// Reads a log's batch headers back into an index, cutting off a torn tail.
fn recover(file: &File, path: &Path) -> io::Result<Index> {
    let length = file.metadata()?.len();
    let mut index = Index {
        batches: Vec::new(),
        end: 0,
        length: 0,
        producers: HashMap::new(),
    };
    let mut header = [0u8; batch::HEADER_BYTES];
    while index.length < length {
        let left = length - index.length;
        if left < batch::HEADER_BYTES as u64 {
            break;
        }
        file.read_exact_at(&mut header, index.length)?;
        let parsed = match batch::parse_header(&header) {
            Ok(parsed) if parsed.size as u64 <= left => parsed,
            _ => break,
        };
        let size = parsed.size as u64;
        if index.length + size == length {
            // The last batch is the one a crash could have torn: check all of it.
            let mut whole = vec![0; usize::try_from(size).expect("batches fit in memory")];
            file.read_exact_at(&mut whole, index.length)?;
            if batch::verify(&whole).is_err() {
                break;
            }
        }
        index.push(&parsed, parsed.base_offset);
    }
    if index.length < length {
        tracing::warn!(
            path = %path.display(),
            kept = index.length,
            dropped = length - index.length,
            "dropping the torn tail of a partition's log"
        );
        file.set_len(index.length)?;
    }
    Ok(index)
}
