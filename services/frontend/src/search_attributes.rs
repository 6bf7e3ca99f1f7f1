//! Search attributes: the system ones every namespace has, a namespace's custom ones (added
//! and removed through the OperatorService), checking the values workflows set, and reading
//! them back as typed values for visibility queries.

use std::collections::BTreeMap;

use cairn_query::{Field, ValueType};
use temporalio_protos::protos::temporal::api::common::v1::SearchAttributes;
use tonic::Status;

use crate::namespaces::Namespace;

/// Names Temporal reserves for itself besides the system fields queries know
/// ([`Field::ALL`]): none of them may be a custom attribute.
const RESERVED: [&str; 20] = [
    "BatcherNamespace",
    "BatcherUser",
    "BinaryChecksums",
    "BuildIds",
    "ExecutionDuration",
    "HistorySizeBytes",
    "StateTransitionCount",
    "TemporalChangeVersion",
    "TemporalNamespaceDivision",
    "TemporalPauseInfo",
    "TemporalReportedProblems",
    "TemporalSchedulePaused",
    "TemporalScheduledById",
    "TemporalScheduledStartTime",
    "TemporalWorkerDeployment",
    "TemporalWorkerDeploymentVersion",
    "TemporalWorkflowVersioningBehavior",
    "TemporalUsedWorkerDeploymentVersions",
    "TemporalExternalPayloadCount",
    "TemporalExternalPayloadSizeBytes",
];

/// Temporal's own attributes that workflows may set as if they were custom ones (its
/// "predefined whitelist"): the SDKs upsert `TemporalChangeVersion` for each patch a
/// workflow takes, for example.
pub const SETTABLE_PREDEFINED: [(&str, ValueType); 11] = [
    ("TemporalChangeVersion", ValueType::KeywordList),
    ("BinaryChecksums", ValueType::KeywordList),
    ("BuildIds", ValueType::KeywordList),
    ("BatcherNamespace", ValueType::Keyword),
    ("BatcherUser", ValueType::Keyword),
    ("TemporalScheduledStartTime", ValueType::Datetime),
    ("TemporalScheduledById", ValueType::Keyword),
    ("TemporalSchedulePaused", ValueType::Bool),
    ("TemporalNamespaceDivision", ValueType::Keyword),
    ("TemporalPauseInfo", ValueType::KeywordList),
    ("TemporalReportedProblems", ValueType::KeywordList),
];

/// At most this many custom search attributes per namespace (Temporal's SQL visibility
/// offers this many columns of each type; one limit for all types here).
pub const MAX_CUSTOM: usize = 100;

/// `temporal.api.enums.v1.IndexedValueType` number of a type.
pub fn type_number(value_type: ValueType) -> i32 {
    match value_type {
        ValueType::Text => 1,
        ValueType::Keyword => 2,
        ValueType::Int => 3,
        ValueType::Double => 4,
        ValueType::Bool => 5,
        ValueType::Datetime => 6,
        ValueType::KeywordList => 7,
    }
}

/// The type an `IndexedValueType` number names.
pub fn type_of_number(number: i32) -> Option<ValueType> {
    [
        ValueType::Text,
        ValueType::Keyword,
        ValueType::Int,
        ValueType::Double,
        ValueType::Bool,
        ValueType::Datetime,
        ValueType::KeywordList,
    ]
    .into_iter()
    .find(|t| type_number(*t) == number)
}

/// The system attributes a namespace lists (`ListSearchAttributes`): the ones Cairn indexes
/// for every run and Temporal's predefined ones that runs set and queries filter on.
pub fn listed_system() -> impl Iterator<Item = (String, ValueType)> {
    Field::ALL
        .into_iter()
        .map(|field| (field.name().to_owned(), field.value_type()))
        .chain(
            SETTABLE_PREDEFINED
                .into_iter()
                .map(|(name, kind)| (name.to_owned(), kind)),
        )
}

/// Whether `name` belongs to the system (and so cannot be a custom attribute).
pub fn is_system(name: &str) -> bool {
    Field::from_name(name).is_some() || RESERVED.contains(&name)
}

/// The custom attributes of a namespace with their types.
pub fn custom(namespace: &Namespace) -> BTreeMap<String, ValueType> {
    namespace
        .search_attributes
        .iter()
        .filter_map(|(name, kind)| Some((name.clone(), ValueType::from_name(kind)?)))
        .collect()
}

/// The attributes a workflow may set: the namespace's custom ones and Temporal's settable
/// predefined ones.
fn settable(namespace: &Namespace) -> BTreeMap<String, ValueType> {
    let mut settable = custom(namespace);
    settable.extend(
        SETTABLE_PREDEFINED
            .iter()
            .map(|(name, value_type)| (name.to_string(), *value_type)),
    );
    settable
}

/// Checks the search attributes a workflow sets: each must be one it may set (see
/// [`settable`]) and hold a value of its type, as Temporal checks them.
pub fn validate(
    namespace: &Namespace,
    attributes: Option<&SearchAttributes>,
) -> Result<(), Status> {
    let Some(attributes) = attributes else {
        return Ok(());
    };
    let custom = settable(namespace);
    for (name, payload) in &attributes.indexed_fields {
        let Some(value_type) = custom.get(name) else {
            return Err(Status::invalid_argument(format!(
                "Namespace {} has no mapping defined for search attribute {name}",
                namespace.name
            )));
        };
        if decode(payload, *value_type).is_none() {
            return Err(Status::invalid_argument(format!(
                "invalid value for search attribute {name} of type {value_type}: {}",
                String::from_utf8_lossy(&payload.data)
            )));
        }
    }
    Ok(())
}

/// Marks each attribute's payload with the `type` metadata of its registered type, as
/// Temporal stores them. The attributes were [`validate`]d.
pub fn typed(namespace: &Namespace, attributes: &mut Option<SearchAttributes>) {
    let custom = settable(namespace);
    for (name, payload) in attributes
        .iter_mut()
        .flat_map(|a| a.indexed_fields.iter_mut())
    {
        if let Some(value_type) = custom.get(name) {
            payload
                .metadata
                .insert("type".into(), value_type.to_string().into_bytes());
        }
    }
}

pub use cairn_visibility::attributes::{decode, value_of};

#[cfg(test)]
mod tests {
    use cairn_query::Value;
    use temporalio_protos::protos::temporal::api::common::v1::Payload;

    use super::*;

    fn json(text: &str) -> Payload {
        Payload {
            metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
            data: text.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn values_decode_by_their_type() {
        assert_eq!(decode(&json("7"), ValueType::Int), Some(Value::Int(7)));
        assert_eq!(decode(&json("\"x\""), ValueType::Int), None);
        assert_eq!(
            decode(&json("1.5"), ValueType::Double),
            Some(Value::Float(1.5))
        );
        assert_eq!(
            decode(&json("true"), ValueType::Bool),
            Some(Value::Bool(true))
        );
        assert_eq!(
            decode(&json("[\"a\",\"b\"]"), ValueType::KeywordList),
            Some(Value::List(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            decode(&json("\"2024-01-02T03:04:05Z\""), ValueType::Datetime),
            Some(Value::Time(1_704_164_645_000_000_000))
        );
        assert_eq!(decode(&json(""), ValueType::Keyword), Some(Value::Null));
        assert_eq!(
            decode(&json("[\"one\"]"), ValueType::Keyword),
            Some(Value::String("one".into())),
            "a list of one value reads as that value"
        );
        assert_eq!(decode(&json("[]"), ValueType::Int), Some(Value::Null));
        assert_eq!(decode(&json("[1, 2]"), ValueType::Int), None);
    }

    #[test]
    fn type_numbers_are_temporals() {
        for number in 1..=7 {
            assert_eq!(type_of_number(number).map(type_number), Some(number));
        }
        assert_eq!(type_of_number(0), None);
    }
}
