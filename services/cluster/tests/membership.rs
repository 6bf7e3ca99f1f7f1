//! Partition assignment through a consumer group on a real Kafka-protocol broker.

use std::time::Duration;

use cairn_cluster::membership::{Membership, MembershipConfig};
use cairn_log::KafkaConfig;
use cairn_testkit::TestKafka;

#[tokio::test(flavor = "multi_thread")]
async fn a_lone_member_is_assigned_every_partition() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("members", 4);
    let member = Membership::join(
        &KafkaConfig::new(kafka.bootstrap()),
        MembershipConfig {
            group: format!("{topic}-group"),
            topic: topic.clone(),
            // Longer than the broker's initial rebalance delay (3 s), or the first join never ends.
            session_timeout: Duration::from_secs(4),
        },
    )
    .unwrap();
    let mut assigned = member.assigned();
    tokio::time::timeout(
        Duration::from_secs(20),
        assigned.wait_for(|partitions| partitions.len() == 4),
    )
    .await
    .expect("assigned within 20 s")
    .unwrap();
    member.leave().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn partitions_spread_over_members_and_move_when_one_leaves() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("members", 4);
    let config = MembershipConfig {
        group: format!("{topic}-group"),
        topic: topic.clone(),
        session_timeout: Duration::from_secs(4),
    };
    let kafka = KafkaConfig::new(kafka.bootstrap());
    let first = Membership::join(&kafka, config.clone()).unwrap();
    let second = Membership::join(&kafka, config).unwrap();
    let (mut a, mut b) = (first.assigned(), second.assigned());
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (x, y) = (a.borrow().clone(), b.borrow().clone());
            if x.len() == 2 && y.len() == 2 && x.is_disjoint(&y) {
                return;
            }
            tokio::select! {
                _ = a.changed() => {}
                _ = b.changed() => {}
            }
        }
    })
    .await
    .expect("two members share the partitions");
    first.leave().await;
    tokio::time::timeout(
        Duration::from_secs(30),
        b.wait_for(|partitions| partitions.len() == 4),
    )
    .await
    .expect("the remaining member takes every partition")
    .unwrap();
    second.leave().await;
}
