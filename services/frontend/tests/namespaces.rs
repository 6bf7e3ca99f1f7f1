//! Namespaces live on the metadata topic: a node that starts later sees every registration.

use cairn_frontend::{Namespace, Namespaces};
use cairn_log::KafkaConfig;
use cairn_testkit::TestKafka;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_namespaces_survive_a_restart_and_names_stay_unique() {
    let kafka = TestKafka::start();
    let topic = kafka.topic("metadata", 1);
    let config = KafkaConfig::new(kafka.bootstrap());

    let first = Namespaces::open(&config, &topic, &["extra".to_string()], 1)
        .await
        .unwrap();
    assert!(first.get("default").is_some(), "default always exists");
    let mut orders = Namespace::named("orders".into());
    orders.description = "order processing".into();
    orders.retention_seconds = 7 * 24 * 3600;
    assert!(first.register(orders.clone(), 2).await.unwrap());
    assert!(
        !first
            .register(Namespace::named("orders".into()), 3)
            .await
            .unwrap(),
        "a taken name is refused"
    );

    let second = Namespaces::open(&config, &topic, &[], 4).await.unwrap();
    assert_eq!(
        second.get("orders"),
        Some(orders),
        "the registration is read back from Kafka"
    );
    assert!(second.get("extra").is_some());
    assert_eq!(
        second.get("default").unwrap().id,
        first.get("default").unwrap().id
    );
    let names: Vec<String> = second.all().into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["default", "extra", "orders"]);
}
