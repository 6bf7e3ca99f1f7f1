//! The requests the broker answers, by family, and the versions of each it speaks.

mod fetch;
mod groups;
mod metadata;
mod produce;
mod topics;

use kafka_protocol::{
    messages::{
        ApiKey, ApiVersionsResponse, RequestKind, ResponseKind, api_versions_response::ApiVersion,
    },
    protocol::StrBytes,
};

use crate::{Shared, errors};

/// Who sent a request, and at which version.
#[derive(Debug)]
pub struct Client {
    pub id: String,
    pub host: String,
    pub version: i16,
}

/// The versions of each request the broker speaks: every version of the fields it fills
/// in, up to where newer versions switch to features it does not have (topic IDs in fetch
/// and produce, batched offset fetches).
const VERSIONS: [(ApiKey, i16, i16); 19] = [
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 6),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 0, 7),
    (ApiKey::DeleteTopics, 0, 5),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 0, 4),
    (ApiKey::DescribeCluster, 0, 1),
];

pub fn supported(key: ApiKey) -> Option<(i16, i16)> {
    VERSIONS
        .iter()
        .find(|(known, _, _)| *known == key)
        .map(|(_, min, max)| (*min, *max))
}

fn api_versions(error: i16) -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::default();
    response.error_code = error;
    response.api_keys = VERSIONS
        .iter()
        .map(|(key, min, max)| {
            let mut version = ApiVersion::default();
            version.api_key = *key as i16;
            version.min_version = *min;
            version.max_version = *max;
            version
        })
        .collect();
    response
}

/// The answer to an `ApiVersions` request newer than the broker.
pub fn unsupported_api_versions() -> ApiVersionsResponse {
    api_versions(errors::UNSUPPORTED_VERSION)
}

/// Answers one request; `None` when it gets no answer.
pub async fn handle(
    shared: &Shared,
    client: &Client,
    request: RequestKind,
) -> Option<ResponseKind> {
    let response: ResponseKind = match request {
        RequestKind::ApiVersions(_) => api_versions(errors::NONE).into(),
        RequestKind::Metadata(request) => metadata::metadata(shared, client, request).into(),
        RequestKind::DescribeCluster(request) => {
            metadata::describe_cluster(shared, &request).into()
        }
        RequestKind::FindCoordinator(request) => {
            metadata::find_coordinator(shared, client, request).into()
        }
        RequestKind::ListOffsets(request) => metadata::list_offsets(shared, request).into(),
        RequestKind::Produce(request) => return produce::produce(shared, request).map(Into::into),
        RequestKind::InitProducerId(request) => produce::init_producer_id(shared, &request).into(),
        RequestKind::Fetch(request) => fetch::fetch(shared, request).await.into(),
        RequestKind::CreateTopics(request) => topics::create(shared, client, request).into(),
        RequestKind::DeleteTopics(request) => topics::delete(shared, client, request).into(),
        RequestKind::DescribeConfigs(request) => topics::describe_configs(shared, request).into(),
        RequestKind::JoinGroup(request) => groups::join(shared, client, request).await.into(),
        RequestKind::SyncGroup(request) => groups::sync(shared, request).await.into(),
        RequestKind::Heartbeat(request) => groups::heartbeat(shared, &request).into(),
        RequestKind::LeaveGroup(request) => groups::leave(shared, client, request).into(),
        RequestKind::OffsetCommit(request) => groups::commit(shared, request).into(),
        RequestKind::OffsetFetch(request) => groups::fetch_offsets(shared, request).into(),
        RequestKind::ListGroups(_) => groups::list(shared).into(),
        RequestKind::DescribeGroups(request) => groups::describe(shared, request).into(),
        other => {
            // `supported` lets only the requests above through.
            tracing::warn!(request = ?std::mem::discriminant(&other), "unexpected request");
            return None;
        }
    };
    Some(response)
}

fn text(value: impl Into<String>) -> StrBytes {
    StrBytes::from_string(value.into())
}
