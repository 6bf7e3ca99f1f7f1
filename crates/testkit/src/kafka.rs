//! A Kafka-protocol broker for tests: librdkafka's mock cluster, or a real cluster on request.

use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

/// Names the environment variable that points tests at a real Kafka cluster
/// (a `bootstrap.servers` list). When it is unset or empty, tests use the mock cluster.
pub const BOOTSTRAP_ENV: &str = "CAIRN_TEST_KAFKA_BOOTSTRAP";

/// The mock cluster's type, as jobs given to [`TestKafka::with_mock`] see it.
pub type Mock = MockCluster<'static, DefaultProducerContext>;

/// Bounds topic creation on a real broker; a test that waits longer has a broken broker.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A Kafka-protocol broker for one test.
///
/// By default it runs librdkafka's mock cluster in this process (one broker on a loopback
/// port the OS picks). When [`BOOTSTRAP_ENV`] is set, it uses that cluster instead and
/// creates topics through the Admin API. Either way a test sees only [`bootstrap`] and topic
/// names, so nothing else in the test depends on which broker runs.
///
/// The mock cluster holds a raw librdkafka pointer and is neither `Send` nor `Sync`, so it
/// lives on a thread of its own that this value owns; `TestKafka` itself is `Send + Sync` and
/// can be shared with spawned tasks. Dropping it stops the mock brokers: keep it alive for as
/// long as any client of the test talks to it.
///
/// The mock cluster does not implement the CreateTopics request: create topics through
/// [`topic`] or [`create_topic`], never through an admin client.
///
/// [`bootstrap`]: TestKafka::bootstrap
/// [`topic`]: TestKafka::topic
/// [`create_topic`]: TestKafka::create_topic
#[derive(Debug)]
pub struct TestKafka {
    bootstrap: String,
    backend: Backend,
}

enum Backend {
    Mock(MockThread),
    Real(AdminClient<DefaultClientContext>),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Mock(_) => f.write_str("Mock"),
            Backend::Real(_) => f.write_str("Real"),
        }
    }
}

impl TestKafka {
    /// Starts a one-broker mock cluster, or connects to the cluster named by [`BOOTSTRAP_ENV`].
    ///
    /// # Panics
    ///
    /// When the mock cluster cannot start or the admin client cannot be created.
    pub fn start() -> Self {
        match real_bootstrap() {
            Some(bootstrap) => Self::real(bootstrap),
            None => Self::mock(),
        }
    }

    /// Like [`TestKafka::start`], with a mock cluster of `brokers` brokers, so that tests
    /// can move partition leaders and take brokers down.
    pub fn start_with_brokers(brokers: i32) -> Self {
        match real_bootstrap() {
            Some(bootstrap) => Self::real(bootstrap),
            None => Self::mock_with(brokers),
        }
    }

    fn mock() -> Self {
        Self::mock_with(1)
    }

    fn mock_with(brokers: i32) -> Self {
        let (thread, bootstrap) = MockThread::start(brokers);
        Self {
            bootstrap,
            backend: Backend::Mock(thread),
        }
    }

    fn real(bootstrap: String) -> Self {
        let admin = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("client.id", "cairn-testkit")
            .create()
            .expect("an admin client for the test broker can be created");
        Self {
            bootstrap,
            backend: Backend::Real(admin),
        }
    }

    /// Returns the `bootstrap.servers` list that clients of this broker connect to.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Returns true when this is the in-process mock cluster rather than a real broker.
    pub fn is_mock(&self) -> bool {
        matches!(self.backend, Backend::Mock(_))
    }

    /// Creates a topic named `prefix` plus a random suffix and returns that name.
    ///
    /// Unique names keep tests independent when they share a real broker, and across runs.
    ///
    /// # Panics
    ///
    /// When the broker refuses to create the topic.
    pub fn topic(&self, prefix: &str, partitions: i32) -> String {
        let name = Self::unique_name(prefix);
        self.create_topic(&name, partitions);
        name
    }

    /// Returns `prefix` plus a random suffix: a topic name no test has used, not created.
    pub fn unique_name(prefix: &str) -> String {
        format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
    }

    /// Creates a topic with exactly this name, with the mock's own API or the Admin API.
    ///
    /// On a real broker the replication factor is the broker's default.
    ///
    /// # Panics
    ///
    /// When the topic already exists or the broker refuses to create it.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        match &self.backend {
            Backend::Mock(thread) => {
                let topic = name.to_owned();
                let created = thread.run(move |mock| mock.create_topic(&topic, partitions, 1));
                if let Err(error) = created {
                    panic!("mock cluster refused to create topic `{name}`: {error}");
                }
            }
            Backend::Real(admin) => create_real_topic(admin, name, partitions),
        }
    }

    /// Runs `job` against the mock cluster (for fault injection such as `broker_down` or
    /// `request_errors`) and returns its result, or returns `None` on a real broker.
    ///
    /// # Panics
    ///
    /// When `job` panics.
    pub fn with_mock<R, F>(&self, job: F) -> Option<R>
    where
        R: Send + 'static,
        F: FnOnce(&Mock) -> R + Send + 'static,
    {
        match &self.backend {
            Backend::Mock(thread) => Some(thread.run(job)),
            Backend::Real(_) => None,
        }
    }
}

/// The real cluster tests were pointed at: [`BOOTSTRAP_ENV`], else the cluster directory of
/// [`CLUSTER_DIR_ENV`](crate::CLUSTER_DIR_ENV).
fn real_bootstrap() -> Option<String> {
    match std::env::var(BOOTSTRAP_ENV) {
        Ok(bootstrap) if !bootstrap.trim().is_empty() => Some(bootstrap),
        _ => crate::KafkaCluster::from_env().map(|cluster| cluster.bootstrap()),
    }
}

fn create_real_topic(admin: &AdminClient<DefaultClientContext>, name: &str, partitions: i32) {
    // -1 asks for the broker's default replication factor (KIP-464), whatever the cluster size.
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(-1));
    let options = AdminOptions::new()
        .operation_timeout(Some(ADMIN_TIMEOUT))
        .request_timeout(Some(ADMIN_TIMEOUT));
    // The admin client's future is driven by librdkafka's own thread, so blocking on it needs
    // no async runtime and works from inside one.
    let results = futures::executor::block_on(admin.create_topics([&topic], &options))
        .unwrap_or_else(|error| panic!("cannot create topic `{name}` on the test broker: {error}"));
    for result in results {
        if let Err((topic, code)) = result {
            panic!("test broker refused to create topic `{topic}`: {code}");
        }
    }
    // Kafka answers once its controller has the topic; each broker learns of it a moment
    // later. Wait until several answers in a row (from whichever brokers) know it whole.
    let deadline = std::time::Instant::now() + ADMIN_TIMEOUT;
    let mut known = 0;
    while known < 3 {
        let whole = admin
            .inner()
            .fetch_metadata(Some(name), Duration::from_secs(2))
            .is_ok_and(|metadata| {
                metadata.topics().iter().any(|topic| {
                    topic.name() == name
                        && topic.error().is_none()
                        && topic.partitions().len() == partitions as usize
                })
            });
        known = if whole { known + 1 } else { 0 };
        assert!(
            std::time::Instant::now() < deadline,
            "topic `{name}` was created but the brokers do not show it"
        );
        thread::sleep(Duration::from_millis(20)); // poll interval
    }
}

type MockJob = Box<dyn FnOnce(&Mock) + Send>;

/// The thread that owns the mock cluster and runs jobs against it, one at a time.
struct MockThread {
    jobs: Option<mpsc::Sender<MockJob>>,
    thread: Option<JoinHandle<()>>,
}

impl MockThread {
    fn start(brokers: i32) -> (Self, String) {
        let (jobs_tx, jobs_rx) = mpsc::channel::<MockJob>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("mock-kafka".to_owned())
            .spawn(move || {
                let mock = MockCluster::new(brokers).expect("librdkafka mock cluster starts");
                ready_tx
                    .send(mock.bootstrap_servers())
                    .expect("TestKafka::start waits for the bootstrap address");
                // Ends when TestKafka drops the sender; the mock brokers stop with `mock`.
                for job in jobs_rx {
                    job(&mock);
                }
            })
            .expect("the mock cluster thread can be spawned");
        let bootstrap = ready_rx
            .recv()
            .expect("mock cluster thread reports its bootstrap address");
        (
            Self {
                jobs: Some(jobs_tx),
                thread: Some(thread),
            },
            bootstrap,
        )
    }

    fn run<R, F>(&self, job: F) -> R
    where
        R: Send + 'static,
        F: FnOnce(&Mock) -> R + Send + 'static,
    {
        let (result_tx, result_rx) = mpsc::channel();
        let job: MockJob = Box::new(move |mock| {
            result_tx
                .send(job(mock))
                .expect("the caller waits for the job's result");
        });
        self.jobs
            .as_ref()
            .expect("jobs sender lives until drop")
            .send(job)
            .expect("mock cluster thread is running");
        result_rx
            .recv()
            .expect("mock cluster thread finished the job without panicking")
    }
}

impl Drop for MockThread {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            // A panic there was already reported by the job's caller; do not panic in drop.
            if thread.join().is_err() && !thread::panicking() {
                eprintln!("mock cluster thread panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn test_kafka_can_be_shared_across_threads() {
        assert_send_sync::<TestKafka>();
    }

    #[test]
    fn topics_get_unique_names_with_the_prefix() {
        let kafka = TestKafka::start();
        let first = kafka.topic("unique", 1);
        let second = kafka.topic("unique", 1);
        assert!(first.starts_with("unique-"), "{first}");
        assert_ne!(first, second);
    }

    #[test]
    fn created_topic_has_the_requested_partition_count() {
        let kafka = TestKafka::start();
        let topic = kafka.topic("count", 3);
        let consumer: rdkafka::consumer::BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", kafka.bootstrap())
            .create()
            .expect("consumer is created");
        let metadata = rdkafka::consumer::Consumer::fetch_metadata(
            &consumer,
            Some(&topic),
            Duration::from_secs(10),
        )
        .expect("metadata is fetched");
        assert_eq!(metadata.topics()[0].partitions().len(), 3);
    }

    #[test]
    fn mock_jobs_run_only_on_the_mock_cluster() {
        let kafka = TestKafka::start();
        let bootstrap = kafka.with_mock(|mock| mock.bootstrap_servers());
        if kafka.is_mock() {
            assert_eq!(bootstrap.as_deref(), Some(kafka.bootstrap()));
        } else {
            assert_eq!(bootstrap, None);
        }
    }
}
