//! Records of the metadata topic (`cairn.metadata`, one partition): the cluster's identity and
//! its namespaces. Keyed by `cluster` or `namespace/<name>`; the latest record per key wins.

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};

use crate::codec::{Codec, DecodeError, EncodeError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.metadata")]
pub struct MetadataRecord {
    pub cluster: Option<ClusterRecord>,
    pub namespace: Option<NamespaceRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.metadata")]
pub struct ClusterRecord {
    pub cluster_id: String,
    /// History partitions, fixed when the cluster is created.
    pub history_partitions: i32,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.metadata")]
pub struct NamespaceRecord {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner_email: String,
    /// Retention of closed workflows, in seconds.
    pub retention_seconds: i64,
    /// `temporal.api.enums.v1.NamespaceState` number.
    pub state: i32,
    pub data: std::collections::HashMap<String, String>,
    pub created_at: i64,
}

impl MetadataRecord {
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        codec().encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec().decode(bytes)
    }
}

/// Every released version of the metadata record (`schemas/released/`).
const RELEASED: &[&str] = &[include_str!(
    "../../../schemas/released/metadata-record.v1.avsc"
)];

fn codec() -> &'static Codec<MetadataRecord> {
    static CODEC: std::sync::OnceLock<Codec<MetadataRecord>> = std::sync::OnceLock::new();
    CODEC.get_or_init(|| Codec::new("MetadataRecord", RELEASED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_record_matches_its_committed_schema_and_released_versions() {
        crate::codec::check_contract::<MetadataRecord>("metadata-record", RELEASED.len());
    }
}
