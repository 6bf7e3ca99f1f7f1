//! Records of the metadata topic (`cairn.metadata`, one partition): the cluster's identity,
//! its namespaces, its nodes and who owns which partition. Keyed by `cluster`,
//! `namespace/<name>`, `node/<id>` or `owner/<role>/<partition>`. The first `cluster` record
//! wins; for the others the latest record per key wins (ownership: the highest epoch).

use apache_avro::AvroSchema;
use serde::{Deserialize, Serialize};

use crate::codec::{Codec, DecodeError, EncodeError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.metadata")]
pub struct MetadataRecord {
    pub cluster: Option<ClusterRecord>,
    pub namespace: Option<NamespaceRecord>,
    #[serde(default)]
    #[avro(default = "null")]
    pub node: Option<NodeRecord>,
    #[serde(default)]
    #[avro(default = "null")]
    pub owner: Option<OwnerRecord>,
}

impl MetadataRecord {
    pub fn empty() -> Self {
        Self {
            cluster: None,
            namespace: None,
            node: None,
            owner: None,
        }
    }
}

/// A Cairn process: its roles and where its peers reach it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.metadata")]
pub struct NodeRecord {
    pub node_id: String,
    /// `frontend`, `history`, `matching`.
    pub roles: Vec<String>,
    /// `host:port` of the internal gRPC services.
    pub internal_address: String,
    /// `host:port` of the public API, empty without the frontend role.
    pub frontend_address: String,
    pub started_at: i64,
}

/// A node took a partition of a role (`history` or `matching`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.metadata")]
pub struct OwnerRecord {
    pub role: String,
    pub partition: i32,
    pub node_id: String,
    /// The claim's epoch for history partitions (a higher epoch wins); 0 for matching, where
    /// the latest record wins.
    pub epoch: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, AvroSchema)]
#[avro(namespace = "io.cairn.metadata")]
pub struct ClusterRecord {
    pub cluster_id: String,
    /// History partitions, fixed when the cluster is created.
    pub history_partitions: i32,
    pub created_at: i64,
    /// Task-queue partitions of matching, fixed when the cluster is created.
    #[serde(default)]
    #[avro(default = "0")]
    pub matching_partitions: i32,
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
    /// Custom search attributes: name to Temporal's indexed value type name (`Keyword`,
    /// `Text`, `Int`, `Double`, `Bool`, `Datetime`, `KeywordList`).
    #[serde(default)]
    #[avro(default = "{}")]
    pub search_attributes: std::collections::HashMap<String, String>,
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
