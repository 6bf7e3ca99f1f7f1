//! The group coordinator, as Kafka's classic consumer-group protocol has it: members join,
//! the coordinator waits until every known member has (re)joined or the rebalance timeout
//! passes, hands the leader every member's subscription, and hands each member the
//! assignment the leader sends back. Members that stop heartbeating leave by session
//! timeout. Groups live in memory: after a restart members simply join again.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
    time::Duration,
};

use bytes::Bytes;
use tokio::{sync::oneshot, time::Instant};
use uuid::Uuid;

use crate::errors;

/// A member's request to join, as the coordinator needs it.
#[derive(Debug)]
pub struct Join {
    pub group: String,
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
}

/// What a join is answered with.
#[derive(Debug, Clone, Default)]
pub struct Joined {
    pub error: i16,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member's subscription, for the leader only.
    pub members: Vec<(String, Bytes)>,
}

/// What a sync is answered with.
#[derive(Debug, Clone, Default)]
pub struct Synced {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignment: Bytes,
}

/// A group as `DescribeGroups` shows it.
#[derive(Debug, Clone)]
pub struct Description {
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Empty => "Empty",
            State::PreparingRebalance => "PreparingRebalance",
            State::CompletingRebalance => "CompletingRebalance",
            State::Stable => "Stable",
        }
    }
}

#[derive(Debug)]
struct Member {
    client_id: String,
    client_host: String,
    protocols: Vec<(String, Bytes)>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    last_heard: Instant,
    joining: Option<oneshot::Sender<Joined>>,
    syncing: Option<oneshot::Sender<Synced>>,
    assignment: Bytes,
}

#[derive(Debug)]
struct Group {
    state: State,
    generation: i32,
    protocol_type: String,
    protocol: Option<String>,
    leader: Option<String>,
    /// In join order: the first member to join leads.
    members: BTreeMap<u64, (String, Member)>,
    joined: u64,
    /// When a rebalance stops waiting for members, or a leader for its sync.
    deadline: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Coordinator {
    groups: Mutex<HashMap<String, Group>>,
}

impl Coordinator {
    /// Adds or re-adds a member and answers once the rebalance it starts completes.
    pub fn join(&self, join: Join) -> oneshot::Receiver<Joined> {
        let (answer, answered) = oneshot::channel();
        let now = Instant::now();
        let mut groups = self.lock();
        let group = groups.entry(join.group.clone()).or_insert_with(|| Group {
            state: State::Empty,
            generation: 0,
            protocol_type: join.protocol_type.clone(),
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            joined: 0,
            deadline: None,
        });
        if join.protocols.is_empty()
            || (group.state != State::Empty && group.protocol_type != join.protocol_type)
            || !group.supports(&join.protocols)
        {
            let _gone = answer.send(Joined::failed(errors::INCONSISTENT_GROUP_PROTOCOL));
            return answered;
        }
        if group.state == State::Empty {
            group.protocol_type.clone_from(&join.protocol_type);
        }
        let member_id = if join.member_id.is_empty() {
            format!("{}-{}", join.client_id, Uuid::new_v4())
        } else if group.member(&join.member_id).is_some() {
            join.member_id.clone()
        } else {
            let mut failed = Joined::failed(errors::UNKNOWN_MEMBER_ID);
            failed.member_id = join.member_id;
            let _gone = answer.send(failed);
            return answered;
        };
        let member = Member {
            client_id: join.client_id,
            client_host: join.client_host,
            protocols: join.protocols,
            session_timeout: join.session_timeout,
            rebalance_timeout: join.rebalance_timeout,
            last_heard: now,
            joining: Some(answer),
            syncing: None,
            assignment: Bytes::new(),
        };
        match group.member_mut(&member_id) {
            Some(known) => {
                known.protocols = member.protocols;
                known.session_timeout = member.session_timeout;
                known.rebalance_timeout = member.rebalance_timeout;
                known.last_heard = now;
                known.joining = member.joining;
            }
            None => {
                group.joined += 1;
                group.members.insert(group.joined, (member_id, member));
            }
        }
        group.prepare_rebalance(now);
        group.complete_join_if_ready(now);
        answered
    }

    /// Takes a member's sync; the leader's carries every member's assignment.
    pub fn sync(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        assignments: Vec<(String, Bytes)>,
    ) -> oneshot::Receiver<Synced> {
        let (answer, answered) = oneshot::channel();
        let now = Instant::now();
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            let _gone = answer.send(Synced::failed(errors::UNKNOWN_MEMBER_ID));
            return answered;
        };
        let error = group.check(member_id, generation);
        if error != errors::NONE {
            let _gone = answer.send(Synced::failed(error));
            return answered;
        }
        match group.state {
            State::Empty | State::PreparingRebalance => {
                let _gone = answer.send(Synced::failed(errors::REBALANCE_IN_PROGRESS));
            }
            State::Stable => {
                let synced = group.synced(member_id);
                let _gone = answer.send(synced);
            }
            State::CompletingRebalance => {
                let is_leader = group.leader.as_deref() == Some(member_id);
                if let Some(member) = group.member_mut(member_id) {
                    member.syncing = Some(answer);
                    member.last_heard = now;
                }
                if is_leader {
                    let mut assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for (id, member) in group.members.values_mut() {
                        member.assignment = assignments.remove(id).unwrap_or_default();
                    }
                    group.state = State::Stable;
                    group.deadline = None;
                    let ids: Vec<String> =
                        group.members.values().map(|(id, _)| id.clone()).collect();
                    for id in ids {
                        let synced = group.synced(&id);
                        if let Some(waiting) = group
                            .member_mut(&id)
                            .and_then(|member| member.syncing.take())
                        {
                            let _gone = waiting.send(synced);
                        }
                    }
                }
            }
        }
        answered
    }

    /// Keeps a member alive; tells it when it must rejoin.
    pub fn heartbeat(&self, group_id: &str, generation: i32, member_id: &str) -> i16 {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return errors::UNKNOWN_MEMBER_ID;
        };
        let Some(member) = group.member_mut(member_id) else {
            return errors::UNKNOWN_MEMBER_ID;
        };
        member.last_heard = Instant::now();
        match group.state {
            State::PreparingRebalance => errors::REBALANCE_IN_PROGRESS,
            _ if generation != group.generation => errors::ILLEGAL_GENERATION,
            _ => errors::NONE,
        }
    }

    /// Removes members that leave; the rest rebalance. Answers an error per member.
    pub fn leave(&self, group_id: &str, member_ids: &[String]) -> Vec<i16> {
        let now = Instant::now();
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return vec![errors::UNKNOWN_MEMBER_ID; member_ids.len()];
        };
        let mut answers = Vec::with_capacity(member_ids.len());
        let mut left = false;
        for member_id in member_ids {
            if group.remove(member_id) {
                left = true;
                answers.push(errors::NONE);
            } else {
                answers.push(errors::UNKNOWN_MEMBER_ID);
            }
        }
        if left {
            group.prepare_rebalance(now);
            group.complete_join_if_ready(now);
        }
        answers
    }

    /// Expires silent members and rebalances that waited long enough. Called periodically.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut groups = self.lock();
        for group in groups.values_mut() {
            let expired: Vec<String> = group
                .members
                .values()
                .filter(|(_, member)| {
                    member.joining.is_none() && member.last_heard + member.session_timeout < now
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in &expired {
                tracing::debug!(member = %id, "group member's session expired");
                group.remove(id);
            }
            if !expired.is_empty() {
                group.prepare_rebalance(now);
            }
            if group.deadline.is_some_and(|deadline| deadline <= now) {
                match group.state {
                    State::PreparingRebalance => {
                        let silent: Vec<String> = group
                            .members
                            .values()
                            .filter(|(_, member)| member.joining.is_none())
                            .map(|(id, _)| id.clone())
                            .collect();
                        for id in &silent {
                            group.remove(id);
                        }
                    }
                    State::CompletingRebalance => {
                        // The leader never sent assignments: start over without waiting for it.
                        group.prepare_rebalance(now);
                    }
                    State::Empty | State::Stable => group.deadline = None,
                }
            }
            group.complete_join_if_ready(now);
        }
        groups.retain(|_, group| group.state != State::Empty || !group.members.is_empty());
    }

    pub fn list(&self) -> Vec<(String, String, &'static str)> {
        self.lock()
            .iter()
            .map(|(id, group)| (id.clone(), group.protocol_type.clone(), group.state.name()))
            .collect()
    }

    pub fn describe(&self, group_id: &str) -> Description {
        let groups = self.lock();
        let Some(group) = groups.get(group_id) else {
            return Description {
                state: "Dead",
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            };
        };
        let protocol = group.protocol.clone().unwrap_or_default();
        Description {
            state: group.state.name(),
            protocol_type: group.protocol_type.clone(),
            members: group
                .members
                .values()
                .map(|(id, member)| MemberDescription {
                    member_id: id.clone(),
                    client_id: member.client_id.clone(),
                    client_host: member.client_host.clone(),
                    metadata: member
                        .protocols
                        .iter()
                        .find(|(name, _)| *name == protocol)
                        .map(|(_, metadata)| metadata.clone())
                        .unwrap_or_default(),
                    assignment: member.assignment.clone(),
                })
                .collect(),
            protocol,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Group>> {
        self.groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Group {
    fn member(&self, id: &str) -> Option<&Member> {
        self.members
            .values()
            .find(|(member_id, _)| member_id == id)
            .map(|(_, member)| member)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members
            .values_mut()
            .find(|(member_id, _)| member_id == id)
            .map(|(_, member)| member)
    }

    fn remove(&mut self, id: &str) -> bool {
        let Some(key) = self
            .members
            .iter()
            .find(|(_, (member_id, _))| member_id == id)
            .map(|(key, _)| *key)
        else {
            return false;
        };
        if let Some((_, member)) = self.members.remove(&key) {
            if let Some(joining) = member.joining {
                let _gone = joining.send(Joined::failed(errors::UNKNOWN_MEMBER_ID));
            }
            if let Some(syncing) = member.syncing {
                let _gone = syncing.send(Synced::failed(errors::UNKNOWN_MEMBER_ID));
            }
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = None;
        }
        true
    }

    /// Whether a joining member shares a protocol with every member already in the group.
    fn supports(&self, protocols: &[(String, Bytes)]) -> bool {
        self.members.values().all(|(_, member)| {
            member
                .protocols
                .iter()
                .any(|(name, _)| protocols.iter().any(|(other, _)| other == name))
        })
    }

    fn check(&self, member_id: &str, generation: i32) -> i16 {
        if self.member(member_id).is_none() {
            errors::UNKNOWN_MEMBER_ID
        } else if generation != self.generation {
            errors::ILLEGAL_GENERATION
        } else {
            errors::NONE
        }
    }

    fn prepare_rebalance(&mut self, now: Instant) {
        if self.state == State::CompletingRebalance {
            for (_, member) in self.members.values_mut() {
                if let Some(syncing) = member.syncing.take() {
                    let _gone = syncing.send(Synced::failed(errors::REBALANCE_IN_PROGRESS));
                }
            }
        }
        if self.state != State::PreparingRebalance {
            let wait = self
                .members
                .values()
                .map(|(_, member)| member.rebalance_timeout)
                .max()
                .unwrap_or_default();
            self.deadline = Some(now + wait);
        }
        self.state = State::PreparingRebalance;
    }

    /// Completes a rebalance once every member has joined.
    fn complete_join_if_ready(&mut self, now: Instant) {
        if self.state != State::PreparingRebalance
            || self
                .members
                .values()
                .any(|(_, member)| member.joining.is_none())
        {
            return;
        }
        self.generation += 1;
        if self.members.is_empty() {
            self.state = State::Empty;
            self.protocol = None;
            self.leader = None;
            self.deadline = None;
            return;
        }
        let leader = match &self.leader {
            Some(leader) if self.member(leader).is_some() => leader.clone(),
            _ => self
                .members
                .values()
                .next()
                .map(|(id, _)| id.clone())
                .expect("the group has a member"),
        };
        let protocol = self.member(&leader).and_then(|member| {
            member
                .protocols
                .iter()
                .map(|(name, _)| name)
                .find(|name| {
                    self.members
                        .values()
                        .all(|(_, other)| other.protocols.iter().any(|(theirs, _)| theirs == *name))
                })
                .cloned()
        });
        let everyone: Vec<(String, Bytes)> = self
            .members
            .values()
            .map(|(id, member)| {
                let metadata = member
                    .protocols
                    .iter()
                    .find(|(name, _)| Some(name) == protocol.as_ref())
                    .map(|(_, metadata)| metadata.clone())
                    .unwrap_or_default();
                (id.clone(), metadata)
            })
            .collect();
        let session = self
            .members
            .values()
            .map(|(_, member)| member.session_timeout)
            .max()
            .unwrap_or_default();
        for (id, member) in self.members.values_mut() {
            member.last_heard = now;
            if let Some(joining) = member.joining.take() {
                let _gone = joining.send(Joined {
                    error: errors::NONE,
                    generation: self.generation,
                    protocol_type: Some(self.protocol_type.clone()),
                    protocol: protocol.clone(),
                    leader: leader.clone(),
                    member_id: id.clone(),
                    members: if *id == leader {
                        everyone.clone()
                    } else {
                        Vec::new()
                    },
                });
            }
        }
        self.protocol = protocol;
        self.leader = Some(leader);
        self.state = State::CompletingRebalance;
        self.deadline = Some(now + session);
    }

    fn synced(&self, member_id: &str) -> Synced {
        Synced {
            error: errors::NONE,
            protocol_type: Some(self.protocol_type.clone()),
            protocol: self.protocol.clone(),
            assignment: self
                .member(member_id)
                .map(|member| member.assignment.clone())
                .unwrap_or_default(),
        }
    }
}

impl Joined {
    fn failed(error: i16) -> Self {
        Self {
            error,
            generation: -1,
            ..Self::default()
        }
    }
}

impl Synced {
    fn failed(error: i16) -> Self {
        Self {
            error,
            ..Self::default()
        }
    }
}
