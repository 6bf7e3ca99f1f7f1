//! Proptest strategies for parsed queries, shared by the test modules.

use proptest::prelude::*;

use crate::ast::{CompareOp, Expr};
use crate::field::{Field, ValueType};
use crate::fulltext;
use crate::status::ExecutionStatus;
use crate::value::Value;

/// The custom search attributes the strategies use: one of each type with a plain name, and
/// some whose names need backticks (reserved, spaced, with a backtick, starting with a digit)
/// or are not ASCII.
const CUSTOM: [(&str, ValueType); 12] = [
    ("CustomKeywordField", ValueType::Keyword),
    ("CustomTextField", ValueType::Text),
    ("CustomIntField", ValueType::Int),
    ("CustomDoubleField", ValueType::Double),
    ("CustomBoolField", ValueType::Bool),
    ("CustomDatetimeField", ValueType::Datetime),
    ("CustomKeywordListField", ValueType::KeywordList),
    ("order", ValueType::Keyword),
    ("my field", ValueType::Int),
    ("a`b", ValueType::Bool),
    ("1st", ValueType::Double),
    ("Größe", ValueType::Text),
];

/// Looks up the custom attributes the strategies generate, for [`crate::parse_with`].
pub(crate) fn custom_type(name: &str) -> Option<ValueType> {
    CUSTOM
        .into_iter()
        .find(|(custom, _)| *custom == name)
        .map(|(_, value_type)| value_type)
}

/// Every system field and every custom field in [`CUSTOM`] for which `keep` holds.
fn fields_where(keep: impl Fn(&Field) -> bool) -> Vec<Field> {
    let custom = CUSTOM.into_iter().map(|(name, value_type)| Field::Custom {
        name: name.to_owned(),
        value_type,
    });
    Field::ALL.into_iter().chain(custom).filter(keep).collect()
}

pub(crate) fn field() -> impl Strategy<Value = Field> {
    prop::sample::select(fields_where(|_| true))
}

/// A field `ORDER BY` accepts.
pub(crate) fn sortable_field() -> impl Strategy<Value = Field> {
    prop::sample::select(fields_where(|field| field.value_type().is_sortable()))
}

/// A value of the type `field` holds, as the parser would produce it.
fn value_for(field: &Field) -> BoxedStrategy<Value> {
    if *field == Field::ExecutionStatus {
        return prop::sample::select(ExecutionStatus::ALL.to_vec())
            .prop_map(Value::Status)
            .boxed();
    }
    match field.value_type() {
        ValueType::Keyword | ValueType::KeywordList => "\\PC{0,8}".prop_map(Value::String).boxed(),
        ValueType::Text => "\\PC{0,8}"
            .prop_filter("a text literal needs a term", |text| {
                fulltext::has_terms(text)
            })
            .prop_map(Value::String)
            .boxed(),
        ValueType::Datetime => any::<i64>().prop_map(Value::Time).boxed(),
        ValueType::Int | ValueType::Double => prop_oneof![
            any::<i64>().prop_map(Value::Int),
            (-1e12f64..1e12).prop_map(Value::Float),
        ]
        .boxed(),
        ValueType::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
    }
}

/// A comparison operator `field` accepts.
fn op_for(field: &Field) -> impl Strategy<Value = CompareOp> + use<> {
    let mut ops = vec![CompareOp::Eq, CompareOp::Ne];
    if field.value_type().is_ordered() {
        ops.extend([CompareOp::Lt, CompareOp::Le, CompareOp::Gt, CompareOp::Ge]);
    }
    prop::sample::select(ops)
}

pub(crate) fn predicate() -> impl Strategy<Value = Expr> {
    let compare = field().prop_flat_map(|field| {
        (op_for(&field), value_for(&field)).prop_map(move |(op, value)| Expr::Compare {
            field: field.clone(),
            op,
            value,
        })
    });
    let in_fields = fields_where(|field| field.value_type() != ValueType::Text);
    let in_list =
        (prop::sample::select(in_fields), any::<bool>()).prop_flat_map(|(field, negated)| {
            prop::collection::vec(value_for(&field), 1..4).prop_map(move |values| Expr::In {
                field: field.clone(),
                values,
                negated,
            })
        });
    let ordered = fields_where(|field| field.value_type().is_ordered());
    let between =
        (prop::sample::select(ordered), any::<bool>()).prop_flat_map(|(field, negated)| {
            (value_for(&field), value_for(&field)).prop_map(move |(low, high)| Expr::Between {
                field: field.clone(),
                low,
                high,
                negated,
            })
        });
    let keywords = fields_where(|field| {
        field.value_type() == ValueType::Keyword && *field != Field::ExecutionStatus
    });
    let starts_with = (prop::sample::select(keywords), "\\PC{0,8}", any::<bool>()).prop_map(
        |(field, prefix, negated)| Expr::StartsWith {
            field,
            prefix,
            negated,
        },
    );
    let is_null =
        (field(), any::<bool>()).prop_map(|(field, negated)| Expr::IsNull { field, negated });
    prop_oneof![compare, in_list, between, starts_with, is_null]
}

pub(crate) fn expr() -> impl Strategy<Value = Expr> {
    predicate().prop_recursive(4, 32, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|expr| Expr::Not(Box::new(expr))),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_names_never_shadow_system_ones() {
        for (name, _) in CUSTOM {
            assert_eq!(Field::from_name(name), None, "{name}");
        }
    }

    #[test]
    fn every_value_type_has_a_custom_field() {
        for value_type in ValueType::ALL {
            assert!(
                CUSTOM.iter().any(|(_, custom)| *custom == value_type),
                "{value_type}"
            );
        }
    }
}
