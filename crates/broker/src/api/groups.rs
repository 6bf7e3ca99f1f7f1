//! Consumer-group requests: membership (join, sync, heartbeat, leave), committed offsets,
//! and listing and describing groups.

use std::time::Duration;

use kafka_protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    SyncGroupRequest, SyncGroupResponse,
    describe_groups_response::{DescribedGroup, DescribedGroupMember},
    join_group_response::JoinGroupResponseMember,
    leave_group_response::MemberResponse,
    list_groups_response::ListedGroup,
    offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic},
    offset_fetch_response::{OffsetFetchResponsePartition, OffsetFetchResponseTopic},
};

use super::{Client, text};
use crate::{
    Shared, errors,
    groups::{Join, Joined},
    offsets::Committed,
};

pub async fn join(
    shared: &Shared,
    client: &Client,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    let session = millis(request.session_timeout_ms);
    // Version 0 has no rebalance timeout: the session timeout serves as both.
    let rebalance = if request.rebalance_timeout_ms > 0 {
        millis(request.rebalance_timeout_ms)
    } else {
        session
    };
    let answered = shared.groups.join(Join {
        group: request.group_id.to_string(),
        member_id: request.member_id.to_string(),
        client_id: client.id.clone(),
        client_host: client.host.clone(),
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|protocol| (protocol.name.to_string(), protocol.metadata))
            .collect(),
        session_timeout: session,
        rebalance_timeout: rebalance,
    });
    let joined = answered.await.unwrap_or_else(|_| Joined {
        error: errors::REBALANCE_IN_PROGRESS,
        generation: -1,
        ..Joined::default()
    });
    let mut response = JoinGroupResponse::default();
    response.error_code = joined.error;
    response.generation_id = joined.generation;
    response.protocol_type = joined.protocol_type.map(text);
    response.protocol_name = joined.protocol.map(text);
    response.leader = text(joined.leader);
    response.member_id = text(joined.member_id);
    response.members = joined
        .members
        .into_iter()
        .map(|(id, metadata)| {
            let mut member = JoinGroupResponseMember::default();
            member.member_id = text(id);
            member.metadata = metadata;
            member
        })
        .collect();
    response
}

pub async fn sync(shared: &Shared, request: SyncGroupRequest) -> SyncGroupResponse {
    let answered = shared.groups.sync(
        &request.group_id,
        request.generation_id,
        &request.member_id,
        request
            .assignments
            .into_iter()
            .map(|assigned| (assigned.member_id.to_string(), assigned.assignment))
            .collect(),
    );
    let mut response = SyncGroupResponse::default();
    match answered.await {
        Ok(synced) => {
            response.error_code = synced.error;
            response.protocol_type = synced.protocol_type.map(text);
            response.protocol_name = synced.protocol.map(text);
            response.assignment = synced.assignment;
        }
        Err(_) => response.error_code = errors::REBALANCE_IN_PROGRESS,
    }
    response
}

pub fn heartbeat(shared: &Shared, request: &HeartbeatRequest) -> HeartbeatResponse {
    let mut response = HeartbeatResponse::default();
    response.error_code =
        shared
            .groups
            .heartbeat(&request.group_id, request.generation_id, &request.member_id);
    response
}

pub fn leave(shared: &Shared, client: &Client, request: LeaveGroupRequest) -> LeaveGroupResponse {
    let mut response = LeaveGroupResponse::default();
    if client.version < 3 {
        let answers = shared
            .groups
            .leave(&request.group_id, &[request.member_id.to_string()]);
        response.error_code = answers.first().copied().unwrap_or(errors::NONE);
        return response;
    }
    let ids: Vec<String> = request
        .members
        .iter()
        .map(|member| member.member_id.to_string())
        .collect();
    let answers = shared.groups.leave(&request.group_id, &ids);
    response.members = request
        .members
        .into_iter()
        .zip(answers)
        .map(|(member, error)| {
            let mut answer = MemberResponse::default();
            answer.member_id = member.member_id;
            answer.group_instance_id = member.group_instance_id;
            answer.error_code = error;
            answer
        })
        .collect();
    response
}

pub fn commit(shared: &Shared, request: OffsetCommitRequest) -> OffsetCommitResponse {
    let offsets: Vec<(String, i32, Committed)> = request
        .topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().map(|partition| {
                (
                    topic.name.to_string(),
                    partition.partition_index,
                    Committed {
                        offset: partition.committed_offset,
                        metadata: partition
                            .committed_metadata
                            .as_ref()
                            .map(ToString::to_string),
                    },
                )
            })
        })
        .collect();
    let error = match shared.offsets.commit(&request.group_id, offsets) {
        Ok(()) => errors::NONE,
        Err(error) => {
            tracing::warn!(%error, "writing committed offsets");
            errors::UNKNOWN_SERVER_ERROR
        }
    };
    let mut response = OffsetCommitResponse::default();
    response.topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let mut answer = OffsetCommitResponseTopic::default();
            answer.partitions = topic
                .partitions
                .iter()
                .map(|partition| {
                    let mut written = OffsetCommitResponsePartition::default();
                    written.partition_index = partition.partition_index;
                    written.error_code = error;
                    written
                })
                .collect();
            answer.name = topic.name;
            answer
        })
        .collect();
    response
}

pub fn fetch_offsets(shared: &Shared, request: OffsetFetchRequest) -> OffsetFetchResponse {
    let group = request.group_id.to_string();
    let asked: Vec<(String, Vec<i32>)> = match request.topics {
        Some(topics) => topics
            .into_iter()
            .map(|topic| (topic.name.to_string(), topic.partition_indexes))
            .collect(),
        None => {
            let mut all: Vec<(String, Vec<i32>)> = Vec::new();
            for (topic, partition, _) in shared.offsets.of_group(&group) {
                match all.iter_mut().find(|(name, _)| *name == topic) {
                    Some((_, partitions)) => partitions.push(partition),
                    None => all.push((topic, vec![partition])),
                }
            }
            all
        }
    };
    let mut response = OffsetFetchResponse::default();
    response.topics = asked
        .into_iter()
        .map(|(topic, partitions)| {
            let mut answer = OffsetFetchResponseTopic::default();
            answer.partitions = partitions
                .into_iter()
                .map(|partition| {
                    let mut found = OffsetFetchResponsePartition::default();
                    found.partition_index = partition;
                    found.committed_leader_epoch = -1;
                    match shared.offsets.get(&group, &topic, partition) {
                        Some(committed) => {
                            found.committed_offset = committed.offset;
                            found.metadata = committed.metadata.map(text);
                        }
                        None => {
                            found.committed_offset = -1;
                            found.metadata = Some(text(""));
                        }
                    }
                    found
                })
                .collect();
            answer.name = kafka_protocol::messages::TopicName(text(topic));
            answer
        })
        .collect();
    response
}

pub fn list(shared: &Shared) -> ListGroupsResponse {
    let mut response = ListGroupsResponse::default();
    response.groups = shared
        .groups
        .list()
        .into_iter()
        .map(|(id, protocol_type, state)| {
            let mut listed = ListedGroup::default();
            listed.group_id = kafka_protocol::messages::GroupId(text(id));
            listed.protocol_type = text(protocol_type);
            listed.group_state = text(state);
            listed.group_type = text("classic");
            listed
        })
        .collect();
    response
}

pub fn describe(shared: &Shared, request: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let mut response = DescribeGroupsResponse::default();
    response.groups = request
        .groups
        .into_iter()
        .map(|group_id| {
            let description = shared.groups.describe(&group_id);
            let mut described = DescribedGroup::default();
            described.group_state = text(description.state);
            described.protocol_type = text(description.protocol_type);
            described.protocol_data = text(description.protocol);
            described.members = description
                .members
                .into_iter()
                .map(|member| {
                    let mut shown = DescribedGroupMember::default();
                    shown.member_id = text(member.member_id);
                    shown.client_id = text(member.client_id);
                    shown.client_host = text(member.client_host);
                    shown.member_metadata = member.metadata;
                    shown.member_assignment = member.assignment;
                    shown
                })
                .collect();
            described.group_id = group_id;
            described
        })
        .collect();
    response
}

fn millis(value: i32) -> Duration {
    Duration::from_millis(u64::try_from(value).unwrap_or(0))
}
