//! The namespace registry. Namespaces are records on the metadata topic (key
//! `namespace/<name>`, the latest record per key wins); every node reads the topic at start
//! and keeps the registry in memory. `default` always exists; others are registered at
//! start-up (`--namespace`) or through RegisterNamespace, which answers only once the record
//! is durable.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use cairn_engine::time;
use cairn_log::{KafkaConfig, LogError, LogProducer, LogReader};
use cairn_schemas::{MetadataRecord, NamespaceRecord};
use temporalio_protos::protos::temporal::api::{
    enums::v1::ArchivalState,
    namespace::v1::{NamespaceConfig, NamespaceInfo, namespace_info},
    replication::v1::{ClusterReplicationConfig, NamespaceReplicationConfig},
    workflowservice::v1::DescribeNamespaceResponse,
};

/// `NamespaceState` values.
pub const REGISTERED: i32 = 1;
pub const DEPRECATED: i32 = 2;

/// Temporal's shortest retention of closed workflows: one day.
pub const MIN_RETENTION_SECONDS: i64 = 24 * 3600;
/// Temporal's default retention of closed workflows: one day.
pub const DEFAULT_RETENTION_SECONDS: i64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq)]
pub struct Namespace {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner_email: String,
    pub retention_seconds: i64,
    pub data: HashMap<String, String>,
    /// `temporal.api.enums.v1.NamespaceState`: registered (1) or deprecated (2).
    pub state: i32,
    /// Custom search attributes: name to indexed value type name.
    pub search_attributes: HashMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("metadata topic is unavailable")]
    Log(#[from] LogError),
    #[error("namespace record does not encode")]
    Encode(#[from] cairn_schemas::EncodeError),
}

#[derive(Clone)]
pub struct Namespaces {
    by_name: Arc<RwLock<HashMap<String, Namespace>>>,
    store: Arc<Store>,
}

struct Store {
    producer: LogProducer,
    topic: String,
    /// One registration at a time, so "already exists" is decided against durable records.
    writing: tokio::sync::Mutex<()>,
}

impl Namespaces {
    /// Reads every namespace record of the metadata topic, then registers `default` and
    /// `names` where missing. IDs derive from names, so every node agrees on them.
    pub async fn open(
        kafka: &KafkaConfig,
        topic: &str,
        names: &[String],
        now: i64,
    ) -> Result<Self, NamespaceError> {
        let reader = LogReader::connect(kafka)?;
        let end = reader.end_offset(topic, 0).await?;
        let mut by_name = HashMap::new();
        if end > 0 {
            let mut stream = reader.open_partition(topic, 0, 0)?;
            loop {
                let record = stream.next().await?;
                if let Ok(MetadataRecord {
                    namespace: Some(namespace),
                    ..
                }) = MetadataRecord::decode(&record.payload)
                {
                    let namespace = Namespace::from_record(namespace);
                    by_name.insert(namespace.name.clone(), namespace);
                }
                if record.offset + 1 >= end {
                    break;
                }
            }
        }
        let registry = Self {
            by_name: Arc::new(RwLock::new(by_name)),
            store: Arc::new(Store {
                producer: LogProducer::connect(kafka)?,
                topic: topic.to_string(),
                writing: tokio::sync::Mutex::new(()),
            }),
        };
        for name in std::iter::once("default".to_string()).chain(names.iter().cloned()) {
            registry.register(Namespace::named(name), now).await?;
        }
        Ok(registry)
    }

    /// Takes in a namespace record another node wrote (the metadata topic is followed by
    /// the cluster directory).
    pub fn learn(&self, record: NamespaceRecord) {
        let namespace = Namespace::from_record(record);
        self.by_name
            .write()
            .expect("namespace lock is not poisoned")
            .insert(namespace.name.clone(), namespace);
    }

    /// A namespace by its ID.
    pub fn by_id(&self, id: &str) -> Option<Namespace> {
        self.by_name
            .read()
            .expect("namespace lock is not poisoned")
            .values()
            .find(|namespace| namespace.id == id)
            .cloned()
    }

    /// The retention of each namespace by ID, in nanoseconds, as history enforces it.
    pub fn retention(&self) -> cairn_history::RetentionOf {
        let namespaces = self.clone();
        std::sync::Arc::new(move |id: &str| {
            namespaces.by_id(id).map(|namespace| {
                namespace
                    .retention_seconds
                    .saturating_mul(time::NANOS_PER_SEC)
            })
        })
    }

    pub fn get(&self, name: &str) -> Option<Namespace> {
        self.by_name
            .read()
            .expect("namespace lock is not poisoned")
            .get(name)
            .cloned()
    }

    /// Registers a namespace durably at time `now`; false when the name is taken.
    pub async fn register(&self, namespace: Namespace, now: i64) -> Result<bool, NamespaceError> {
        let _one_at_a_time = self.store.writing.lock().await;
        if self.get(&namespace.name).is_some() {
            return Ok(false);
        }
        let record = MetadataRecord {
            namespace: Some(namespace.to_record(now)),
            ..MetadataRecord::empty()
        };
        let key = format!("namespace/{}", namespace.name);
        self.store
            .producer
            .append(&self.store.topic, 0, key.as_bytes(), &record.encode()?)
            .await?;
        self.by_name
            .write()
            .expect("namespace lock is not poisoned")
            .insert(namespace.name.clone(), namespace);
        Ok(true)
    }

    /// Changes a namespace durably at time `now`; `None` when there is no such namespace.
    pub async fn update(
        &self,
        name: &str,
        change: impl FnOnce(&mut Namespace),
        now: i64,
    ) -> Result<Option<Namespace>, NamespaceError> {
        let _one_at_a_time = self.store.writing.lock().await;
        let Some(mut namespace) = self.get(name) else {
            return Ok(None);
        };
        change(&mut namespace);
        let record = MetadataRecord {
            namespace: Some(namespace.to_record(now)),
            ..MetadataRecord::empty()
        };
        let key = format!("namespace/{name}");
        self.store
            .producer
            .append(&self.store.topic, 0, key.as_bytes(), &record.encode()?)
            .await?;
        self.by_name
            .write()
            .expect("namespace lock is not poisoned")
            .insert(namespace.name.clone(), namespace.clone());
        Ok(Some(namespace))
    }

    pub fn all(&self) -> Vec<Namespace> {
        let mut all: Vec<_> = self
            .by_name
            .read()
            .expect("namespace lock is not poisoned")
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

/// A stable UUID-shaped ID for a namespace name.
pub fn namespace_id(name: &str) -> String {
    let a = xxhash_rust::xxh3::xxh3_128(name.as_bytes());
    uuid::Uuid::from_u128(a).to_string()
}

impl Namespace {
    /// A namespace with Temporal's defaults.
    pub fn named(name: String) -> Self {
        Self {
            id: namespace_id(&name),
            name,
            description: String::new(),
            owner_email: String::new(),
            retention_seconds: DEFAULT_RETENTION_SECONDS,
            data: HashMap::new(),
            state: REGISTERED,
            search_attributes: HashMap::new(),
        }
    }

    fn to_record(&self, created_at: i64) -> NamespaceRecord {
        NamespaceRecord {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            owner_email: self.owner_email.clone(),
            retention_seconds: self.retention_seconds,
            state: self.state,
            data: self.data.clone(),
            created_at,
            search_attributes: self.search_attributes.clone(),
        }
    }

    fn from_record(record: NamespaceRecord) -> Self {
        Self {
            id: record.id,
            name: record.name,
            description: record.description,
            owner_email: record.owner_email,
            retention_seconds: record.retention_seconds,
            data: record.data,
            state: record.state,
            search_attributes: record.search_attributes,
        }
    }

    pub fn describe(&self) -> DescribeNamespaceResponse {
        DescribeNamespaceResponse {
            namespace_info: Some(NamespaceInfo {
                name: self.name.clone(),
                state: self.state,
                description: self.description.clone(),
                owner_email: self.owner_email.clone(),
                data: self.data.clone(),
                id: self.id.clone(),
                capabilities: Some(namespace_info::Capabilities {
                    eager_workflow_start: true,
                    sync_update: true,
                    async_update: true,
                    ..Default::default()
                }),
                // The SDKs check payloads against these before they send them, as they do
                // against Temporal's.
                limits: Some(namespace_info::Limits {
                    blob_size_limit_error: crate::validate::MAX_PAYLOAD_BYTES as i64,
                    memo_size_limit_error: crate::validate::MAX_MEMO_BYTES as i64,
                    workflow_task_completion_size_limit_error:
                        crate::validate::MAX_WORKFLOW_TASK_COMPLETION_BYTES as i64,
                }),
                supports_schedules: true,
            }),
            config: Some(NamespaceConfig {
                workflow_execution_retention_ttl: Some(time::duration(
                    self.retention_seconds * time::NANOS_PER_SEC,
                )),
                // Closed runs are not archived anywhere: retention deletes them.
                history_archival_state: ArchivalState::Disabled as i32,
                visibility_archival_state: ArchivalState::Disabled as i32,
                ..Default::default()
            }),
            replication_config: Some(NamespaceReplicationConfig {
                active_cluster_name: "active".into(),
                clusters: vec![ClusterReplicationConfig {
                    cluster_name: "active".into(),
                    ..Default::default()
                }],
                state: 0,
            }),
            ..Default::default()
        }
    }
}
