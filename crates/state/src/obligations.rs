//! The runs that may owe another workflow a message: a parent that must start its children
//! or tell them it closed (one mark per child it holds), a run that must signal or cancel
//! another (one mark per request it holds), a schedule that must start its actions (one
//! mark while it has a schedule), and a child or scheduled workflow that must tell its
//! parent or schedule (one mark while it has not). A new owner reads these marks, not every
//! run, to find what it must still send.
//!
//! ```text
//! mark: p | 7 | ns | wf | run | 'c' | child's initiated event ID BE    (a child section)
//!       p | 7 | ns | wf | run | 'x' | request's initiated event ID BE  (an external request)
//!       p | 7 | ns | wf | run | 's'                                   (a schedule)
//!       p | 7 | ns | wf | run | 'n'                                   (notify_parent)
//! ```

use cairn_engine::{PartitionId, RunKey, sections::SectionKind};
use cairn_schemas::Transition;
use rocksdb::WriteBatch;

use crate::{StateDb, StateError, keys};

const CHILD: u8 = b'c';
const EXTERNAL: u8 = b'x';
const SCHEDULE: u8 = b's';
const NOTIFY: u8 = b'n';

impl StateDb {
    /// Adds to `batch` the marks a transition sets or clears; `notify_parent` is the run's
    /// flag after it, when the transition left the run in place.
    pub(crate) fn stage_obligations(
        batch: &mut WriteBatch,
        partition: PartitionId,
        transition: &Transition,
        notify_parent: Option<bool>,
    ) {
        let run = &transition.run;
        let removed = transition.deleted
            || transition
                .changes
                .iter()
                .any(|c| c.kind == SectionKind::Run && c.value.is_none());
        if removed {
            batch.delete_range(
                keys::obligation(partition, run, &[]),
                keys::obligation(partition, run, &[0xff]),
            );
            return;
        }
        for change in &transition.changes {
            let mark = match change.kind {
                SectionKind::Child => [&[CHILD][..], &change.id.to_be_bytes()].concat(),
                SectionKind::ExternalRequest => {
                    [&[EXTERNAL][..], &change.id.to_be_bytes()].concat()
                }
                SectionKind::Schedule => vec![SCHEDULE],
                _ => continue,
            };
            let key = keys::obligation(partition, run, &mark);
            match change.value {
                Some(_) => batch.put(key, []),
                None => batch.delete(key),
            }
        }
        match notify_parent {
            Some(true) => batch.put(keys::obligation(partition, run, &[NOTIFY]), []),
            Some(false) => batch.delete(keys::obligation(partition, run, &[NOTIFY])),
            None => {}
        }
    }

    /// Every run of the partition with a mark, once each, in key order.
    pub fn owing_runs(&self, partition: PartitionId) -> Result<Vec<RunKey>, StateError> {
        let prefix = keys::table_prefix(partition, keys::Table::Obligation);
        let mut iter = self.db.raw_iterator();
        iter.seek(&prefix);
        let mut out: Vec<RunKey> = Vec::new();
        while let Some(key) = iter.key() {
            if !key.starts_with(&prefix) {
                break;
            }
            let run = keys::parse_run(&key[prefix.len()..]).ok_or(StateError::Malformed {
                table: "obligations",
            })?;
            if out.last() != Some(&run) {
                out.push(run);
            }
            iter.next();
        }
        iter.status()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use cairn_engine::{ExecutionStatus, MutableState, state::ChildInfo};
    use cairn_schemas::Transition;

    use crate::{Checkpoint, StateDb, tests::started_with_state};

    fn apply(db: &StateDb, before: &MutableState, after: &MutableState) {
        let transition = Transition {
            run: after.run.clone(),
            events: Vec::new(),
            changes: cairn_schemas::state_changes(&cairn_engine::sections::diff(
                Some(before),
                after,
            ))
            .unwrap(),
            deleted: false,
        };
        db.apply(
            0,
            &[transition],
            Checkpoint {
                next_offset: 1,
                epoch: 1,
            },
        )
        .unwrap();
    }

    fn child(initiated_event_id: i64) -> ChildInfo {
        ChildInfo {
            initiated_event_id,
            started_event_id: initiated_event_id + 1,
            started: true,
            workflow_id: format!("child-{initiated_event_id}"),
            run_id: "r".into(),
            workflow_type: "Child".into(),
            parent_close_policy: 1,
            workflow_task_completed_event_id: 4,
            command: Vec::new(),
        }
    }

    #[test]
    fn a_run_is_owing_while_it_holds_a_child_or_must_tell_its_parent() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(dir.path()).unwrap();
        let (first, parent) = started_with_state("parent");
        let (other, quiet) = started_with_state("quiet");
        db.apply(
            0,
            &[first, other],
            Checkpoint {
                next_offset: 0,
                epoch: 1,
            },
        )
        .unwrap();
        assert!(db.owing_runs(0).unwrap().is_empty());

        let mut with_children = parent.clone();
        with_children.children = vec![child(5), child(7)];
        apply(&db, &parent, &with_children);
        assert_eq!(db.owing_runs(0).unwrap(), vec![parent.run.clone()]);

        // One child told, the run closed and owes its own parent: still owing.
        let mut closed = with_children.clone();
        closed.children = vec![child(7)];
        closed.status = ExecutionStatus::Completed;
        closed.notify_parent = true;
        apply(&db, &with_children, &closed);
        assert_eq!(db.owing_runs(0).unwrap(), vec![parent.run]);

        let mut done = closed.clone();
        done.children.clear();
        done.notify_parent = false;
        apply(&db, &closed, &done);
        assert!(
            db.owing_runs(0).unwrap().is_empty(),
            "nothing owed any more"
        );
        assert!(db.run(0, &quiet.run).unwrap().is_some());
    }
}
