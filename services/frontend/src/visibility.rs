//! Parsing List and Count queries against a namespace's search attributes.

use cairn_query::{Query, ValueType};

/// Search attributes Temporal keeps on its own that queries may name besides the namespace's.
fn system_attribute(name: &str) -> Option<ValueType> {
    crate::search_attributes::SETTABLE_PREDEFINED
        .iter()
        .find(|(predefined, _)| *predefined == name)
        .map(|(_, value_type)| *value_type)
}

/// Parses a List or Count query against the namespace's search attributes.
pub fn parse(
    namespace: &crate::namespaces::Namespace,
    query: &str,
) -> Result<Query, tonic::Status> {
    let custom = crate::search_attributes::custom(namespace);
    cairn_query::parse_with(query, &|name| {
        system_attribute(name).or_else(|| custom.get(name).copied())
    })
    .map_err(|e| tonic::Status::invalid_argument(e.to_string()))
}
