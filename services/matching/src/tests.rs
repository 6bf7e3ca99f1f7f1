use std::time::Duration;

use cairn_engine::{RunKey, TaskKind, TaskRef};
use cairn_history::TaskSink;

use crate::{Item, Matching};

fn task(id: i64) -> TaskRef {
    TaskRef {
        run: RunKey {
            namespace_id: "ns".into(),
            workflow_id: format!("wf-{id}"),
            run_id: "r".into(),
        },
        kind: TaskKind::Activity,
        task_queue: "q".into(),
        scheduled_event_id: id,
        attempt: 1,
    }
}

fn scheduled(item: Option<Item>) -> Option<i64> {
    match item {
        Some(Item::Task(task)) => Some(task.scheduled_event_id),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn waiting_poller_gets_a_task_dispatched_later() {
    let matching = Matching::new();
    let poll = cairn_runtime::supervise("caller", cairn_runtime::Failure::Logged, {
        let matching = matching.clone();
        async move {
            matching
                .poll("ns", "q", TaskKind::Activity, Duration::from_secs(60))
                .await
        }
    });
    tokio::task::yield_now().await;
    matching.dispatch(vec![task(5)]);
    assert_eq!(scheduled(poll.await.unwrap()), Some(5));
    assert_eq!(matching.backlog("ns", "q", TaskKind::Activity), 0);
}

#[tokio::test(start_paused = true)]
async fn backlog_is_served_in_order_and_duplicates_wait_once() {
    let matching = Matching::new();
    matching.dispatch(vec![task(1), task(2), task(1)]);
    assert_eq!(matching.backlog("ns", "q", TaskKind::Activity), 2);
    let wait = Duration::from_secs(1);
    assert_eq!(
        scheduled(matching.poll("ns", "q", TaskKind::Activity, wait).await),
        Some(1)
    );
    assert_eq!(
        scheduled(matching.poll("ns", "q", TaskKind::Activity, wait).await),
        Some(2)
    );
    assert_eq!(
        scheduled(matching.poll("ns", "q", TaskKind::Activity, wait).await),
        None,
        "empty after the wait"
    );
    assert_eq!(
        scheduled(
            matching
                .poll("other-ns", "q", TaskKind::Activity, wait)
                .await
        ),
        None
    );
}

#[tokio::test(start_paused = true)]
async fn a_poll_dropped_by_its_client_loses_no_task() {
    let matching = Matching::new();
    let abandoned = cairn_runtime::supervise("caller", cairn_runtime::Failure::Logged, {
        let matching = matching.clone();
        async move {
            matching
                .poll("ns", "q", TaskKind::Activity, Duration::from_secs(60))
                .await
        }
    });
    tokio::task::yield_now().await;
    abandoned.abort();
    assert!(
        abandoned.await.unwrap_err().is_cancelled(),
        "the poll was dropped by its client"
    );
    matching.dispatch(vec![task(7)]);
    let next = matching
        .poll("ns", "q", TaskKind::Activity, Duration::from_secs(1))
        .await;
    assert_eq!(scheduled(next), Some(7));
}

#[tokio::test(start_paused = true)]
async fn a_released_queue_ends_its_waiting_polls_and_drops_its_backlog() {
    let matching = Matching::new();
    matching.dispatch(vec![task(1)]);
    let waiting = {
        let matching = matching.clone();
        cairn_runtime::supervise("caller", cairn_runtime::Failure::Logged, async move {
            matching
                .poll("ns", "other", TaskKind::Activity, Duration::from_secs(60))
                .await
        })
    };
    tokio::task::yield_now().await;
    let started = tokio::time::Instant::now();
    matching.release_queues(|_, _| false);
    assert!(waiting.await.unwrap().is_none(), "the poll ends empty");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "at once, not at its deadline"
    );
    assert_eq!(matching.backlog("ns", "q", TaskKind::Activity), 0);
}

#[tokio::test(start_paused = true)]
async fn a_withdrawn_task_is_never_handed_out_and_takes_no_room() {
    let matching = Matching::new();
    matching.dispatch(vec![task(1), task(2), task(3)]);
    matching.withdraw(vec![task(2), task(9)]);
    assert_eq!(matching.backlog("ns", "q", TaskKind::Activity), 2);
    let wait = Duration::from_secs(1);
    assert_eq!(
        scheduled(matching.poll("ns", "q", TaskKind::Activity, wait).await),
        Some(1)
    );
    assert_eq!(
        scheduled(matching.poll("ns", "q", TaskKind::Activity, wait).await),
        Some(3)
    );
    // Handed again after it was withdrawn (a new window), it waits again.
    matching.dispatch(vec![task(2)]);
    assert_eq!(
        scheduled(matching.poll("ns", "q", TaskKind::Activity, wait).await),
        Some(2)
    );
}

#[tokio::test(start_paused = true)]
async fn matches_count_as_sync_or_backlog_by_queue() {
    let matching = Matching::new();
    let poll = cairn_runtime::supervise("caller", cairn_runtime::Failure::Logged, {
        let matching = matching.clone();
        async move {
            matching
                .poll("ns", "q", TaskKind::Activity, Duration::from_secs(60))
                .await
        }
    });
    tokio::task::yield_now().await;
    matching.dispatch(vec![task(1)]);
    assert_eq!(scheduled(poll.await.unwrap()), Some(1));
    // Two more with nobody polling: they wait, then two polls take them.
    matching.dispatch(vec![task(2), task(3)]);
    for _ in 0..2 {
        let taken = matching
            .poll("ns", "q", TaskKind::Activity, Duration::from_secs(1))
            .await;
        assert!(scheduled(taken).is_some());
    }
    let count = |how: &str| {
        matching
            .metrics()
            .matched
            .get_or_create(&crate::metrics::MatchLabels {
                namespace_id: "ns".into(),
                task_queue: "q".into(),
                kind: "activity".into(),
                how: how.into(),
            })
            .get()
    };
    assert_eq!((count("sync"), count("backlog")), (1, 2));
}
