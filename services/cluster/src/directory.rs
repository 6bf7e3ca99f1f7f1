//! The cluster directory: every node follows the metadata topic and keeps what it says about
//! the cluster in memory — the cluster record (partition counts), the nodes and where to
//! reach them, and who owns each history and matching partition. Ownership moves are
//! published here by the new owner once it holds the partition, so routing follows them.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use cairn_engine::PartitionId;
use cairn_frontend::Namespaces;
use cairn_log::{KafkaConfig, LogProducer, LogReader};
use cairn_schemas::{ClusterRecord, MetadataRecord, NodeRecord, OwnerRecord};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// The two partitioned roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    History,
    Matching,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Self::History => "history",
            Self::Matching => "matching",
        }
    }
}

/// The node that owns a partition, as last published.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    pub node_id: String,
    pub epoch: i64,
}

#[derive(Debug, Default, Clone)]
pub struct View {
    pub cluster: Option<ClusterRecord>,
    pub nodes: HashMap<String, NodeRecord>,
    pub history: HashMap<PartitionId, Owner>,
    pub matching: HashMap<PartitionId, Owner>,
}

impl View {
    fn apply(&mut self, record: MetadataRecord) {
        if let Some(cluster) = record.cluster
            && self.cluster.is_none()
        {
            self.cluster = Some(cluster);
        }
        if let Some(node) = record.node {
            self.nodes.insert(node.node_id.clone(), node);
        }
        if let Some(owner) = record.owner {
            let Ok(partition) = PartitionId::try_from(owner.partition) else {
                return;
            };
            let owners = match owner.role.as_str() {
                "history" => &mut self.history,
                "matching" => &mut self.matching,
                _ => return,
            };
            let newer = owners
                .get(&partition)
                .is_none_or(|current| owner.epoch >= current.epoch);
            if newer {
                owners.insert(
                    partition,
                    Owner {
                        node_id: owner.node_id,
                        epoch: owner.epoch,
                    },
                );
            }
        }
    }

    /// The internal address of the partition's owner.
    pub fn route(&self, role: Role, partition: PartitionId) -> Option<Route> {
        let owners = match role {
            Role::History => &self.history,
            Role::Matching => &self.matching,
        };
        let owner = owners.get(&partition)?;
        let node = self.nodes.get(&owner.node_id)?;
        Some(Route {
            node_id: owner.node_id.clone(),
            address: node.internal_address.clone(),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub node_id: String,
    pub address: String,
}

#[derive(Clone)]
pub struct Directory {
    inner: Arc<Inner>,
}

struct Inner {
    topic: String,
    producer: LogProducer,
    view: RwLock<View>,
    /// The next offset of the metadata topic to apply; every change bumps it.
    applied: watch::Sender<i64>,
    namespaces: RwLock<Option<Namespaces>>,
}

impl Directory {
    /// Reads the metadata topic to its end, then keeps following it in the background;
    /// `failed` is cancelled if the follower dies (the node's view would go stale).
    pub async fn follow(
        kafka: &KafkaConfig,
        topic: &str,
        failed: CancellationToken,
    ) -> anyhow::Result<Self> {
        let reader = LogReader::connect(kafka)?;
        let end = reader.end_offset(topic, 0).await?;
        let mut stream = reader.open_partition(topic, 0, 0)?;
        let directory = Self {
            inner: Arc::new(Inner {
                topic: topic.to_string(),
                producer: LogProducer::connect(kafka)?,
                view: RwLock::new(View::default()),
                applied: watch::channel(0).0,
                namespaces: RwLock::new(None),
            }),
        };
        while *directory.inner.applied.borrow() < end {
            let record = stream.next().await?;
            directory.apply(record.offset, &record.payload);
        }
        let weak = Arc::downgrade(&directory.inner);
        let failure = cairn_runtime::Failure::StopsNode(failed);
        cairn_runtime::supervise("directory", failure, async move {
            // The reader lives as long as the stream it feeds.
            let _reader = reader;
            loop {
                let record = match stream.next().await {
                    Ok(record) => record,
                    Err(error) => {
                        warn!(error = %cairn_runtime::report(&error), "metadata topic read failed, retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let Some(inner) = weak.upgrade() else { return };
                Self { inner }.apply(record.offset, &record.payload);
            }
        });
        Ok(directory)
    }

    fn apply(&self, offset: i64, payload: &[u8]) {
        match MetadataRecord::decode(payload) {
            Ok(record) => {
                if let Some(namespace) = &record.namespace
                    && let Some(namespaces) = self
                        .inner
                        .namespaces
                        .read()
                        .expect("directory lock is not poisoned")
                        .as_ref()
                {
                    namespaces.learn(namespace.clone());
                }
                self.inner
                    .view
                    .write()
                    .expect("directory lock is not poisoned")
                    .apply(record);
            }
            Err(error) => {
                warn!(offset, error = %cairn_runtime::report(&error), "skipping undecodable metadata record");
            }
        }
        self.inner.applied.send_replace(offset + 1);
    }

    /// Namespaces registered on other nodes reach `namespaces` from now on.
    pub fn attach_namespaces(&self, namespaces: Namespaces) {
        *self
            .inner
            .namespaces
            .write()
            .expect("directory lock is not poisoned") = Some(namespaces);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.inner
            .view
            .read()
            .expect("directory lock is not poisoned")
    }

    /// The cluster record that counts, once one is in the topic.
    pub fn cluster(&self) -> Option<ClusterRecord> {
        self.read().cluster.clone()
    }

    /// Who owns each matching partition (a copy of that part of the view only).
    pub fn matching_owners(&self) -> HashMap<PartitionId, Owner> {
        self.read().matching.clone()
    }

    pub fn route(&self, role: Role, partition: PartitionId) -> Option<Route> {
        self.read().route(role, partition)
    }

    /// The latest claim of a history partition.
    pub fn history_owner(&self, partition: PartitionId) -> Option<Owner> {
        self.read().history.get(&partition).cloned()
    }

    /// Changes whenever a metadata record was applied.
    pub fn changes(&self) -> watch::Receiver<i64> {
        self.inner.applied.subscribe()
    }

    /// Appends a record and waits until this directory has applied it.
    async fn publish(&self, key: String, record: MetadataRecord) -> anyhow::Result<()> {
        let offset = self
            .inner
            .producer
            .append(&self.inner.topic, 0, key.as_bytes(), &record.encode()?)
            .await?;
        // Without its offset (a retried send Kafka took for a duplicate), the record is
        // somewhere before the topic's end.
        let offset = match offset {
            Some(offset) => offset,
            None => self.inner.producer.end_offset(&self.inner.topic, 0).await? - 1,
        };
        let mut applied = self.inner.applied.subscribe();
        applied.wait_for(|next| *next > offset).await?;
        Ok(())
    }

    /// Records the cluster's identity unless one exists, and returns the one that counts
    /// (the first in the topic).
    pub async fn create_cluster(&self, record: ClusterRecord) -> anyhow::Result<ClusterRecord> {
        if let Some(existing) = self.cluster() {
            return Ok(existing);
        }
        self.publish(
            "cluster".into(),
            MetadataRecord {
                cluster: Some(record),
                ..MetadataRecord::empty()
            },
        )
        .await?;
        self.cluster()
            .ok_or_else(|| anyhow::anyhow!("the cluster record was written but not read back"))
    }

    pub async fn announce(&self, node: NodeRecord) -> anyhow::Result<()> {
        self.publish(
            format!("node/{}", node.node_id),
            MetadataRecord {
                node: Some(node),
                ..MetadataRecord::empty()
            },
        )
        .await
    }

    /// Publishes that `node_id` now owns the partition.
    pub async fn claim(
        &self,
        role: Role,
        partition: PartitionId,
        node_id: &str,
        epoch: i64,
    ) -> anyhow::Result<()> {
        debug!(
            role = role.name(),
            partition, node_id, epoch, "publishing ownership"
        );
        self.publish(
            format!("owner/{}/{partition}", role.name()),
            MetadataRecord {
                owner: Some(OwnerRecord {
                    role: role.name().into(),
                    partition: i32::try_from(partition).unwrap_or(i32::MAX),
                    node_id: node_id.to_string(),
                    epoch,
                }),
                ..MetadataRecord::empty()
            },
        )
        .await
    }
}
