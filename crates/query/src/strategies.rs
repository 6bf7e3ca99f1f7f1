//! Proptest strategies for parsed queries, shared by the test modules.

use proptest::prelude::*;

use crate::ast::{CompareOp, Expr};
use crate::field::{Field, ValueType};
use crate::status::ExecutionStatus;
use crate::value::Value;

pub(crate) fn field() -> impl Strategy<Value = Field> {
    prop::sample::select(Field::ALL.to_vec())
}

/// A value of the type `field` holds, as the parser would produce it.
fn value_for(field: Field) -> BoxedStrategy<Value> {
    if field == Field::ExecutionStatus {
        return prop::sample::select(ExecutionStatus::ALL.to_vec())
            .prop_map(Value::Status)
            .boxed();
    }
    match field.value_type() {
        ValueType::Keyword => "\\PC{0,8}".prop_map(Value::String).boxed(),
        ValueType::Datetime => any::<i64>().prop_map(Value::Time).boxed(),
        ValueType::Int => prop_oneof![
            any::<i64>().prop_map(Value::Int),
            (-1e12f64..1e12).prop_map(Value::Float),
        ]
        .boxed(),
    }
}

pub(crate) fn predicate() -> impl Strategy<Value = Expr> {
    let compare = field().prop_flat_map(|field| {
        let op = prop::sample::select(vec![
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Lt,
            CompareOp::Le,
            CompareOp::Gt,
            CompareOp::Ge,
        ]);
        (op, value_for(field)).prop_map(move |(op, value)| Expr::Compare { field, op, value })
    });
    let in_list = (field(), any::<bool>()).prop_flat_map(|(field, negated)| {
        prop::collection::vec(value_for(field), 1..4).prop_map(move |values| Expr::In {
            field,
            values,
            negated,
        })
    });
    let between = (field(), any::<bool>()).prop_flat_map(|(field, negated)| {
        (value_for(field), value_for(field)).prop_map(move |(low, high)| Expr::Between {
            field,
            low,
            high,
            negated,
        })
    });
    let starts_with = (
        prop::sample::select(vec![
            Field::WorkflowId,
            Field::WorkflowType,
            Field::RunId,
            Field::TaskQueue,
        ]),
        "\\PC{0,8}",
        any::<bool>(),
    )
        .prop_map(|(field, prefix, negated)| Expr::StartsWith {
            field,
            prefix,
            negated,
        });
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
