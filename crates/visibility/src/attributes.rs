//! Custom search attribute values as queries and the index read them: a payload's JSON, read
//! as the attribute's registered type.

use cairn_query::{Value, ValueType};
use temporalio_protos::protos::temporal::api::common::v1::{Payload, SearchAttributes};

/// A search attribute's value as a query sees it: the payload's JSON read as `value_type`.
/// An empty payload (how workflows unset an attribute) is `Null`.
pub fn decode(payload: &Payload, value_type: ValueType) -> Option<Value> {
    if payload.data.is_empty() {
        return Some(Value::Null);
    }
    let json: serde_json::Value = serde_json::from_slice(&payload.data).ok()?;
    let text = |json: &serde_json::Value| json.as_str().map(str::to_string);
    // As Temporal reads them, a single-valued attribute may come as a list: an empty one
    // unsets it, one of a single value is that value.
    let json = match (value_type, json) {
        (ValueType::KeywordList, json) => json,
        (_, serde_json::Value::Array(items)) if items.is_empty() => serde_json::Value::Null,
        (_, serde_json::Value::Array(mut items)) if items.len() == 1 => items.remove(0),
        (_, json) => json,
    };
    Some(match (value_type, &json) {
        (_, serde_json::Value::Null) => Value::Null,
        (ValueType::Keyword | ValueType::Text, json) => Value::String(text(json)?),
        (ValueType::Int, json) => Value::Int(json.as_i64()?),
        (ValueType::Double, json) => Value::Float(json.as_f64()?),
        (ValueType::Bool, json) => Value::Bool(json.as_bool()?),
        (ValueType::Datetime, json) => {
            let text = text(json)?;
            Value::Time(cairn_query::parse_rfc3339(&text).ok()?)
        }
        // A single keyword counts as a list of one, as Temporal reads it.
        (ValueType::KeywordList, serde_json::Value::Array(items)) => {
            Value::List(items.iter().map(text).collect::<Option<_>>()?)
        }
        (ValueType::KeywordList, json) => Value::List(vec![text(json)?]),
    })
}

/// A run's value of a custom attribute, `Null` when it has none.
pub fn value_of(encoded: &[u8], name: &str, value_type: ValueType) -> Value {
    use prost::Message;
    let Ok(attributes) = SearchAttributes::decode(encoded) else {
        return Value::Null;
    };
    attributes
        .indexed_fields
        .get(name)
        .and_then(|payload| decode(payload, value_type))
        .unwrap_or(Value::Null)
}
