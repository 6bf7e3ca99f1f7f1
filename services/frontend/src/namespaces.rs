//! The namespace registry: `default` always exists; others are registered at start-up or
//! through RegisterNamespace.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use cairn_engine::time;
use temporalio_protos::protos::temporal::api::{
    namespace::v1::{NamespaceConfig, NamespaceInfo},
    replication::v1::{ClusterReplicationConfig, NamespaceReplicationConfig},
    workflowservice::v1::DescribeNamespaceResponse,
};

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
}

#[derive(Clone, Default)]
pub struct Namespaces {
    by_name: Arc<RwLock<HashMap<String, Namespace>>>,
}

impl Namespaces {
    /// A registry holding `default` and the given extra namespaces. IDs derive from names so
    /// every node of a cluster agrees on them.
    pub fn with(names: &[String]) -> Self {
        let registry = Self::default();
        for name in std::iter::once("default".to_string()).chain(names.iter().cloned()) {
            let _already = registry.register(Namespace {
                id: namespace_id(&name),
                name,
                description: String::new(),
                owner_email: String::new(),
                retention_seconds: DEFAULT_RETENTION_SECONDS,
                data: HashMap::new(),
            });
        }
        registry
    }

    pub fn get(&self, name: &str) -> Option<Namespace> {
        self.by_name
            .read()
            .expect("namespace lock is not poisoned")
            .get(name)
            .cloned()
    }

    /// Adds a namespace; false when the name is taken.
    pub fn register(&self, namespace: Namespace) -> bool {
        let mut by_name = self
            .by_name
            .write()
            .expect("namespace lock is not poisoned");
        if by_name.contains_key(&namespace.name) {
            return false;
        }
        by_name.insert(namespace.name.clone(), namespace);
        true
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
    pub fn describe(&self) -> DescribeNamespaceResponse {
        DescribeNamespaceResponse {
            namespace_info: Some(NamespaceInfo {
                name: self.name.clone(),
                state: 1,
                description: self.description.clone(),
                owner_email: self.owner_email.clone(),
                data: self.data.clone(),
                id: self.id.clone(),
                supports_schedules: false,
                ..Default::default()
            }),
            config: Some(NamespaceConfig {
                workflow_execution_retention_ttl: Some(time::duration(
                    self.retention_seconds * time::NANOS_PER_SEC,
                )),
                history_archival_state: 2,
                visibility_archival_state: 2,
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
