//! The topics a Cairn cluster keeps its records in, named from one prefix, and the settings
//! that keep those records: what a node creates when a topic is missing, what it checks (and
//! refuses to start on) when a topic exists, and what `cairn admin topics` prints, creates or
//! checks for operators whose Kafka forbids automatic creation.
//!
//! What a node needs to rebuild a history partition is its latest snapshot and the records
//! after it. The snapshot topic is compacted, each chunk keyed by its place in a snapshot,
//! so Kafka keeps every partition's latest snapshot for as long as it is the latest, however
//! old, and drops the ones it replaced. Owners snapshot a partition that changed at least
//! once per snapshot interval, so the history topic may delete records older than
//! [`needed_retention`] (three intervals: one snapshot that fails, and the time to write the
//! next); the plan keeps the history forever all the same, as its records are also the
//! workflows' histories for Kafka tools. The metadata topic is read from its start and keeps
//! everything; nothing is written to the matching topic. The history and metadata topics are
//! never compacted, which would drop a workflow's older records since they share its key.
//! Replication follows Kafka's advice for writes that must not be lost: three replicas where
//! the cluster has them, `min.insync.replicas` 2, no unclean leader election.

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_log::{KafkaConfig, MAX_RECORD_BYTES, TopicFacts, TopicSpec};

/// The prefix of every topic and consumer group of a cluster, unless configured.
pub const DEFAULT_TOPIC_PREFIX: &str = "cairn";

/// The names of one cluster's topics and consumer groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicNames {
    /// One Kafka partition per history partition: the runs' records.
    pub history: String,
    /// One Kafka partition per history partition: snapshots of each partition's state.
    pub snapshots: String,
    /// One Kafka partition per task-queue partition; matching nodes divide its partitions
    /// through their consumer group, and no records are written to it.
    pub matching: String,
    /// One partition: cluster, namespaces, nodes, ownership.
    pub metadata: String,
}

impl TopicNames {
    /// Names from `prefix`: `PREFIX.history`, `PREFIX.snapshots`, `PREFIX.matching`,
    /// `PREFIX.metadata`. Kafka allows letters, digits, `.`, `_` and `-` in topic names.
    pub fn new(prefix: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !prefix.is_empty()
                && prefix.len() <= 200
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
            "topic prefix {prefix:?} is not valid: use 1 to 200 of a-z, A-Z, 0-9, '.', '_' and '-'"
        );
        Ok(Self {
            history: format!("{prefix}.history"),
            snapshots: format!("{prefix}.snapshots"),
            matching: format!("{prefix}.matching"),
            metadata: format!("{prefix}.metadata"),
        })
    }

    /// The consumer group history nodes divide history partitions through.
    pub fn history_group(&self) -> String {
        self.history.clone()
    }

    /// The consumer group matching nodes divide task-queue partitions through.
    pub fn matching_group(&self) -> String {
        self.matching.clone()
    }
}

impl Default for TopicNames {
    fn default() -> Self {
        Self::new(DEFAULT_TOPIC_PREFIX).expect("the default prefix is valid")
    }
}

/// How long a topic's records must be kept for the cluster to rebuild its partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Every record: nodes read the topic from its start.
    Everything,
    /// Records younger than this: the latest snapshot is always younger.
    Younger(Duration),
    /// The latest record of each key: compaction, or everything.
    LatestOfEachKey,
    /// Nothing: no records are written to the topic.
    Nothing,
}

/// One topic of the plan: what a node creates, and what it must keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTopic {
    pub spec: TopicSpec,
    pub keep: Keep,
}

/// The retention the history topic needs at least: three snapshot intervals, so that every
/// record after a partition's latest complete snapshot is kept, even when one snapshot fails
/// (plus the time no node owns the partition, which only an operator can bound).
pub fn needed_retention(snapshot_interval: Duration) -> Duration {
    snapshot_interval.saturating_mul(3)
}

/// How many replicas a topic gets unless configured: three where the cluster has them.
pub fn default_replication(brokers: i32) -> i32 {
    brokers.clamp(1, 3)
}

/// The metadata topic's plan (created before the cluster's size is known).
pub fn metadata_plan(names: &TopicNames, replication: i32) -> PlannedTopic {
    planned(&names.metadata, 1, replication, Keep::Everything, &[])
}

/// The plan of the topics sized by the cluster's partition counts.
pub fn partitioned_plan(
    names: &TopicNames,
    history_partitions: i32,
    matching_partitions: i32,
    replication: i32,
    snapshot_interval: Duration,
) -> Vec<PlannedTopic> {
    let needed = needed_retention(snapshot_interval);
    // Segments roll every interval, so that compaction, which leaves the active segment
    // alone, can drop replaced snapshots.
    let interval_ms = millis(snapshot_interval);
    vec![
        planned(
            &names.history,
            history_partitions,
            replication,
            Keep::Younger(needed),
            &[],
        ),
        planned(
            &names.snapshots,
            history_partitions,
            replication,
            Keep::LatestOfEachKey,
            &[("cleanup.policy", "compact"), ("segment.ms", &interval_ms)],
        ),
        planned(
            &names.matching,
            matching_partitions,
            replication,
            Keep::Nothing,
            &[],
        ),
    ]
}

/// Every topic of a cluster whose history and matching partitions are both `partitions`:
/// the metadata topic first, as a node creates it.
pub fn whole_plan(
    names: &TopicNames,
    partitions: i32,
    replication: i32,
    snapshot_interval: Duration,
) -> Vec<PlannedTopic> {
    let mut plan = vec![metadata_plan(names, replication)];
    plan.extend(partitioned_plan(
        names,
        partitions,
        partitions,
        replication,
        snapshot_interval,
    ));
    plan
}

fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

/// A topic with Cairn's settings, `overrides` replacing some.
fn planned(
    name: &str,
    partitions: i32,
    replication: i32,
    keep: Keep,
    overrides: &[(&str, &str)],
) -> PlannedTopic {
    let mut configs: BTreeMap<String, String> = [
        ("cleanup.policy", "delete".to_owned()),
        ("retention.ms", "-1".to_owned()),
        ("retention.bytes", "-1".to_owned()),
        ("max.message.bytes", MAX_RECORD_BYTES.to_string()),
        ("min.insync.replicas", replication.min(2).to_string()),
        ("unclean.leader.election.enable", "false".to_owned()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    for (key, value) in overrides {
        configs.insert((*key).to_owned(), (*value).to_owned());
    }
    PlannedTopic {
        spec: TopicSpec {
            name: name.to_owned(),
            partitions,
            replication,
            configs,
        },
        keep,
    }
}

/// What is wrong with an existing topic: each problem would lose records or wedge a
/// partition, and says what to change. Empty when the topic can be used.
pub fn problems(planned: &PlannedTopic, facts: &TopicFacts) -> Vec<String> {
    let spec = &planned.spec;
    let name = &spec.name;
    let mut problems = Vec::new();
    if facts.partitions != spec.partitions {
        problems.push(format!(
            "topic {name} has {} partitions where this cluster has {}; partition counts are \
             fixed when a cluster is created: use the cluster's own topics (--topic-prefix) \
             or delete these and start again",
            facts.partitions, spec.partitions
        ));
    }
    let setting = |key: &str| facts.configs.get(key).map(String::as_str);
    if let Some(policy) = setting("cleanup.policy")
        && policy.contains("compact")
        && matches!(planned.keep, Keep::Everything | Keep::Younger(_))
    {
        problems.push(format!(
            "topic {name} has cleanup.policy={policy}: compaction drops a workflow's older \
             records, which share its key; set cleanup.policy=delete"
        ));
    }
    problems.extend(retention_problems(name, planned.keep, setting));
    if let Some(value) = setting("max.message.bytes")
        && value
            .parse::<usize>()
            .is_ok_and(|bytes| bytes < MAX_RECORD_BYTES)
    {
        problems.push(format!(
            "topic {name} has max.message.bytes={value}, below Cairn's largest record \
             ({MAX_RECORD_BYTES} bytes): a larger write would be refused and its partition \
             stop; set max.message.bytes={MAX_RECORD_BYTES}"
        ));
    }
    if let Some(value) = setting("min.insync.replicas")
        && value
            .parse::<i32>()
            .is_ok_and(|min| min > facts.replication)
    {
        problems.push(format!(
            "topic {name} has min.insync.replicas={value} but {} replicas: no write could \
             ever be acknowledged; set min.insync.replicas to at most {}",
            facts.replication, facts.replication
        ));
    }
    if setting("unclean.leader.election.enable") == Some("true") {
        problems.push(format!(
            "topic {name} has unclean.leader.election.enable=true: a replica that missed \
             acknowledged records could become leader and lose them; set it to false"
        ));
    }
    problems
}

/// What is wrong with a topic's retention for what the cluster must keep of it.
fn retention_problems<'a>(
    name: &str,
    keep: Keep,
    setting: impl Fn(&str) -> Option<&'a str>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let finite = |key: &str| setting(key).filter(|value| *value != "-1");
    match keep {
        Keep::Nothing => {}
        Keep::LatestOfEachKey => {
            let policy = setting("cleanup.policy").unwrap_or("delete");
            let deletes = policy.contains("delete")
                && (finite("retention.ms").is_some() || finite("retention.bytes").is_some());
            if deletes {
                problems.push(format!(
                    "topic {name} has cleanup.policy={policy} with a finite retention: Kafka \
                     would delete a quiet partition's only snapshot; set \
                     cleanup.policy=compact"
                ));
            }
        }
        Keep::Everything => {
            for key in ["retention.ms", "retention.bytes"] {
                if let Some(value) = finite(key) {
                    problems.push(format!(
                        "topic {name} has {key}={value}: nodes read this topic from its start, \
                         and Kafka would delete records they need; set {key}=-1"
                    ));
                }
            }
        }
        Keep::Younger(needed) => {
            let needed_ms = needed.as_millis();
            if let Some(value) = finite("retention.ms")
                && value.parse::<u128>().is_ok_and(|ms| ms < needed_ms)
            {
                problems.push(format!(
                    "topic {name} has retention.ms={value}: a partition is rebuilt from its \
                     latest snapshot and the records after it, which may be up to three \
                     snapshot intervals old; set retention.ms to at least {needed_ms} (or -1), \
                     or shorten the snapshot interval"
                ));
            }
            if let Some(value) = finite("retention.bytes") {
                problems.push(format!(
                    "topic {name} has retention.bytes={value}: a size limit can delete records \
                     younger than the latest snapshot; set retention.bytes=-1 and limit the \
                     topic by time (retention.ms)"
                ));
            }
        }
    }
    problems
}

/// What an existing topic does less well than the plan, without losing records.
pub fn warnings(planned: &PlannedTopic, facts: &TopicFacts) -> Vec<String> {
    let spec = &planned.spec;
    let mut warnings = Vec::new();
    if facts.replication < spec.replication {
        warnings.push(format!(
            "topic {} has {} replicas where {} are recommended: a broker's loss can stop it",
            spec.name, facts.replication, spec.replication
        ));
    }
    let min_insync = facts
        .configs
        .get("min.insync.replicas")
        .and_then(|value| value.parse::<i32>().ok())
        .unwrap_or(1);
    if facts.replication >= 3 && min_insync < 2 {
        warnings.push(format!(
            "topic {} has min.insync.replicas={min_insync}: an acknowledged write can live on \
             one broker until it is replicated; 2 is recommended",
            spec.name
        ));
    }
    warnings
}

/// What happened to one topic of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOutcome {
    Created,
    Exists,
}

/// Creates each missing topic of `plan` (when `create`) and checks every existing one; fails
/// with every problem found, each saying what to change.
pub async fn ensure(
    kafka: &KafkaConfig,
    plan: &[PlannedTopic],
    create: bool,
) -> anyhow::Result<Vec<(String, TopicOutcome)>> {
    let mut outcomes = Vec::new();
    let mut found = Vec::new();
    for planned in plan {
        let spec = &planned.spec;
        let mut facts = cairn_log::describe_topic(kafka, &spec.name).await?;
        let mut outcome = TopicOutcome::Exists;
        if facts.is_none() {
            anyhow::ensure!(
                create,
                "topic {} does not exist: create the cluster's topics with `cairn admin topics \
                 create` (or see `cairn admin topics print`)",
                spec.name
            );
            cairn_log::create_topic_with(kafka, spec).await?;
            // Kafka answers once its controller has the topic; a broker asked next may not
            // know of it for a moment.
            let deadline = tokio::time::Instant::now() + kafka.admin_timeout;
            loop {
                let described = cairn_log::describe_topic(kafka, &spec.name).await;
                if tokio::time::Instant::now() >= deadline || matches!(described, Ok(Some(_))) {
                    facts = described?;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await; // poll interval
            }
            outcome = TopicOutcome::Created;
        }
        let facts = facts.ok_or_else(|| {
            anyhow::anyhow!("topic {} was created but cannot be described", spec.name)
        })?;
        for warning in warnings(planned, &facts) {
            tracing::warn!("{warning}");
        }
        found.extend(problems(planned, &facts));
        outcomes.push((spec.name.clone(), outcome));
    }
    if !found.is_empty() {
        anyhow::bail!(
            "the cluster's topics would lose records or stop partitions:\n  - {}",
            found.join("\n  - ")
        );
    }
    Ok(outcomes)
}

/// `kafka-topics.sh` commands that create the plan's topics by hand.
pub fn commands(plan: &[PlannedTopic]) -> Vec<String> {
    plan.iter()
        .map(|PlannedTopic { spec, .. }| {
            let configs: Vec<String> = spec
                .configs
                .iter()
                .map(|(key, value)| format!("--config {key}={value}"))
                .collect();
            format!(
                "kafka-topics.sh --bootstrap-server \"$KAFKA\" --create --topic {} \
                 --partitions {} --replication-factor {} {}",
                spec.name,
                spec.partitions,
                spec.replication,
                configs.join(" ")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(partitions: i32, replication: i32, configs: &[(&str, &str)]) -> TopicFacts {
        TopicFacts {
            partitions,
            replication,
            configs: configs
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn the_plan_keeps_every_record_with_three_replicas_where_there_are_three_brokers() {
        let names = TopicNames::new("team-a").unwrap();
        let plan = partitioned_plan(&names, 16, 8, default_replication(5), INTERVAL);
        let history = &plan[0].spec;
        assert_eq!(history.name, "team-a.history");
        assert_eq!(plan[2].spec.partitions, 8);
        assert_eq!(history.replication, 3);
        assert_eq!(history.configs["min.insync.replicas"], "2");
        assert_eq!(history.configs["cleanup.policy"], "delete");
        assert_eq!(history.configs["retention.ms"], "-1");
        assert_eq!(
            metadata_plan(&names, default_replication(1)).spec.configs["min.insync.replicas"],
            "1"
        );
    }

    const INTERVAL: Duration = Duration::from_secs(600);

    #[test]
    fn a_topic_made_by_the_plan_has_no_problems() {
        for planned in whole_plan(&TopicNames::default(), 4, 3, INTERVAL) {
            let configs: Vec<(&str, &str)> = planned
                .spec
                .configs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let made = facts(planned.spec.partitions, 3, &configs);
            assert!(problems(&planned, &made).is_empty(), "{planned:?}");
            assert!(warnings(&planned, &made).is_empty(), "{planned:?}");
        }
    }

    #[test]
    fn snapshots_are_compacted_and_the_history_may_be_kept_three_intervals() {
        let plan = partitioned_plan(&TopicNames::default(), 4, 4, 3, INTERVAL);
        let (history, snapshots, matching) = (&plan[0], &plan[1], &plan[2]);
        assert_eq!(snapshots.spec.configs["cleanup.policy"], "compact");
        assert_eq!(snapshots.spec.configs["segment.ms"], "600000");
        let kept = |ms: &str| facts(4, 3, &[("retention.ms", ms), ("retention.bytes", "-1")]);
        // Kafka's default of seven days is plenty; ten minutes is not.
        assert!(problems(history, &kept("604800000")).is_empty());
        let short = problems(history, &kept("600000"));
        assert_eq!(short.len(), 1, "{short:#?}");
        assert!(short[0].contains("set retention.ms to at least 1800000"));
        // A quiet partition's only snapshot may be any age: deleting by time loses it.
        let deleted = problems(snapshots, &kept("604800000"));
        assert!(
            deleted[0].contains("set cleanup.policy=compact"),
            "{deleted:#?}"
        );
        assert!(problems(snapshots, &kept("-1")).is_empty());
        let compacted = facts(
            4,
            3,
            &[("cleanup.policy", "compact"), ("retention.ms", "1000")],
        );
        assert!(problems(snapshots, &compacted).is_empty());
        assert!(!problems(history, &compacted).is_empty());
        // Nothing is written to the matching topic: any retention does.
        assert!(problems(matching, &kept("1000")).is_empty());
        let by_size = facts(
            4,
            3,
            &[("retention.ms", "-1"), ("retention.bytes", "1073741824")],
        );
        assert!(problems(history, &by_size)[0].contains("set retention.bytes=-1"));
        // The metadata topic is read from its start.
        let metadata = metadata_plan(&TopicNames::default(), 3);
        let found = problems(&metadata, &facts(1, 3, &[("retention.ms", "604800000")]));
        assert!(found[0].contains("set retention.ms=-1"), "{found:#?}");
    }

    #[test]
    fn settings_that_lose_records_or_wedge_a_partition_are_each_named_with_their_fix() {
        let spec = partitioned_plan(&TopicNames::default(), 16, 16, 3, INTERVAL).remove(0);
        let found = problems(
            &spec,
            &facts(
                8,
                2,
                &[
                    ("cleanup.policy", "compact,delete"),
                    ("retention.ms", "60000"),
                    ("retention.bytes", "-1"),
                    ("max.message.bytes", "1048588"),
                    ("min.insync.replicas", "3"),
                    ("unclean.leader.election.enable", "true"),
                ],
            ),
        );
        assert_eq!(found.len(), 6, "{found:#?}");
        assert!(found[0].contains("has 8 partitions where this cluster has 16"));
        assert!(found[1].contains("set cleanup.policy=delete"));
        assert!(found[2].contains("set retention.ms to at least"));
        assert!(found[3].contains(&format!("set max.message.bytes={MAX_RECORD_BYTES}")));
        assert!(found[4].contains("no write could ever be acknowledged"));
        assert!(found[5].contains("unclean.leader.election.enable"));
    }

    #[test]
    fn fewer_replicas_than_recommended_is_a_warning_not_a_refusal() {
        let spec = metadata_plan(&TopicNames::default(), 3);
        let one = facts(1, 1, &[("min.insync.replicas", "1")]);
        assert!(problems(&spec, &one).is_empty());
        assert_eq!(warnings(&spec, &one).len(), 1);
    }

    #[test]
    fn a_prefix_kafka_cannot_name_topics_with_is_refused() {
        assert!(TopicNames::new("").is_err());
        assert!(TopicNames::new("a/b").is_err());
        assert_eq!(
            TopicNames::new("prod_eu-1").unwrap().metadata,
            "prod_eu-1.metadata"
        );
    }
}
