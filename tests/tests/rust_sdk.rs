//! Workflows, activities, timers, signals, queries, updates, child workflows, continue-as-new,
//! failure and cancellation through the official Temporal Rust SDK (`temporalio-sdk`,
//! `temporalio-client`), against a real `cairn server start-dev` process.
//!
//! Each test starts its own server on a free port and its own worker on a fresh task queue, so
//! the tests can run in parallel. The server binary comes from `CAIRN_BIN`, else
//! `$CARGO_TARGET_DIR/debug/cairn`, else `~/.cache/cairn/target/debug/cairn`; build it first with
//! `cargo build --bin cairn` (`cargo build --workspace --all-targets` does too).
//!
//! Tests wait on the server's own signals, never on wall-clock sleeps: the ready line on stdout,
//! workflow results, and the history long poll (`wait_new_event`) for "this event happened".

use std::env;
use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use futures::StreamExt;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, Url, WorkflowCancelOptions,
    WorkflowDescribeOptions, WorkflowExecuteUpdateOptions, WorkflowExecutionStatus,
    WorkflowFetchHistoryOptions, WorkflowGetResultOptions, WorkflowHandle, WorkflowQueryOptions,
    WorkflowSignalOptions, WorkflowStartOptions, errors::WorkflowGetResultError,
};
use temporalio_common::error::IncomingError;
use temporalio_common::protos::temporal::api::enums::v1::EventType;
use temporalio_common::protos::temporal::api::history::v1::HistoryEvent;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_common::{HasWorkflowDefinition, RetryPolicy};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{
    ActivityOptions, ApplicationFailure, ChildWorkflowOptions, ContinueAsNewOptions, Runtime,
    SyncWorkflowContext, TimerResult, Worker, WorkerOptions, WorkflowContext, WorkflowContextView,
    WorkflowResult, WorkflowTermination,
};
use uuid::Uuid;

/// What `cairn server start-dev` prints on stdout once its frontend accepts connections.
const READY_PREFIX: &str = "cairn frontend listening on ";
/// How long the server may take to print its ready line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to exit after SIGINT.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for one test's interaction with its workflows; reaching it fails the test.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

// --- activities ------------------------------------------------------------------------------

struct Activities;

#[activities]
impl Activities {
    #[activity]
    fn greet(_ctx: ActivityContext, name: String) -> Result<String, ActivityError> {
        Ok(format!("Hello, {name}!"))
    }

    /// Fails its first two attempts; returns the attempt number that succeeded.
    #[activity]
    fn fail_until_third_attempt(ctx: ActivityContext) -> Result<u32, ActivityError> {
        let attempt = ctx.info().attempt;
        if attempt < 3 {
            return Err(anyhow::anyhow!("attempt {attempt} failed").into());
        }
        Ok(attempt)
    }
}

// --- workflows -------------------------------------------------------------------------------

/// Runs one activity and returns its result.
#[workflow]
#[derive(Default)]
struct GreetingWorkflow;

#[workflow_methods]
impl GreetingWorkflow {
    #[run]
    async fn run(ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        let options = ActivityOptions::start_to_close_timeout(Duration::from_secs(10));
        Ok(ctx
            .execute_activity(Activities::greet, name, options)
            .await?)
    }
}

/// Runs an activity that fails twice under a fast retry policy; returns the winning attempt.
#[workflow]
#[derive(Default)]
struct ActivityRetryWorkflow;

#[workflow_methods]
impl ActivityRetryWorkflow {
    #[run]
    async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<u32> {
        // Retries that the test waits for should not take seconds each.
        let retry = RetryPolicy::builder()
            .initial_interval(Duration::from_millis(100))
            .backoff_coefficient(1.0)
            .maximum_attempts(5)
            .build();
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
            .retry_policy(retry)
            .build();
        Ok(ctx
            .execute_activity(Activities::fail_until_third_attempt, (), options)
            .await?)
    }
}

/// Sleeps on a durable timer. Returns "fired" when it fires; a cancel request cancels the timer
/// (through the workflow's root cancellation token) and then the workflow.
#[workflow]
#[derive(Default)]
struct TimerWorkflow;

#[workflow_methods]
impl TimerWorkflow {
    #[run]
    async fn run(ctx: &mut WorkflowContext<Self>, millis: u64) -> WorkflowResult<String> {
        match ctx.timer(Duration::from_millis(millis)).await {
            TimerResult::Fired => Ok("fired".to_owned()),
            TimerResult::Cancelled => Err(WorkflowTermination::cancelled()),
        }
    }
}

/// Collects signalled messages until one says "done"; a query reads them while it runs.
#[workflow]
#[derive(Default)]
struct MailboxWorkflow {
    messages: Vec<String>,
}

#[workflow_methods]
impl MailboxWorkflow {
    #[run]
    async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<Vec<String>> {
        ctx.wait_condition(|s| s.messages.last().is_some_and(|m| m == "done"))
            .await?;
        Ok(ctx.state(|s| s.messages.clone()))
    }

    #[signal]
    fn deliver(&mut self, _ctx: &mut SyncWorkflowContext<Self>, message: String) {
        self.messages.push(message);
    }

    #[query]
    fn messages(&self, _ctx: &WorkflowContextView) -> Vec<String> {
        self.messages.clone()
    }
}

/// Fails the workflow execution (not just its task) with an application failure.
#[workflow]
#[derive(Default)]
struct FailingWorkflow;

#[workflow_methods]
impl FailingWorkflow {
    #[run]
    #[allow(
        clippy::unused_async,
        reason = "the SDK requires the run method to be async"
    )]
    async fn run(_ctx: &mut WorkflowContext<Self>, message: String) -> WorkflowResult<()> {
        Err(ApplicationFailure::builder(message)
            .type_name("Boom".to_owned())
            .non_retryable(true)
            .build()
            .into())
    }
}

/// Starts `GreetingWorkflow` as a child (with an ID derived from its own) and returns the child's
/// result.
#[workflow]
#[derive(Default)]
struct ParentWorkflow;

#[workflow_methods]
impl ParentWorkflow {
    #[run]
    async fn run(ctx: &mut WorkflowContext<Self>, name: String) -> WorkflowResult<String> {
        let options = ChildWorkflowOptions::workflow_id(child_id(ctx.workflow_id()));
        let child = ctx
            .start_child_workflow(GreetingWorkflow::run, name, options)
            .await?;
        Ok(child.result().await?)
    }
}

/// The workflow ID `ParentWorkflow` gives its child.
fn child_id(parent_id: &str) -> String {
    format!("{parent_id}-greeting")
}

/// Continues as new with the counter one lower until it reaches 0, then returns "liftoff".
#[workflow]
#[derive(Default)]
struct CountdownWorkflow;

#[workflow_methods]
impl CountdownWorkflow {
    #[run]
    #[allow(
        clippy::unused_async,
        reason = "the SDK requires the run method to be async"
    )]
    async fn run(ctx: &mut WorkflowContext<Self>, remaining: u32) -> WorkflowResult<String> {
        if remaining > 0 {
            ctx.continue_as_new(remaining - 1, ContinueAsNewOptions::default())?;
        }
        Ok("liftoff".to_owned())
    }
}

/// Collects items through an update, which returns how many there are now, until a signal
/// closes the list; returns the items.
#[workflow]
#[derive(Default)]
struct ChecklistWorkflow {
    items: Vec<String>,
    closed: bool,
}

#[workflow_methods]
impl ChecklistWorkflow {
    #[run]
    async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<Vec<String>> {
        ctx.wait_condition(|s| s.closed).await?;
        Ok(ctx.state(|s| s.items.clone()))
    }

    #[update]
    fn add(&mut self, _ctx: &mut SyncWorkflowContext<Self>, item: String) -> usize {
        self.items.push(item);
        self.items.len()
    }

    #[signal]
    fn close(&mut self, _ctx: &mut SyncWorkflowContext<Self>) {
        self.closed = true;
    }
}

// --- harness ---------------------------------------------------------------------------------

/// Returns the `cairn` binary to test, or panics with how to build it.
fn cairn_binary() -> PathBuf {
    let path = env::var_os("CAIRN_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            env::var_os("CARGO_TARGET_DIR").map(|dir| PathBuf::from(dir).join("debug/cairn"))
        })
        .or_else(|| {
            env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".cache/cairn/target/debug/cairn"))
        })
        .expect("set CAIRN_BIN, CARGO_TARGET_DIR or HOME to find the cairn binary");
    match path.try_exists() {
        Ok(true) => path,
        _ => panic!(
            "no cairn binary at {}: build it first with `cargo build --bin cairn` \
             (or point CAIRN_BIN at one)",
            path.display()
        ),
    }
}

/// Copies a child's output to this test's stderr, which the test harness captures and shows
/// only when the test fails.
fn forward_output(name: &'static str, output: impl Read + Send + 'static) {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                eprintln!("{name}: {line}");
            }
        })
        .expect("spawn an output thread");
}

/// A `cairn server start-dev` process on a free port. Dropping it sends SIGINT and waits for a
/// clean exit (status 0).
struct CairnServer {
    child: Option<Child>,
    address: String,
}

impl CairnServer {
    fn start() -> Self {
        let binary = cairn_binary();
        let mut child = Command::new(&binary)
            .args([
                "server",
                "start-dev",
                "--headless",
                "--port",
                "0",
                "--ip",
                "127.0.0.1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        forward_output("cairn stderr", child.stderr.take().expect("piped stderr"));
        // From here on, a panic stops the process through Drop.
        let mut server = Self {
            child: Some(child),
            address: String::new(),
        };

        let (ready_tx, ready_rx) = mpsc::channel();
        thread::Builder::new()
            .name("cairn stdout".to_owned())
            .spawn(move || {
                let mut ready_tx = Some(ready_tx);
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    match line.strip_prefix(READY_PREFIX) {
                        Some(address) if ready_tx.is_some() => {
                            let tx = ready_tx.take().expect("checked above");
                            tx.send(address.trim().to_owned()).ok();
                        }
                        _ => eprintln!("cairn stdout: {line}"),
                    }
                }
            })
            .expect("spawn the stdout thread");
        server.address = match ready_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(address) => address,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("cairn did not print {READY_PREFIX:?} within {STARTUP_TIMEOUT:?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let child = server.child.as_mut().expect("running");
                let status = child.wait().expect("wait for cairn");
                panic!("cairn exited before it was ready ({status}); its output is above")
            }
        };
        server
    }
}

impl Drop for CairnServer {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pids fit in i32"));
        if let Ok(Some(status)) = child.try_wait() {
            if !thread::panicking() {
                panic!("cairn exited by itself while the test ran ({status})");
            }
            return;
        }
        kill(pid, Signal::SIGINT).expect("send SIGINT to cairn");
        let (exited_tx, exited_rx) = mpsc::channel();
        thread::spawn(move || exited_tx.send(child.wait()).ok());
        match exited_rx.recv_timeout(SHUTDOWN_TIMEOUT) {
            Ok(Ok(status)) => {
                if !status.success() && !thread::panicking() {
                    panic!("cairn exited with {status} after SIGINT; expected status 0");
                }
            }
            Ok(Err(e)) => panic!("waiting for cairn failed: {e}"),
            Err(_) => {
                kill(pid, Signal::SIGKILL).ok();
                if !thread::panicking() {
                    panic!("cairn did not exit within {SHUTDOWN_TIMEOUT:?} of SIGINT");
                }
            }
        }
    }
}

/// One test's world: a server, a client bound to the `default` namespace, the SDK runtime and a
/// task queue of its own.
struct TestEnv {
    client: Client,
    runtime: Runtime,
    task_queue: String,
    // Dropped last, after the client's connections.
    _server: CairnServer,
}

impl TestEnv {
    async fn start() -> Self {
        // Blocking is fine here: nothing else runs yet, and on the test's own thread the
        // server's output stays captured by the test harness.
        let server = CairnServer::start();
        let url = Url::parse(&format!("http://{}", server.address)).expect("a valid address");
        let connection =
            Connection::connect(ConnectionOptions::new(url).identity("cairn-e2e").build())
                .await
                .expect("connect to cairn");
        let client = Client::new(connection, ClientOptions::new("default").build())
            .expect("create a client");
        let runtime = Runtime::from_current_tokio(Default::default()).expect("SDK runtime");
        Self {
            client,
            runtime,
            task_queue: format!("rust-sdk-{}", Uuid::new_v4()),
            _server: server,
        }
    }

    /// Starts a workflow on this test's task queue with a unique ID.
    async fn start_workflow<W>(&self, workflow: W, input: W::Input) -> WorkflowHandle<Client, W>
    where
        W: HasWorkflowDefinition,
        W::Input: Send,
    {
        let id = format!("rust-sdk-{}", Uuid::new_v4());
        let options = WorkflowStartOptions::new(self.task_queue.clone(), id).build();
        self.client
            .start_workflow(workflow, input, options)
            .await
            .expect("start the workflow")
    }

    /// Runs `body` while a worker for every workflow and activity above polls the task queue,
    /// then shuts the worker down.
    async fn with_worker<T>(&self, body: impl Future<Output = T>) -> T {
        let options = WorkerOptions::new(self.task_queue.clone())
            .register_activities(Activities)
            .register_workflow::<GreetingWorkflow>()
            .and_then(|o| o.register_workflow::<ActivityRetryWorkflow>())
            .and_then(|o| o.register_workflow::<TimerWorkflow>())
            .and_then(|o| o.register_workflow::<MailboxWorkflow>())
            .and_then(|o| o.register_workflow::<FailingWorkflow>())
            .and_then(|o| o.register_workflow::<ParentWorkflow>())
            .and_then(|o| o.register_workflow::<CountdownWorkflow>())
            .and_then(|o| o.register_workflow::<ChecklistWorkflow>())
            .expect("register workflows")
            .build();
        let mut worker =
            Worker::new(&self.runtime, self.client.clone(), options).expect("create a worker");
        let shutdown = worker.shutdown_handle();
        // The worker's future is not Send, so it runs in this task next to the test body.
        let run = worker.run();
        let body = tokio::time::timeout(TEST_TIMEOUT, body);
        tokio::pin!(run, body);
        let out = tokio::select! {
            out = &mut body => out,
            ran = &mut run => panic!("worker stopped while the test ran: {ran:?}"),
        };
        let out = out.unwrap_or_else(|_| panic!("test did not finish within {TEST_TIMEOUT:?}"));
        shutdown();
        tokio::time::timeout(SHUTDOWN_TIMEOUT, run)
            .await
            .unwrap_or_else(|_| panic!("worker did not shut down within {SHUTDOWN_TIMEOUT:?}"))
            .expect("worker shuts down cleanly");
        out
    }
}

async fn history<W: HasWorkflowDefinition>(
    handle: &WorkflowHandle<Client, W>,
) -> Vec<HistoryEvent> {
    handle
        .fetch_history(WorkflowFetchHistoryOptions::builder().build())
        .into_events()
        .await
        .expect("fetch the history")
}

async fn event_types<W: HasWorkflowDefinition>(
    handle: &WorkflowHandle<Client, W>,
) -> Vec<EventType> {
    history(handle)
        .await
        .iter()
        .map(HistoryEvent::event_type)
        .collect()
}

/// Follows the history through its long poll until `reached` holds for the event types so far.
async fn wait_for_history<W: HasWorkflowDefinition>(
    handle: &WorkflowHandle<Client, W>,
    what: &str,
    reached: impl Fn(&[EventType]) -> bool,
) -> Vec<EventType> {
    let options = WorkflowFetchHistoryOptions::builder()
        .wait_new_event(true)
        .build();
    let mut events = handle.fetch_history(options);
    let mut types = Vec::new();
    while let Some(event) = events.next().await {
        types.push(event.expect("follow the history").event_type());
        if reached(&types) {
            return types;
        }
    }
    panic!("the workflow closed before {what}: {types:?}");
}

async fn status<W: HasWorkflowDefinition>(
    handle: &WorkflowHandle<Client, W>,
) -> WorkflowExecutionStatus {
    handle
        .describe(WorkflowDescribeOptions::default())
        .await
        .expect("describe the workflow")
        .status()
}

fn millis_between(from: &HistoryEvent, to: &HistoryEvent) -> i128 {
    let nanos = |event: &HistoryEvent| {
        let time = event.event_time.as_ref().expect("events carry their time");
        i128::from(time.seconds) * 1_000_000_000 + i128::from(time.nanos)
    };
    (nanos(to) - nanos(from)) / 1_000_000
}

// --- tests -----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_returns_the_result_of_its_activity() {
    let env = TestEnv::start().await;
    env.with_worker(async {
        let handle = env
            .start_workflow(GreetingWorkflow::run, "Cairn".to_owned())
            .await;
        let result = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("the workflow completes");
        assert_eq!(result, "Hello, Cairn!");
        assert_eq!(status(&handle).await, WorkflowExecutionStatus::Completed);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_activity_is_retried_until_its_third_attempt_succeeds() {
    let env = TestEnv::start().await;
    env.with_worker(async {
        let handle = env.start_workflow(ActivityRetryWorkflow::run, ()).await;
        let attempt = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("the workflow completes");
        assert_eq!(attempt, 3);
        // As in Temporal, failed attempts write no events: one schedule, one start (of the last
        // attempt, written with its outcome) and one completion.
        let events = history(&handle).await;
        let types: Vec<_> = events.iter().map(HistoryEvent::event_type).collect();
        let count = |t| types.iter().filter(|&&e| e == t).count();
        assert_eq!(count(EventType::ActivityTaskScheduled), 1, "{types:?}");
        assert_eq!(count(EventType::ActivityTaskCompleted), 1, "{types:?}");
        let started: Vec<_> = events
            .iter()
            .filter_map(|e| match &e.attributes {
                Some(Attributes::ActivityTaskStartedEventAttributes(a)) => Some(a.attempt),
                _ => None,
            })
            .collect();
        assert_eq!(started, [3], "{types:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_fires_after_its_duration() {
    let env = TestEnv::start().await;
    env.with_worker(async {
        let handle = env.start_workflow(TimerWorkflow::run, 300).await;
        let result = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("the workflow completes");
        assert_eq!(result, "fired");
        let events = history(&handle).await;
        let find = |t| {
            events
                .iter()
                .find(|e| e.event_type() == t)
                .unwrap_or_else(|| panic!("no {t:?} in the history"))
        };
        let waited = millis_between(find(EventType::TimerStarted), find(EventType::TimerFired));
        assert!(
            waited >= 300,
            "the timer fired after {waited} ms, before its 300 ms"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_arrive_in_order_and_the_last_completes_the_workflow() {
    let env = TestEnv::start().await;
    env.with_worker(async {
        let handle = env.start_workflow(MailboxWorkflow::run, ()).await;
        for message in ["first", "done"] {
            handle
                .signal(
                    MailboxWorkflow::deliver,
                    message.to_owned(),
                    WorkflowSignalOptions::default(),
                )
                .await
                .expect("signal the workflow");
        }
        let result = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("the workflow completes");
        assert_eq!(result, ["first", "done"]);
        let types = event_types(&handle).await;
        let signalled = types
            .iter()
            .filter(|&&t| t == EventType::WorkflowExecutionSignaled)
            .count();
        assert_eq!(signalled, 2, "{types:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_reads_the_state_of_a_running_workflow() {
    let env = TestEnv::start().await;
    env.with_worker(async {
        let handle = env.start_workflow(MailboxWorkflow::run, ()).await;
        let query = || {
            handle.query(
                MailboxWorkflow::messages,
                (),
                WorkflowQueryOptions::default(),
            )
        };

        wait_for_history(&handle, "the first workflow task completed", |types| {
            types.contains(&EventType::WorkflowTaskCompleted)
        })
        .await;
        assert_eq!(query().await.expect("query"), Vec::<String>::new());

        handle
            .signal(
                MailboxWorkflow::deliver,
                "a".to_owned(),
                WorkflowSignalOptions::default(),
            )
            .await
            .expect("signal the workflow");
        // Once a workflow task completed after the signal, the worker has applied it.
        wait_for_history(
            &handle,
            "a workflow task completed after the signal",
            |types| {
                types
                    .iter()
                    .skip_while(|&&t| t != EventType::WorkflowExecutionSignaled)
                    .any(|&t| t == EventType::WorkflowTaskCompleted)
            },
        )
        .await;
        let history_before = event_types(&handle).await;
        assert_eq!(query().await.expect("query"), ["a"]);
        assert_eq!(status(&handle).await, WorkflowExecutionStatus::Running);
        assert_eq!(
            event_types(&handle).await,
            history_before,
            "a query must not write history"
        );

        handle
            .signal(
                MailboxWorkflow::deliver,
                "done".to_owned(),
                WorkflowSignalOptions::default(),
            )
            .await
            .expect("signal the workflow");
        let result = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("the workflow completes");
        assert_eq!(result, ["a", "done"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_failure_surfaces_at_the_client() {
    let env = TestEnv::start().await;
    env.with_worker(async {
        let handle = env
            .start_workflow(FailingWorkflow::run, "it broke".to_owned())
            .await;
        let error = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect_err("the workflow fails");
        let WorkflowGetResultError::Failed(failure) = error else {
            panic!("expected a failed workflow, got {error:?}");
        };
        let IncomingError::Application(failure) = *failure else {
            panic!("expected an application failure, got {failure:?}");
        };
        assert_eq!(failure.to_string(), "it broke");
        assert_eq!(failure.type_name(), Some("Boom"));
        assert_eq!(status(&handle).await, WorkflowExecutionStatus::Failed);
        assert_eq!(
            event_types(&handle).await.last(),
            Some(&EventType::WorkflowExecutionFailed)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_workflow_cancels_its_timer_and_ends_cancelled() {
    let env = TestEnv::start().await;
    env.with_worker(async {
        let hour = 3_600_000;
        let handle = env.start_workflow(TimerWorkflow::run, hour).await;
        wait_for_history(&handle, "the timer started", |types| {
            types.contains(&EventType::TimerStarted)
        })
        .await;

        handle
            .cancel(
                WorkflowCancelOptions::builder()
                    .reason("no longer needed")
                    .build(),
            )
            .await
            .expect("request cancellation");
        let error = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect_err("the workflow is cancelled");
        assert!(
            matches!(error, WorkflowGetResultError::Cancelled { .. }),
            "expected a cancelled workflow, got {error:?}"
        );
        assert_eq!(status(&handle).await, WorkflowExecutionStatus::Canceled);
        let types = event_types(&handle).await;
        assert!(
            types.contains(&EventType::WorkflowExecutionCancelRequested),
            "{types:?}"
        );
        assert!(types.contains(&EventType::TimerCanceled), "{types:?}");
        assert!(!types.contains(&EventType::TimerFired), "{types:?}");
        assert_eq!(
            types.last(),
            Some(&EventType::WorkflowExecutionCanceled),
            "{types:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_workflow_history_matches_temporal() {
    let env = TestEnv::start().await;
    env.with_worker(async {
        let handle = env
            .start_workflow(GreetingWorkflow::run, "history".to_owned())
            .await;
        handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("the workflow completes");
        // What `temporal server start-dev` records for one activity (tests/python/REFERENCE.md).
        let expected = [
            EventType::WorkflowExecutionStarted,
            EventType::WorkflowTaskScheduled,
            EventType::WorkflowTaskStarted,
            EventType::WorkflowTaskCompleted,
            EventType::ActivityTaskScheduled,
            EventType::ActivityTaskStarted,
            EventType::ActivityTaskCompleted,
            EventType::WorkflowTaskScheduled,
            EventType::WorkflowTaskStarted,
            EventType::WorkflowTaskCompleted,
            EventType::WorkflowExecutionCompleted,
        ];
        assert_eq!(event_types(&handle).await, expected);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parent_workflow_returns_the_result_of_its_child() {
    let env = TestEnv::start().await;
    env.with_worker(async {
        let handle = env
            .start_workflow(ParentWorkflow::run, "child".to_owned())
            .await;
        let result = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("the workflow completes");
        assert_eq!(result, "Hello, child!");

        let types = event_types(&handle).await;
        let position = |t| {
            types
                .iter()
                .position(|&e| e == t)
                .unwrap_or_else(|| panic!("no {t:?} in the history: {types:?}"))
        };
        let initiated = position(EventType::StartChildWorkflowExecutionInitiated);
        let started = position(EventType::ChildWorkflowExecutionStarted);
        let completed = position(EventType::ChildWorkflowExecutionCompleted);
        assert!(initiated < started && started < completed, "{types:?}");

        let child = env
            .client
            .get_workflow_handle::<GreetingWorkflow>(child_id(&handle.info().workflow_id));
        assert_eq!(status(&child).await, WorkflowExecutionStatus::Completed);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_as_new_runs_until_the_last_run_returns() {
    let env = TestEnv::start().await;
    env.with_worker(async {
        let handle = env.start_workflow(CountdownWorkflow::run, 3).await;
        // The handle targets the first run; its result follows the chain to the last.
        let result = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("the last run completes");
        assert_eq!(result, "liftoff");

        assert_eq!(
            status(&handle).await,
            WorkflowExecutionStatus::ContinuedAsNew
        );
        let types = event_types(&handle).await;
        assert_eq!(
            types.last(),
            Some(&EventType::WorkflowExecutionContinuedAsNew),
            "{types:?}"
        );

        // Without a run ID, the workflow ID names the newest run: a different, completed one.
        let latest = env
            .client
            .get_workflow_handle::<CountdownWorkflow>(handle.info().workflow_id.clone());
        let description = latest
            .describe(WorkflowDescribeOptions::default())
            .await
            .expect("describe the latest run");
        assert_eq!(description.status(), WorkflowExecutionStatus::Completed);
        assert_ne!(Some(description.run_id()), handle.run_id());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_returns_its_result_and_changes_the_workflow_state() {
    let env = TestEnv::start().await;
    env.with_worker(async {
        let handle = env.start_workflow(ChecklistWorkflow::run, ()).await;
        for (item, expected_len) in [("milk", 1), ("eggs", 2)] {
            let len = handle
                .execute_update(
                    ChecklistWorkflow::add,
                    item.to_owned(),
                    WorkflowExecuteUpdateOptions::default(),
                )
                .await
                .expect("the update completes");
            assert_eq!(len, expected_len);
        }
        handle
            .signal(
                ChecklistWorkflow::close,
                (),
                WorkflowSignalOptions::default(),
            )
            .await
            .expect("signal the workflow");
        let result = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("the workflow completes");
        assert_eq!(result, ["milk", "eggs"]);

        let types = event_types(&handle).await;
        let count = |t| types.iter().filter(|&&e| e == t).count();
        assert_eq!(
            count(EventType::WorkflowExecutionUpdateAccepted),
            2,
            "{types:?}"
        );
        assert_eq!(
            count(EventType::WorkflowExecutionUpdateCompleted),
            2,
            "{types:?}"
        );
        let first_accepted = types
            .iter()
            .position(|&t| t == EventType::WorkflowExecutionUpdateAccepted);
        let first_completed = types
            .iter()
            .position(|&t| t == EventType::WorkflowExecutionUpdateCompleted);
        assert!(first_accepted < first_completed, "{types:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_triggered_from_the_rust_client_starts_its_workflow() {
    use temporalio_common::protos::temporal::api::{
        common::v1::{Payload, Payloads, WorkflowType},
        schedule::v1::{
            Schedule, ScheduleAction, SchedulePatch, ScheduleSpec, TriggerImmediatelyRequest,
            schedule_action,
        },
        taskqueue::v1::TaskQueue,
        workflow::v1::NewWorkflowExecutionInfo,
        workflowservice::v1::{
            CreateScheduleRequest, DeleteScheduleRequest, DescribeScheduleRequest,
            PatchScheduleRequest,
        },
    };

    let env = TestEnv::start().await;
    let schedule_id = format!("rust-schedule-{}", Uuid::new_v4());
    let mut service = env.client.connection().workflow_service();
    let input = Payload {
        metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
        data: b"\"schedule\"".to_vec(),
        ..Default::default()
    };
    let schedule = Schedule {
        spec: Some(ScheduleSpec {
            cron_string: vec!["0 12 * * 5".into()],
            ..Default::default()
        }),
        action: Some(ScheduleAction {
            action: Some(schedule_action::Action::StartWorkflow(
                NewWorkflowExecutionInfo {
                    workflow_id: format!("{schedule_id}-wf"),
                    workflow_type: Some(WorkflowType {
                        name: "GreetingWorkflow".into(),
                    }),
                    task_queue: Some(TaskQueue {
                        name: env.task_queue.clone(),
                        ..Default::default()
                    }),
                    input: Some(Payloads {
                        payloads: vec![input],
                    }),
                    ..Default::default()
                },
            )),
        }),
        ..Default::default()
    };
    let created = service
        .create_schedule(tonic::Request::new(CreateScheduleRequest {
            namespace: "default".into(),
            schedule_id: schedule_id.clone(),
            schedule: Some(schedule),
            request_id: Uuid::new_v4().to_string(),
            ..Default::default()
        }))
        .await
        .expect("create the schedule")
        .into_inner();
    assert_eq!(created.conflict_token, 1_i64.to_be_bytes());
    let describe = DescribeScheduleRequest {
        namespace: "default".into(),
        schedule_id: schedule_id.clone(),
    };
    let described = service
        .describe_schedule(tonic::Request::new(describe.clone()))
        .await
        .expect("describe the schedule")
        .into_inner();
    let info = described.info.expect("schedule info");
    assert_eq!(info.future_action_times.len(), 10);

    env.with_worker(async {
        service
            .patch_schedule(tonic::Request::new(PatchScheduleRequest {
                namespace: "default".into(),
                schedule_id: schedule_id.clone(),
                patch: Some(SchedulePatch {
                    trigger_immediately: Some(TriggerImmediatelyRequest::default()),
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .await
            .expect("trigger the schedule");
        let started = loop {
            let info = service
                .describe_schedule(tonic::Request::new(describe.clone()))
                .await
                .expect("describe the schedule")
                .into_inner()
                .info
                .expect("schedule info");
            if let Some(action) = info.recent_actions.first() {
                break action
                    .start_workflow_result
                    .clone()
                    .expect("a started workflow");
            }
            tokio::time::sleep(Duration::from_millis(50)).await; // poll interval
        };
        assert!(
            started
                .workflow_id
                .starts_with(&format!("{schedule_id}-wf-"))
        );
        let result = env
            .client
            .get_workflow_handle::<GreetingWorkflow>(started.workflow_id)
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("the scheduled workflow completes");
        assert_eq!(result, "Hello, schedule!");
    })
    .await;

    service
        .delete_schedule(tonic::Request::new(DeleteScheduleRequest {
            namespace: "default".into(),
            schedule_id: schedule_id.clone(),
            ..Default::default()
        }))
        .await
        .expect("delete the schedule");
    let gone = service
        .describe_schedule(tonic::Request::new(describe))
        .await
        .expect_err("a deleted schedule is not found");
    assert_eq!(gone.code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_workflow_runs_again_from_its_first_task_with_its_signals() {
    use temporalio_common::protos::temporal::api::{
        common::v1::WorkflowExecution, workflowservice::v1::ResetWorkflowExecutionRequest,
    };

    let env = TestEnv::start().await;
    env.with_worker(async {
        let handle = env.start_workflow(MailboxWorkflow::run, ()).await;
        for message in ["first", "done"] {
            handle
                .signal(
                    MailboxWorkflow::deliver,
                    message.to_owned(),
                    WorkflowSignalOptions::default(),
                )
                .await
                .expect("signal the workflow");
        }
        handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("the workflow completes");
        let first_task = history(&handle)
            .await
            .iter()
            .find(|e| e.event_type() == EventType::WorkflowTaskCompleted)
            .expect("a completed workflow task")
            .event_id;

        let workflow_id = handle.info().workflow_id.clone();
        let mut service = env.client.connection().workflow_service();
        let reset = service
            .reset_workflow_execution(tonic::Request::new(ResetWorkflowExecutionRequest {
                namespace: "default".into(),
                workflow_execution: Some(WorkflowExecution {
                    workflow_id: workflow_id.clone(),
                    run_id: String::new(),
                }),
                reason: "from the rust client".into(),
                workflow_task_finish_event_id: first_task,
                request_id: Uuid::new_v4().to_string(),
                ..Default::default()
            }))
            .await
            .expect("reset the workflow")
            .into_inner();

        let again = env
            .client
            .get_workflow_handle::<MailboxWorkflow>(workflow_id);
        let result = again
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("the new run completes");
        assert_eq!(result, ["first", "done"], "the signals were written again");
        let described = again
            .describe(WorkflowDescribeOptions::default())
            .await
            .expect("describe the workflow");
        assert_eq!(described.run_id(), reset.run_id, "the new run is current");
        let types = event_types(&again).await;
        assert!(types.contains(&EventType::WorkflowTaskFailed), "{types:?}");
    })
    .await;
}
