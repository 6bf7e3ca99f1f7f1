//! Retention over a store: a closed run is deleted once its namespace's retention has passed
//! since it closed; an open run, or one still within retention, stays.

use super::{builders::Run, store::MemoryStore};
use crate::{retention::delete_expired, store::RunStore, time::secs};

fn closed_and_open() -> (MemoryStore, Vec<crate::RunKey>) {
    let mut store = MemoryStore::default();
    let mut closed = Run::start();
    closed.ok(|tx| tx.terminate("done", None, "operator"));
    let mut open = Run::start();
    open.state.run.run_id = "run-open".into();
    open.state.run.workflow_id = "open".into();
    let runs = vec![closed.state.run.clone(), open.state.run.clone()];
    store.stage(closed.state, crate::Changes::default());
    store.stage(open.state, crate::Changes::default());
    (store, runs)
}

#[test]
fn a_closed_run_past_its_retention_is_deleted_and_an_open_one_stays() {
    let (mut store, runs) = closed_and_open();
    let deleted = delete_expired(&mut store, &runs, |_| Some(0)).unwrap();
    assert_eq!(deleted, 1);
    assert!(
        store.state(&runs[0]).unwrap().is_none(),
        "the closed run is gone"
    );
    assert!(
        store.state(&runs[1]).unwrap().is_some(),
        "the open run stays"
    );
}

#[test]
fn a_closed_run_within_its_retention_or_in_a_namespace_that_keeps_runs_stays() {
    let (mut store, runs) = closed_and_open();
    assert_eq!(
        delete_expired(&mut store, &runs, |_| Some(secs(60))).unwrap(),
        0
    );
    assert_eq!(delete_expired(&mut store, &runs, |_| None).unwrap(), 0);
}
