//! The header of a record batch (Kafka's message format v2), as the broker reads and stamps it.
//! A batch is stored exactly as the producer sent it, except for its base offset and leader
//! epoch, which the broker assigns; neither is covered by the batch's checksum.

use bytes::{Buf, Bytes};

/// Bytes before a batch's records: offsets, lengths, checksum, producer fields, count.
pub const HEADER_BYTES: usize = 61;
/// The bytes of the base offset and length fields, which `batchLength` does not count.
pub const LOG_OVERHEAD: usize = 12;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;

/// What the broker needs to know of a batch without reading its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// The whole batch, header included.
    pub size: usize,
    pub last_offset_delta: i32,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub is_transactional: bool,
    pub is_control: bool,
}

impl BatchHeader {
    /// The number of offsets the batch takes.
    pub fn offset_count(&self) -> i64 {
        i64::from(self.last_offset_delta) + 1
    }

    /// The sequence number of the batch's last record (sequences wrap at `i32::MAX`).
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return self.base_sequence;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        i32::try_from(last % (i64::from(i32::MAX) + 1)).expect("reduced below i32::MAX")
    }
}

/// Why bytes are not a batch the broker can store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("a record batch is cut short: {available} bytes where {needed} are needed")]
    Truncated { needed: usize, available: usize },
    #[error("record batches of message format {0} are not supported; format 2 is")]
    Magic(i8),
    #[error("a record batch's checksum does not match its bytes")]
    Checksum,
    #[error("a record batch declares {0} offsets")]
    Count(i32),
}

/// Reads the header of the batch that starts `bytes`, which must hold the whole batch.
pub fn parse(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = parse_header(bytes)?;
    if bytes.len() < header.size {
        return Err(BatchError::Truncated {
            needed: header.size,
            available: bytes.len(),
        });
    }
    Ok(header)
}

/// Reads a batch's header from its first [`HEADER_BYTES`] bytes.
pub fn parse_header(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    if bytes.len() < HEADER_BYTES {
        return Err(BatchError::Truncated {
            needed: HEADER_BYTES,
            available: bytes.len(),
        });
    }
    let mut header = &bytes[..HEADER_BYTES];
    let base_offset = header.get_i64();
    let batch_length = header.get_i32();
    let _leader_epoch = header.get_i32();
    let magic = header.get_i8();
    let _crc = header.get_u32();
    let attributes = header.get_i16();
    let last_offset_delta = header.get_i32();
    let _base_timestamp = header.get_i64();
    let max_timestamp = header.get_i64();
    let producer_id = header.get_i64();
    let producer_epoch = header.get_i16();
    let base_sequence = header.get_i32();
    if magic != 2 {
        return Err(BatchError::Magic(magic));
    }
    let size = usize::try_from(batch_length)
        .ok()
        .and_then(|length| length.checked_add(LOG_OVERHEAD))
        .filter(|size| *size >= HEADER_BYTES)
        .ok_or(BatchError::Truncated {
            needed: HEADER_BYTES,
            available: bytes.len(),
        })?;
    if last_offset_delta < 0 {
        return Err(BatchError::Count(last_offset_delta));
    }
    Ok(BatchHeader {
        base_offset,
        size,
        last_offset_delta,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        is_transactional: attributes & 0x10 != 0,
        is_control: attributes & 0x20 != 0,
    })
}

/// Checks the checksum of a whole batch (CRC-32C over everything after the checksum field).
pub fn verify(batch: &[u8]) -> Result<(), BatchError> {
    let stored = (&batch[CRC_OFFSET..ATTRIBUTES_OFFSET]).get_u32();
    if crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]) != stored {
        return Err(BatchError::Checksum);
    }
    Ok(())
}

/// Splits a produce request's records into whole batches, each checked.
pub fn split(mut records: Bytes) -> Result<Vec<(BatchHeader, Bytes)>, BatchError> {
    let mut batches = Vec::new();
    while !records.is_empty() {
        let header = parse(&records)?;
        let batch = records.split_to(header.size);
        verify(&batch)?;
        batches.push((header, batch));
    }
    Ok(batches)
}

/// Returns the batch with the broker's base offset and leader epoch written in.
pub fn stamp(batch: &[u8], base_offset: i64) -> Vec<u8> {
    let mut stamped = batch.to_vec();
    stamped[..8].copy_from_slice(&base_offset.to_be_bytes());
    stamped[LOG_OVERHEAD..MAGIC_OFFSET].copy_from_slice(&0i32.to_be_bytes());
    stamped
}
