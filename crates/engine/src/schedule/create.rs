//! A schedule's creation: a run of its own under the schedule's workflow ID, started as a
//! start request would be (a repeat of the same request finds it; another request for a
//! schedule ID in use fails as already started), with its first patch applied.

use crate::{
    RunKey, WorkflowKey,
    proto::{
        common::{Memo, SearchAttributes, WorkflowType},
        enums::{WorkflowIdConflictPolicy, WorkflowIdReusePolicy},
        schedule::{Schedule, SchedulePatch},
        taskqueue::TaskQueue,
        workflowservice::StartWorkflowExecutionRequest,
    },
    start::{RunStart, StartDecision, Started, begin, decide_start},
    store::RunStore,
};

/// What a new schedule is made of; its schedule was checked with
/// [`super::prepare`].
#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub schedule_id: String,
    pub schedule: Schedule,
    pub initial_patch: Option<SchedulePatch>,
    pub memo: Option<Memo>,
    pub search_attributes: Option<SearchAttributes>,
    pub identity: String,
    pub request_id: String,
}

/// Creates the schedule `new` as the run `run_id` of its workflow ID in `namespace`.
pub fn create<S: RunStore>(
    store: &mut S,
    namespace_id: String,
    namespace: String,
    new: NewSchedule,
    run_id: String,
) -> Result<Started, S::Error> {
    let workflow = WorkflowKey {
        namespace_id: namespace_id.clone(),
        workflow_id: super::workflow_id(&new.schedule_id),
    };
    let jitter_seed_namespace = namespace_id.clone();
    let current = store.current_state(&workflow)?;
    let decision = decide_start(
        current.as_ref(),
        &new.request_id,
        WorkflowIdReusePolicy::AllowDuplicate,
        WorkflowIdConflictPolicy::Fail,
    )?;
    if let StartDecision::Existing { run_id, .. } = decision {
        return Ok(Started {
            run_id,
            started: false,
        });
    }
    let run = RunKey {
        namespace_id,
        workflow_id: workflow.workflow_id.clone(),
        run_id: run_id.clone(),
    };
    let request = StartWorkflowExecutionRequest {
        namespace: namespace.clone(),
        workflow_id: workflow.workflow_id,
        workflow_type: Some(WorkflowType {
            name: super::WORKFLOW_TYPE.into(),
        }),
        task_queue: Some(TaskQueue {
            name: super::TASK_QUEUE.into(),
            ..Default::default()
        }),
        identity: new.identity,
        request_id: new.request_id,
        memo: new.memo,
        search_attributes: new.search_attributes,
        ..Default::default()
    };
    let now = store.now();
    let start = RunStart {
        schedule: Some(super::new_state(
            &jitter_seed_namespace,
            &new.schedule_id,
            &new.schedule,
            now,
        )),
        ..RunStart::from_request(run.clone(), &namespace, &request, now)
    };
    let (state, changes) = begin(start, now);
    store.stage(state, changes);
    if let Some(patch) = new.initial_patch {
        store.update(&run, |tx| tx.patch_schedule(&patch))?;
    }
    Ok(Started {
        run_id,
        started: true,
    })
}
