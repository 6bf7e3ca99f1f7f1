//! Where things are: metadata, the cluster, group coordinators, and offsets by position or
//! time. There is one node, ID 0, leading every partition.

use std::collections::BTreeMap;

use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, TopicName,
    describe_cluster_response::DescribeClusterBroker,
    find_coordinator_response::Coordinator,
    list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse},
    metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic},
};

use super::{Client, text};
use crate::{Shared, errors, topics::Topic};

const NODE: BrokerId = BrokerId(0);
/// `ListOffsets` timestamps that stand for positions rather than times.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

pub fn metadata(shared: &Shared, client: &Client, request: MetadataRequest) -> MetadataResponse {
    let mut response = MetadataResponse::default();
    let mut broker = MetadataResponseBroker::default();
    broker.node_id = NODE;
    broker.host = text(shared.host.clone());
    broker.port = shared.port;
    response.brokers = vec![broker];
    response.cluster_id = Some(text(shared.cluster_id.clone()));
    response.controller_id = NODE;
    let requested: Option<Vec<String>> = match request.topics {
        None => None,
        Some(topics) if topics.is_empty() && client.version == 0 => None,
        Some(topics) => Some(
            topics
                .into_iter()
                .filter_map(|topic| topic.name.map(|name| name.to_string()))
                .collect(),
        ),
    };
    // Before version 4 a metadata request always asked for creation.
    let create =
        shared.auto_create_topics && (client.version < 4 || request.allow_auto_topic_creation);
    response.topics = match requested {
        None => shared
            .topics
            .all()
            .iter()
            .map(|topic| described(topic))
            .collect(),
        Some(names) => names
            .into_iter()
            .map(|name| {
                let found = shared.topics.get(&name).or_else(|| {
                    create
                        .then(|| {
                            shared
                                .topics
                                .create(&name, 1, 1, BTreeMap::new(), false)
                                .ok()
                                .flatten()
                        })
                        .flatten()
                });
                match found {
                    Some(topic) => described(&topic),
                    None => {
                        let mut missing = MetadataResponseTopic::default();
                        missing.name = Some(TopicName(text(name)));
                        missing.error_code = errors::UNKNOWN_TOPIC_OR_PARTITION;
                        missing
                    }
                }
            })
            .collect(),
    };
    response
}

fn described(topic: &Topic) -> MetadataResponseTopic {
    let mut described = MetadataResponseTopic::default();
    described.name = Some(TopicName(text(topic.name.clone())));
    described.topic_id = topic.id;
    described.partitions = (0..topic.partition_count())
        .map(|index| {
            let mut partition = MetadataResponsePartition::default();
            partition.partition_index = index;
            partition.leader_id = NODE;
            partition.leader_epoch = 0;
            partition.replica_nodes = vec![NODE];
            partition.isr_nodes = vec![NODE];
            partition
        })
        .collect();
    described
}

pub fn describe_cluster(
    shared: &Shared,
    _request: &DescribeClusterRequest,
) -> DescribeClusterResponse {
    let mut response = DescribeClusterResponse::default();
    response.cluster_id = text(shared.cluster_id.clone());
    response.controller_id = NODE;
    response.endpoint_type = 1;
    let mut broker = DescribeClusterBroker::default();
    broker.broker_id = NODE;
    broker.host = text(shared.host.clone());
    broker.port = shared.port;
    response.brokers = vec![broker];
    response
}

pub fn find_coordinator(
    shared: &Shared,
    client: &Client,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let mut response = FindCoordinatorResponse::default();
    if client.version >= 4 {
        response.coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let mut coordinator = Coordinator::default();
                coordinator.key = key;
                coordinator.node_id = NODE;
                coordinator.host = text(shared.host.clone());
                coordinator.port = shared.port;
                coordinator
            })
            .collect();
    } else {
        response.node_id = NODE;
        response.host = text(shared.host.clone());
        response.port = shared.port;
    }
    response
}

pub fn list_offsets(shared: &Shared, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let mut response = ListOffsetsResponse::default();
    response.topics = request
        .topics
        .into_iter()
        .map(|asked| {
            let topic = shared.topics.get(&asked.name);
            let mut answer = ListOffsetsTopicResponse::default();
            answer.partitions = asked
                .partitions
                .into_iter()
                .map(|partition| {
                    let mut found = ListOffsetsPartitionResponse::default();
                    found.partition_index = partition.partition_index;
                    found.timestamp = -1;
                    found.offset = -1;
                    let Some(log) = topic
                        .as_ref()
                        .and_then(|topic| topic.partition(partition.partition_index))
                    else {
                        found.error_code = errors::UNKNOWN_TOPIC_OR_PARTITION;
                        return found;
                    };
                    found.leader_epoch = 0;
                    match partition.timestamp {
                        LATEST => found.offset = log.end(),
                        EARLIEST => found.offset = 0,
                        timestamp => match log.offset_for_time(timestamp) {
                            Ok(Some((offset, at))) => {
                                found.offset = offset;
                                found.timestamp = at;
                            }
                            Ok(None) => {}
                            Err(error) => {
                                tracing::warn!(%error, "reading a partition for a time");
                                found.error_code = errors::UNKNOWN_SERVER_ERROR;
                            }
                        },
                    }
                    found
                })
                .collect();
            answer.name = asked.name;
            answer
        })
        .collect();
    response
}
