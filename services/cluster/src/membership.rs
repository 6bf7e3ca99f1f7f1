//! Partition ownership through Kafka consumer groups. The nodes of a role join one group
//! subscribed to the role's topic; the group coordinator spreads the topic's partitions over
//! the live members and moves them when a member joins, leaves or stops heartbeating
//! (`session.timeout.ms`). The group only decides who should own what: the consumer is
//! paused on everything it is assigned and reads nothing. Safety does not rest on it — two
//! history nodes that both believe they own a partition are told apart by the epochs of
//! their claims in the partition itself.

use std::{collections::BTreeSet, thread, time::Duration};

use cairn_log::KafkaConfig;
use rdkafka::{
    TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Joins `group` on `topic` and reports the partitions assigned to this member. The member
/// leaves the group (so others take over at once) when `stop` fires and `leave` completes.
pub struct Membership {
    assigned: watch::Receiver<BTreeSet<i32>>,
    thread: Option<thread::JoinHandle<()>>,
    stop: CancellationToken,
}

#[derive(Debug, Clone)]
pub struct MembershipConfig {
    pub group: String,
    pub topic: String,
    /// A member that sends no heartbeat for this long is presumed dead.
    pub session_timeout: Duration,
}

impl Membership {
    pub fn join(kafka: &KafkaConfig, config: MembershipConfig) -> anyhow::Result<Self> {
        let heartbeat = (config.session_timeout / 4).max(Duration::from_millis(100));
        let consumer: BaseConsumer = kafka
            .client_config(&format!("{}-member", config.group))
            .set("group.id", &config.group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "latest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set(
                "session.timeout.ms",
                config.session_timeout.as_millis().to_string(),
            )
            .set("heartbeat.interval.ms", heartbeat.as_millis().to_string())
            .create()?;
        consumer.subscribe(&[config.topic.as_str()])?;
        let (report, assigned) = watch::channel(BTreeSet::new());
        let stop = CancellationToken::new();
        let thread_stop = stop.clone();
        let thread = thread::Builder::new()
            .name(format!("{}-member", config.group))
            .spawn(move || run(consumer, config, report, thread_stop))?;
        Ok(Self {
            assigned,
            thread: Some(thread),
            stop,
        })
    }

    /// The partitions currently assigned to this member; changes as the group rebalances.
    pub fn assigned(&self) -> watch::Receiver<BTreeSet<i32>> {
        self.assigned.clone()
    }

    /// Leaves the group and waits until the coordinator was told.
    pub async fn leave(mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _joined = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn run(
    consumer: BaseConsumer,
    config: MembershipConfig,
    report: watch::Sender<BTreeSet<i32>>,
    stop: CancellationToken,
) {
    let mut current = BTreeSet::new();
    while !stop.is_cancelled() {
        // Polling drives heartbeats and rebalances; records that slip through are ignored.
        let _ignored = consumer.poll(Duration::from_millis(100));
        let assignment = match consumer.assignment() {
            Ok(assignment) => assignment,
            Err(error) => {
                warn!(group = %config.group, error = %error, "reading the group assignment failed");
                continue;
            }
        };
        let now: BTreeSet<i32> = assignment
            .elements_for_topic(&config.topic)
            .iter()
            .map(|element| element.partition())
            .collect();
        if now != current {
            let added: TopicPartitionList = {
                let mut list = TopicPartitionList::new();
                for partition in now.difference(&current) {
                    list.add_partition(&config.topic, *partition);
                }
                list
            };
            if added.count() > 0
                && let Err(error) = consumer.pause(&added)
            {
                warn!(group = %config.group, error = %error, "pausing assigned partitions failed");
            }
            info!(group = %config.group, partitions = ?now, "assignment changed");
            current = now;
            report.send_replace(current.clone());
        }
    }
    consumer.unsubscribe();
    // Let the coordinator hear that this member left before the consumer closes.
    for _ in 0..20 {
        let _ignored = consumer.poll(Duration::from_millis(50));
        if consumer.assignment().map(|a| a.count() == 0).unwrap_or(true) {
            break;
        }
    }
    report.send_replace(BTreeSet::new());
}
