//! GetWorkflowExecutionHistory: pages of a run's events, and long polls for new ones.

use cairn_engine::proto::{enums::HistoryEventFilterType, history::History as HistoryPage};
use temporalio_protos::protos::temporal::api::workflowservice::v1::{self as ws};
use tonic::{Request, Response, Status};

use crate::error::status;

use crate::{long_poll::*, service::*};

pub(crate) async fn get_workflow_execution_history(
    frontend: &Frontend,
    request: Request<ws::GetWorkflowExecutionHistoryRequest>,
) -> Reply<ws::GetWorkflowExecutionHistoryResponse> {
    let wait = poll_wait(&request);
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let run = frontend.run(&namespace, r.execution.as_ref())?;
    let close_only = r.history_event_filter_type == HistoryEventFilterType::CloseEvent as i32;
    let from: i64 = if r.next_page_token.is_empty() {
        1
    } else {
        let bytes: [u8; 8] = r
            .next_page_token
            .as_slice()
            .try_into()
            .map_err(|_| Status::invalid_argument("Invalid NextPageToken."))?;
        i64::from_be_bytes(bytes)
    };
    let page_size = if r.maximum_page_size > 0 {
        r.maximum_page_size as usize
    } else {
        DEFAULT_PAGE_SIZE
    };
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = frontend.history.subscribe();
    let workflow = run.workflow();
    loop {
        if frontend.history.owned_elsewhere(&workflow) {
            // The partition moved while this poll waited: its router finds the new owner.
            return Err(crate::error::not_owner("the workflow's history partition"));
        }
        let state = frontend
            .history
            .progress(run.clone())
            .await
            .map_err(status)?;
        let run = state.run.clone();
        if close_only {
            if state.completion_event_id > 0 {
                let events = frontend
                    .history
                    .events(
                        &run,
                        state.completion_event_id,
                        state.completion_event_id + 1,
                    )
                    .await
                    .map_err(status)?;
                return Ok(Response::new(ws::GetWorkflowExecutionHistoryResponse {
                    history: Some(HistoryPage { events }),
                    ..Default::default()
                }));
            }
        } else {
            let end = state.next_event_id;
            if from < end || !r.wait_new_event || !state.is_open() {
                let to = end.min(from + page_size as i64);
                let events = frontend
                    .history
                    .events(&run, from, to)
                    .await
                    .map_err(status)?;
                let more = to < end || (r.wait_new_event && state.is_open());
                let next_page_token = if more {
                    to.to_be_bytes().to_vec()
                } else {
                    Vec::new()
                };
                return Ok(Response::new(ws::GetWorkflowExecutionHistoryResponse {
                    history: Some(HistoryPage { events }),
                    next_page_token,
                    ..Default::default()
                }));
            }
        }
        if !r.wait_new_event && close_only {
            return Ok(Response::new(ws::GetWorkflowExecutionHistoryResponse {
                history: Some(HistoryPage::default()),
                ..Default::default()
            }));
        }
        // Long poll: wait for a durable change of this workflow, or answer empty at the
        // deadline. Subscribed before the first look, so no change slips between.
        if !wait_for_change(&mut changes, &workflow, deadline).await {
            return Ok(Response::new(idle_answer(from)));
        }
    }
}

/// What a history long poll that saw nothing new answers: an empty page that continues
/// where the request started.
///
/// A token even when only the close event is asked for: as Temporal does for a run still
/// open, so that the SDKs poll again rather than conclude that the history has no end.
fn idle_answer(from: i64) -> ws::GetWorkflowExecutionHistoryResponse {
    ws::GetWorkflowExecutionHistoryResponse {
        history: Some(HistoryPage::default()),
        next_page_token: from.to_be_bytes().to_vec(),
        ..Default::default()
    }
}

/// The idle answer to a history long poll, for a router that could not reach its owner
/// before the client's deadline.
pub fn idle_history_poll(
    r: &ws::GetWorkflowExecutionHistoryRequest,
) -> ws::GetWorkflowExecutionHistoryResponse {
    let from = <[u8; 8]>::try_from(r.next_page_token.as_slice()).map_or(1, i64::from_be_bytes);
    idle_answer(from)
}

/// GetWorkflowExecutionHistoryReverse: a run's events newest first, in pages.
pub(crate) async fn get_workflow_execution_history_reverse(
    frontend: &Frontend,
    request: Request<ws::GetWorkflowExecutionHistoryReverseRequest>,
) -> Reply<ws::GetWorkflowExecutionHistoryReverseResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let run = frontend.run(&namespace, r.execution.as_ref())?;
    let state = frontend.history.describe(run).await.map_err(status)?;
    // The page token is the event ID after the next page's newest event.
    let end: i64 = if r.next_page_token.is_empty() {
        state.next_event_id
    } else {
        let bytes: [u8; 8] = r
            .next_page_token
            .as_slice()
            .try_into()
            .map_err(|_| Status::invalid_argument("Invalid NextPageToken."))?;
        i64::from_be_bytes(bytes)
    };
    let page_size = if r.maximum_page_size > 0 {
        i64::from(r.maximum_page_size)
    } else {
        DEFAULT_PAGE_SIZE as i64
    };
    let start = (end - page_size).max(1);
    let mut events = frontend
        .history
        .events(&state.run, start, end)
        .await
        .map_err(status)?;
    events.reverse();
    Ok(Response::new(
        ws::GetWorkflowExecutionHistoryReverseResponse {
            history: Some(HistoryPage { events }),
            next_page_token: if start > 1 {
                start.to_be_bytes().to_vec()
            } else {
                Vec::new()
            },
        },
    ))
}
