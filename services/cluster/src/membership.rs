//! Partition ownership through Kafka consumer groups. The nodes of a role join one group
//! subscribed to the role's topic; the group coordinator spreads the topic's partitions over
//! the live members and moves them when a member joins, leaves or stops heartbeating
//! (`session.timeout.ms`). The group only decides who should own what: the consumer is
//! paused on everything it is assigned and reads nothing. Safety does not rest on it — two
//! history nodes that both believe they own a partition are told apart by the epochs of
//! their claims in the partition itself.
//!
//! The group uses the eager protocol with the round-robin assignor: every rebalance hands
//! out the whole assignment at once. A member reports an assignment only when one arrives
//! (not the empty moment between a revocation and the next assignment), so partitions that
//! stay put keep serving through a rebalance.

use std::{collections::BTreeSet, thread, time::Duration};

use cairn_log::KafkaConfig;
use std::sync::Mutex;

use rdkafka::{
    ClientContext, TopicPartitionList,
    consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance},
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// The shortest rebalance timeout: a join must outlast the initial rebalance delay.
const MIN_REBALANCE_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// A member that sends no heartbeat for this long is presumed dead. It must be longer
    /// than the coordinator's initial rebalance delay (3 s by default on Kafka and on the
    /// mock broker): a first join waits that long without heartbeats, and a shorter session
    /// would expire the member before the join completes.
    pub session_timeout: Duration,
}

impl Membership {
    pub fn join(kafka: &KafkaConfig, config: MembershipConfig) -> anyhow::Result<Self> {
        let heartbeat = (config.session_timeout / 4).max(Duration::from_millis(100));
        let rebalance_timeout = config.session_timeout.max(MIN_REBALANCE_TIMEOUT);
        let context = Assignments {
            topic: config.topic.clone(),
            latest: Mutex::new(None),
        };
        let consumer: BaseConsumer<Assignments> = kafka
            .client_config(&format!("{}-member", config.group))?
            .set("group.id", &config.group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "latest")
            .set("partition.assignment.strategy", "roundrobin")
            .set(
                "session.timeout.ms",
                config.session_timeout.as_millis().to_string(),
            )
            .set("heartbeat.interval.ms", heartbeat.as_millis().to_string())
            // The rebalance timeout: how long a rebalance waits for members to rejoin. A
            // member that is alive rejoins at once (it polls ten times a second), so one that
            // does not within this is as good as dead. It also bounds a join's own request
            // (plus 3 s), which must outlast the coordinator's initial rebalance delay (3 s
            // on Kafka and on the mock).
            .set("max.poll.interval.ms", rebalance_timeout.as_millis().to_string())
            .create_with_context(context)?;
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

/// Keeps the latest assignment the group handed this member.
struct Assignments {
    topic: String,
    latest: Mutex<Option<BTreeSet<i32>>>,
}

impl ClientContext for Assignments {}

impl ConsumerContext for Assignments {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(assignment) = rebalance {
            let partitions = assignment
                .elements_for_topic(&self.topic)
                .iter()
                .map(|element| element.partition())
                .collect();
            *self.latest.lock().expect("assignment lock is not poisoned") = Some(partitions);
        }
    }
}

fn run(
    consumer: BaseConsumer<Assignments>,
    config: MembershipConfig,
    report: watch::Sender<BTreeSet<i32>>,
    stop: CancellationToken,
) {
    let mut current = BTreeSet::new();
    let mut joined = false;
    while !stop.is_cancelled() {
        // Polling drives heartbeats and rebalances; records that slip through are ignored.
        let _ignored = consumer.poll(Duration::from_millis(100));
        let latest = consumer
            .context()
            .latest
            .lock()
            .expect("assignment lock is not poisoned")
            .take();
        let Some(now) = latest else { continue };
        // Every assignment starts unpaused, the partitions it kept included.
        let mut assigned = TopicPartitionList::new();
        for partition in &now {
            assigned.add_partition(&config.topic, *partition);
        }
        if assigned.count() > 0
            && let Err(error) = consumer.pause(&assigned)
        {
            warn!(group = %config.group, error = %error, "pausing assigned partitions failed");
        }
        if !joined {
            joined = true;
            info!(group = %config.group, partitions = ?now, "joined the group");
        }
        if now != current {
            info!(group = %config.group, partitions = ?now, "assignment changed");
            current = now;
            report.send_replace(current.clone());
        }
    }
    consumer.unsubscribe();
    // Let the coordinator hear that this member left before the consumer closes.
    for _ in 0..20 {
        let _ignored = consumer.poll(Duration::from_millis(50));
        if consumer
            .assignment()
            .map(|a| a.count() == 0)
            .unwrap_or(true)
        {
            break;
        }
    }
    report.send_replace(BTreeSet::new());
}
