//! ListWorkflowExecutions and CountWorkflowExecutions.

use temporalio_protos::protos::temporal::api::workflowservice::v1::{self as ws};
use temporalio_protos::protos::temporal::api::{
    common::v1::Payload, workflowservice::v1::count_workflow_executions_response::AggregationGroup,
};
use tonic::{Request, Response, Status};

use crate::{convert, error::status, visibility};

use crate::service::*;

pub(crate) async fn list_workflow_executions(
    frontend: &Frontend,
    request: Request<ws::ListWorkflowExecutionsRequest>,
) -> Reply<ws::ListWorkflowExecutionsResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let query = visibility::parse(&namespace, &r.query)?;
    let runs = frontend.all_runs().await?;
    let selected = visibility::select(&query, &namespace.id, runs);
    let offset: usize = if r.next_page_token.is_empty() {
        0
    } else {
        std::str::from_utf8(&r.next_page_token)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Status::invalid_argument("Invalid NextPageToken."))?
    };
    let page_size = if r.page_size > 0 {
        r.page_size as usize
    } else {
        DEFAULT_PAGE_SIZE
    };
    let end = (offset + page_size).min(selected.len());
    let executions = selected
        .get(offset..end)
        .unwrap_or_default()
        .iter()
        .map(convert::execution_info)
        .collect();
    let next_page_token = if end < selected.len() {
        end.to_string().into_bytes()
    } else {
        Vec::new()
    };
    Ok(Response::new(ws::ListWorkflowExecutionsResponse {
        executions,
        next_page_token,
    }))
}

pub(crate) async fn count_workflow_executions(
    frontend: &Frontend,
    request: Request<ws::CountWorkflowExecutionsRequest>,
) -> Reply<ws::CountWorkflowExecutionsResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let query = visibility::parse(&namespace, &r.query)?;
    let runs = frontend.all_runs().await?;
    let selected = visibility::select(&query, &namespace.id, runs);
    let count = selected.len() as i64;
    // The query language admits one grouping: `GROUP BY ExecutionStatus`.
    let groups = if query.group_by.is_empty() {
        Vec::new()
    } else {
        let mut by_status = std::collections::BTreeMap::new();
        for state in &selected {
            *by_status.entry(state.status.to_proto()).or_insert(0_i64) += 1;
        }
        by_status
            .into_iter()
            .map(|(status, count)| AggregationGroup {
                group_values: vec![json_string(status_name(status))],
                count,
            })
            .collect()
    };
    Ok(Response::new(ws::CountWorkflowExecutionsResponse {
        count,
        groups,
    }))
}

/// Temporal's name of a status number, as group values carry it.
fn status_name(status: i32) -> &'static str {
    cairn_query::ExecutionStatus::from_i32(status)
        .map_or("Unspecified", cairn_query::ExecutionStatus::name)
}

/// A payload holding a JSON string, the encoding Temporal uses for group values.
fn json_string(value: &str) -> Payload {
    Payload {
        metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
        data: format!("\"{value}\"").into_bytes(),
        ..Default::default()
    }
}

impl Frontend {
    pub(crate) async fn all_runs(&self) -> Result<Vec<cairn_engine::MutableState>, Status> {
        let mut runs = Vec::new();
        for partition in 0..self.history.partitions() {
            runs.extend(self.history.runs(partition).await.map_err(status)?);
        }
        Ok(runs)
    }
}
