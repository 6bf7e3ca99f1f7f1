//! Short names for the Temporal API types the engine works with.

pub use history::{HistoryEvent, history_event::Attributes};
pub use prost_wkt_types::{Duration, Timestamp};
pub use temporalio_protos::protos::temporal::api::{
    activity::v1 as activity, command::v1 as command, common::v1 as common, enums::v1 as enums,
    failure::v1 as failure, history::v1 as history, protocol::v1 as protocol, query::v1 as query,
    schedule::v1 as schedule, sdk::v1 as sdk, taskqueue::v1 as taskqueue, update::v1 as update,
    workflow::v1 as workflow, workflowservice::v1 as workflowservice,
};
