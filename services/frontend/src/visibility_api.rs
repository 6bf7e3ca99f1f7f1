//! ListWorkflowExecutions and CountWorkflowExecutions.

use temporalio_protos::protos::temporal::api::workflowservice::v1::{self as ws};
use tonic::{Request, Response, Status};

use crate::{convert, error::status, visibility};

use crate::service::*;

pub(crate) async fn list_workflow_executions(
    frontend: &Frontend,
    request: Request<ws::ListWorkflowExecutionsRequest>,
) -> Reply<ws::ListWorkflowExecutionsResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let query =
        cairn_query::parse(&r.query).map_err(|e| Status::invalid_argument(e.to_string()))?;
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
    let query =
        cairn_query::parse(&r.query).map_err(|e| Status::invalid_argument(e.to_string()))?;
    if !query.group_by.is_empty() {
        return Err(Status::unimplemented(
            "GROUP BY in CountWorkflowExecutions is not supported yet",
        ));
    }
    let runs = frontend.all_runs().await?;
    let count = visibility::select(&query, &namespace.id, runs).len() as i64;
    Ok(Response::new(ws::CountWorkflowExecutionsResponse {
        count,
        groups: Vec::new(),
    }))
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
