//! Workflow identity and partitioning.
//!
//! A workflow lives in history partition
//! `xxh3_64(u32_le(len(namespace_id)) ++ namespace_id ++ workflow_id) mod N` (UTF-8 bytes),
//! where N is the partition count fixed when the cluster is created. This function is part of
//! the on-disk contract: changing it would move workflows between partitions, so it never
//! changes.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};

pub type PartitionId = u32;

/// The history partition that owns `workflow_id` in `namespace_id`.
pub fn partition_of(namespace_id: &str, workflow_id: &str, partitions: u32) -> PartitionId {
    debug_assert!(partitions > 0, "partition count is positive");
    let mut bytes = Vec::with_capacity(4 + namespace_id.len() + workflow_id.len());
    bytes.extend_from_slice(&(namespace_id.len() as u32).to_le_bytes());
    bytes.extend_from_slice(namespace_id.as_bytes());
    bytes.extend_from_slice(workflow_id.as_bytes());
    (xxhash_rust::xxh3::xxh3_64(&bytes) % u64::from(partitions)) as PartitionId
}

/// A workflow ID within a namespace: the unit of partitioning and of ID-reuse policies.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, AvroSchema,
)]
pub struct WorkflowKey {
    pub namespace_id: String,
    pub workflow_id: String,
}

/// One run of a workflow.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, AvroSchema,
)]
pub struct RunKey {
    pub namespace_id: String,
    pub workflow_id: String,
    pub run_id: String,
}

impl RunKey {
    pub fn workflow(&self) -> WorkflowKey {
        WorkflowKey {
            namespace_id: self.namespace_id.clone(),
            workflow_id: self.workflow_id.clone(),
        }
    }

    pub fn partition(&self, partitions: u32) -> PartitionId {
        partition_of(&self.namespace_id, &self.workflow_id, partitions)
    }
}

impl WorkflowKey {
    pub fn partition(&self, partitions: u32) -> PartitionId {
        partition_of(&self.namespace_id, &self.workflow_id, partitions)
    }
}

/// A run ID the engine derives rather than draws: a version 7 UUID (time-ordered, like the
/// run IDs Temporal and Cairn's frontend draw) whose time is `now` and whose other bits come
/// from `name`, so the same derivation at the same instant gives the same ID.
pub fn derived_run_id(name: &str, now: crate::time::Nanos) -> String {
    let hash = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes());
    let mut rest = [0u8; 10];
    rest.copy_from_slice(&hash.as_bytes()[6..]);
    let millis = u64::try_from(now / 1_000_000).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &rest)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN_1: PartitionId = 10;
    const GOLDEN_2: PartitionId = 1023;

    #[test]
    fn partition_function_is_stable() {
        // These values are a contract with every existing cluster: never update them.
        assert_eq!(partition_of("ns", "order-1", 64), GOLDEN_1);
        assert_eq!(partition_of("default", "hello-world", 1024), GOLDEN_2);
        let spread: std::collections::HashSet<_> = (0..1000)
            .map(|i| partition_of("ns", &format!("wf-{i}"), 64))
            .collect();
        assert_eq!(
            spread.len(),
            64,
            "1000 workflow ids cover every one of 64 partitions"
        );
        assert_ne!(
            partition_of("a", "b\0c", 1024),
            partition_of("a\0b", "c", 1024)
        );
    }
}
