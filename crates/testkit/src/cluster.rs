//! Faults on a real Kafka cluster started by `scripts/kafka start --dir DIR`: brokers killed
//! with SIGKILL and started again, frozen with SIGSTOP and thawed, and partition leaders
//! moved with Kafka's own reassignment and election tools. `DIR/cluster.env` says where
//! everything is.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
};

/// Names the environment variable that points tests at the directory of a cluster started
/// by `scripts/kafka start --dir DIR`, for tests that inject broker faults.
pub const CLUSTER_DIR_ENV: &str = "CAIRN_TEST_KAFKA_DIR";

/// Faults taken one at a time across every test of a process: two tests each stopping a
/// broker would leave a three-broker cluster below `min.insync.replicas`.
static ONE_FAULT_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The brokers of a real cluster, by node ID (1..=N).
#[derive(Debug)]
pub struct KafkaCluster {
    dir: PathBuf,
}

impl KafkaCluster {
    /// The cluster named by [`CLUSTER_DIR_ENV`], when it is set.
    pub fn from_env() -> Option<Self> {
        let dir = std::env::var_os(CLUSTER_DIR_ENV)?;
        let dir = PathBuf::from(dir);
        (!dir.as_os_str().is_empty()).then_some(Self { dir })
    }

    /// The cluster's `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.env("KAFKA_BOOTSTRAP")
    }

    /// How many brokers it has.
    pub fn brokers(&self) -> i32 {
        let env = read_env(&self.dir);
        (1..)
            .take_while(|id| env.contains_key(&format!("KAFKA_BROKER_{id}_PID")))
            .count()
            .try_into()
            .expect("a handful of brokers")
    }

    /// Holds the cluster for one test's faults; others wait. Dropping it ends the faults.
    pub fn faults(&self) -> Faults<'_> {
        let guard = ONE_FAULT_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Faults {
            cluster: self,
            _one_at_a_time: guard,
        }
    }

    fn env(&self, key: &str) -> String {
        read_env(&self.dir)
            .remove(key)
            .unwrap_or_else(|| panic!("{} has no {key}", self.dir.join("cluster.env").display()))
    }
}

/// One test's hold on the cluster's brokers.
#[derive(Debug)]
pub struct Faults<'a> {
    cluster: &'a KafkaCluster,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

impl Faults<'_> {
    /// Kills broker `id` with SIGKILL and waits until it is gone.
    pub fn kill(&self, id: i32) {
        let pid = self.pid(id);
        signal("KILL", &pid);
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        // A killed process is gone (or a zombie of the shell that started it) within moments.
        while proc.exists() && !is_zombie(&proc) {
            assert!(
                std::time::Instant::now() < deadline,
                "broker {id} survived SIGKILL"
            );
            // Look every few milliseconds rather than spin beside the dying broker.
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Starts broker `id` again, with its configuration and data.
    pub fn restart(&self, id: i32) {
        let script = self.cluster.dir.join(format!("broker-{id}")).join("start");
        let started = Command::new(&script)
            .output()
            .unwrap_or_else(|error| panic!("running {}: {error}", script.display()));
        assert!(
            started.status.success(),
            "broker {id} did not start again: {}",
            String::from_utf8_lossy(&started.stderr)
        );
    }

    /// Freezes broker `id` (SIGSTOP): its connections stay open and it answers nothing.
    pub fn freeze(&self, id: i32) {
        signal("STOP", &self.pid(id));
    }

    /// Lets a frozen broker run again (SIGCONT).
    pub fn thaw(&self, id: i32) {
        signal("CONT", &self.pid(id));
    }

    /// Moves the leader of each of `partitions` partitions of `topic` to another broker:
    /// the replica lists are rotated with Kafka's reassignment tool, then a preferred-leader
    /// election makes each list's first broker the leader.
    pub fn move_leaders(&self, topic: &str, partitions: i32) {
        let brokers = self.cluster.brokers();
        let assignments: Vec<String> = (0..partitions)
            .map(|partition| {
                let replicas: Vec<String> = (0..brokers)
                    .map(|n| ((partition + n + 1) % brokers + 1).to_string())
                    .collect();
                format!(
                    r#"{{"topic":"{topic}","partition":{partition},"replicas":[{}]}}"#,
                    replicas.join(",")
                )
            })
            .collect();
        let plan = self.cluster.dir.join(format!("reassign-{topic}.json"));
        std::fs::write(
            &plan,
            format!(
                r#"{{"version":1,"partitions":[{}]}}"#,
                assignments.join(",")
            ),
        )
        .expect("the reassignment plan is written");
        let bootstrap = self.cluster.bootstrap();
        let plan_arg = plan.display().to_string();
        self.tool(&[
            "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
            "--bootstrap-server",
            &bootstrap,
            "--reassignment-json-file",
            &plan_arg,
            "--execute",
        ]);
        // The reassignment only reorders replicas, so it completes at once; --verify also
        // clears its throttles.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !self
            .tool(&[
                "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
                "--bootstrap-server",
                &bootstrap,
                "--reassignment-json-file",
                &plan_arg,
                "--verify",
            ])
            .contains("is completed")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "reassignment never completed"
            );
        }
        self.tool(&[
            "org.apache.kafka.tools.LeaderElectionCommand",
            "--bootstrap-server",
            &bootstrap,
            "--election-type",
            "preferred",
            "--topic",
            topic,
            "--all-topic-partitions",
        ]);
    }

    fn pid(&self, id: i32) -> String {
        self.cluster.env(&format!("KAFKA_BROKER_{id}_PID"))
    }

    /// Runs one of Kafka's command-line tools with the cluster's jars; returns its stdout.
    fn tool(&self, args: &[&str]) -> String {
        let libs = self.cluster.env("KAFKA_LIBS");
        let output = Command::new("java")
            .arg("-cp")
            .arg(format!("{libs}/*"))
            .args(args)
            .output()
            .expect("java runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        // The election tool exits non-zero when a leader was already the preferred one.
        if !output.status.success() && !args[0].ends_with("LeaderElectionCommand") {
            panic!(
                "{} failed: {stdout}{}",
                args[0],
                String::from_utf8_lossy(&output.stderr)
            );
        }
        stdout
    }
}

fn signal(name: &str, pid: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid)
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{name} {pid} failed");
}

fn is_zombie(proc: &Path) -> bool {
    std::fs::read_to_string(proc.join("stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit(')')
                .next()
                .map(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// `KEY=VALUE` lines of `cluster.env`, quotes removed; read afresh each time, since a
/// restarted broker writes its new PID there.
fn read_env(dir: &Path) -> HashMap<String, String> {
    let path = dir.join("cluster.env");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| {
            (
                key.trim().to_owned(),
                value.trim().trim_matches('"').trim_matches('\'').to_owned(),
            )
        })
        .collect()
}
