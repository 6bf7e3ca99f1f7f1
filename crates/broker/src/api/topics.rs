//! The Admin API's topic requests: create, delete, describe configs.

use kafka_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    DescribeConfigsRequest, DescribeConfigsResponse,
    create_topics_response::{CreatableTopicConfigs, CreatableTopicResult},
    delete_topics_response::DeletableTopicResult,
    describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult},
};

use super::{Client, text};
use crate::{Shared, errors, topics::CreateError};

/// `DescribeConfigs` resource type of a topic.
const TOPIC_RESOURCE: i8 = 2;
/// Config sources: set for the topic, or the broker's default.
const TOPIC_CONFIG: i8 = 1;
const DEFAULT_CONFIG: i8 = 5;

pub fn create(
    shared: &Shared,
    client: &Client,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut response = CreateTopicsResponse::default();
    for asked in request.topics {
        let mut result = CreatableTopicResult::default();
        // -1 asks for the broker's defaults: one partition, one replica here.
        let partitions = if asked.num_partitions == -1 {
            1
        } else {
            asked.num_partitions
        };
        let configs = asked
            .configs
            .iter()
            .filter_map(|config| {
                config
                    .value
                    .as_ref()
                    .map(|value| (config.name.to_string(), value.to_string()))
            })
            .collect();
        match shared.topics.create(
            &asked.name,
            partitions,
            asked.replication_factor,
            configs,
            request.validate_only,
        ) {
            Ok(created) => {
                result.num_partitions = partitions;
                result.replication_factor = 1;
                if let Some(topic) = created {
                    result.topic_id = topic.id;
                    if client.version >= 5 {
                        result.configs = Some(
                            topic
                                .configs()
                                .into_iter()
                                .map(|(name, value, set)| {
                                    let mut config = CreatableTopicConfigs::default();
                                    config.name = text(name);
                                    config.value = Some(text(value));
                                    config.config_source =
                                        if set { TOPIC_CONFIG } else { DEFAULT_CONFIG };
                                    config
                                })
                                .collect(),
                        );
                    }
                }
            }
            Err(error) => {
                result.error_code = match &error {
                    CreateError::Exists(_) => errors::TOPIC_ALREADY_EXISTS,
                    CreateError::InvalidName(_) => errors::INVALID_TOPIC_EXCEPTION,
                    CreateError::InvalidPartitions(_) => errors::INVALID_PARTITIONS,
                    CreateError::InvalidReplication(_) => errors::INVALID_REPLICATION_FACTOR,
                    CreateError::InvalidConfig { .. } => errors::INVALID_CONFIG,
                    CreateError::Io(_) => errors::UNKNOWN_SERVER_ERROR,
                };
                result.error_message = Some(text(error.to_string()));
                result.num_partitions = -1;
                result.replication_factor = -1;
            }
        }
        result.name = asked.name;
        response.topics.push(result);
    }
    response
}

pub fn delete(
    shared: &Shared,
    client: &Client,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let names: Vec<_> = if client.version >= 6 {
        request
            .topics
            .into_iter()
            .filter_map(|topic| topic.name)
            .collect()
    } else {
        request.topic_names
    };
    let mut response = DeleteTopicsResponse::default();
    for name in names {
        let mut result = DeletableTopicResult::default();
        match shared.topics.delete(&name) {
            Ok(true) => {}
            Ok(false) => result.error_code = errors::UNKNOWN_TOPIC_OR_PARTITION,
            Err(error) => {
                result.error_code = errors::UNKNOWN_SERVER_ERROR;
                result.error_message = Some(text(error.to_string()));
            }
        }
        result.name = Some(name);
        response.responses.push(result);
    }
    response
}

pub fn describe_configs(
    shared: &Shared,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let mut response = DescribeConfigsResponse::default();
    for resource in request.resources {
        let mut result = DescribeConfigsResult::default();
        result.resource_type = resource.resource_type;
        if resource.resource_type != TOPIC_RESOURCE {
            // Broker configs: this broker has none to report.
            result.resource_name = resource.resource_name;
            response.results.push(result);
            continue;
        }
        match shared.topics.get(&resource.resource_name) {
            None => {
                result.error_code = errors::UNKNOWN_TOPIC_OR_PARTITION;
                result.error_message = Some(text(format!(
                    "topic {} does not exist",
                    resource.resource_name.as_str()
                )));
            }
            Some(topic) => {
                let keys = resource.configuration_keys.as_ref();
                result.configs = topic
                    .configs()
                    .into_iter()
                    .filter(|(name, _, _)| {
                        keys.is_none_or(|keys| keys.iter().any(|key| key.as_str() == name))
                    })
                    .map(|(name, value, set)| {
                        let mut config = DescribeConfigsResourceResult::default();
                        config.name = text(name);
                        config.value = Some(text(value));
                        config.config_source = if set { TOPIC_CONFIG } else { DEFAULT_CONFIG };
                        config
                    })
                    .collect();
            }
        }
        result.resource_name = resource.resource_name;
        response.results.push(result);
    }
    response
}
