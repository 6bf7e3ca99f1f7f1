//! ListWorkflowExecutions and CountWorkflowExecutions: each partition's visibility index is
//! asked in parallel (its owner, in a cluster), and the answers merged. A page token is a
//! cursor, the place of the last run returned, so paging is stable while runs change.

use cairn_query::Query;
use cairn_visibility::{CountRequest, Counts, Cursor, PageRequest, Row, keys::Division, page};
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
    let after = page_token(&r.next_page_token, &query)?;
    // As Temporal: a page size that is not positive, or above the largest, is the largest.
    let page_size = usize::try_from(r.page_size)
        .ok()
        .filter(|size| (1..=DEFAULT_PAGE_SIZE).contains(size))
        .unwrap_or(DEFAULT_PAGE_SIZE);
    let divisions = cairn_visibility::plan::divisions(&query).to_vec();
    let (rows, next) = frontend
        .list_rows(&namespace.id, &query, divisions, after, page_size)
        .await?;
    Ok(Response::new(ws::ListWorkflowExecutionsResponse {
        executions: rows.iter().map(convert::row_info).collect(),
        next_page_token: next.map(|cursor| cursor.to_token()).unwrap_or_default(),
    }))
}

/// The cursor a page token holds; an empty token starts from the top.
fn page_token(token: &[u8], query: &Query) -> Result<Option<Cursor>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    Cursor::from_token(token, query)
        .map(Some)
        .ok_or_else(|| Status::invalid_argument("Invalid NextPageToken."))
}

pub(crate) async fn count_workflow_executions(
    frontend: &Frontend,
    request: Request<ws::CountWorkflowExecutionsRequest>,
) -> Reply<ws::CountWorkflowExecutionsResponse> {
    let r = request.into_inner();
    let namespace = frontend.namespace(&r.namespace)?;
    let query = visibility::parse(&namespace, &r.query)?;
    let divisions = cairn_visibility::plan::divisions(&query).to_vec();
    let counts = frontend
        .count_rows(&namespace.id, &query, divisions)
        .await?;
    // The query language admits one grouping: `GROUP BY ExecutionStatus`.
    let groups = if query.group_by.is_empty() {
        Vec::new()
    } else {
        counts
            .by_status
            .iter()
            .map(|(&status, &count)| AggregationGroup {
                group_values: vec![json_string(status_name(status))],
                count,
            })
            .collect()
    };
    Ok(Response::new(ws::CountWorkflowExecutionsResponse {
        count: counts.total,
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
    /// One page of the runs a query matches, after `after`, and the cursor after the page
    /// when more follow: every partition's first `limit`, merged.
    pub(crate) async fn list_rows(
        &self,
        namespace_id: &str,
        query: &Query,
        divisions: Vec<Division>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<(Vec<Row>, Option<Cursor>), Status> {
        let asks = (0..self.history.partitions()).map(|partition| {
            let request = PageRequest {
                namespace_id: namespace_id.to_string(),
                query: query.clone(),
                divisions: divisions.clone(),
                after: after.clone(),
                limit,
            };
            self.history.visibility_page(partition, request)
        });
        let pages = futures::future::try_join_all(asks).await.map_err(status)?;
        Ok(page::merge(query, pages, limit))
    }

    /// How many tasks of a queue wait for a worker, summed over every history partition.
    pub(crate) async fn waiting_tasks(
        &self,
        namespace_id: &str,
        task_queue: &str,
        kind: cairn_engine::TaskKind,
    ) -> Result<i64, Status> {
        let asks = (0..self.history.partitions()).map(|partition| {
            self.history.waiting_tasks(
                partition,
                namespace_id.to_string(),
                task_queue.to_string(),
                kind,
            )
        });
        let counts = futures::future::try_join_all(asks).await.map_err(status)?;
        Ok(counts.into_iter().sum())
    }

    /// How many runs a query matches, summed over every partition.
    pub(crate) async fn count_rows(
        &self,
        namespace_id: &str,
        query: &Query,
        divisions: Vec<Division>,
    ) -> Result<Counts, Status> {
        let asks = (0..self.history.partitions()).map(|partition| {
            let request = CountRequest {
                namespace_id: namespace_id.to_string(),
                query: query.clone(),
                divisions: divisions.clone(),
            };
            self.history.visibility_count(partition, request)
        });
        let mut total = Counts::default();
        for counts in futures::future::try_join_all(asks).await.map_err(status)? {
            total.merge(counts);
        }
        Ok(total)
    }
}
