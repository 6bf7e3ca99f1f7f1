//! The parsed form of a query's filter and ordering.
//!
//! Literals are already converted to the type of the field they are compared with, so an
//! `Expr` only holds values that are valid for their field: strings for keywords, texts and
//! keyword lists (one element to look for), statuses for `ExecutionStatus`, `Time` for
//! datetimes, `Int` or `Float` for integers and doubles, and `Bool` for booleans. The parser
//! also checks the operator against the field's type, so ordering comparisons and `BETWEEN`
//! only apply to ordered types and `STARTS_WITH` only to keywords.

use std::cmp::Ordering;

use crate::field::Field;
use crate::value::Value;

/// A boolean filter over one record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Expr {
    /// True when every operand is; the parser flattens `a AND b AND c` into one list of at
    /// least two operands.
    And(Vec<Expr>),
    /// True when any operand is; flattened like `And`.
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// `field <op> value`. For a `Text` field `=` is a full-text match and for a
    /// `KeywordList` a membership test; `!=` negates either.
    Compare {
        field: Field,
        op: CompareOp,
        value: Value,
    },
    /// `field IN (values...)`, or `NOT IN` when `negated`: whether `field = value` for any of
    /// the values.
    In {
        field: Field,
        values: Vec<Value>,
        negated: bool,
    },
    /// `field BETWEEN low AND high` (both ends inclusive), or `NOT BETWEEN` when `negated`.
    Between {
        field: Field,
        low: Value,
        high: Value,
        negated: bool,
    },
    /// `field STARTS_WITH 'prefix'`, or `NOT STARTS_WITH` when `negated`.
    StartsWith {
        field: Field,
        prefix: String,
        negated: bool,
    },
    /// `field IS NULL`, or `IS NOT NULL` when `negated`.
    IsNull {
        field: Field,
        negated: bool,
    },
}

/// A binary comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    /// Returns the operator as written in a query (`!=` also accepts `<>`).
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// Returns whether `left <op> right` holds when `left.cmp(right)` is `ordering`.
    pub fn holds(self, ordering: Ordering) -> bool {
        match self {
            CompareOp::Eq => ordering.is_eq(),
            CompareOp::Ne => ordering.is_ne(),
            CompareOp::Lt => ordering.is_lt(),
            CompareOp::Le => ordering.is_le(),
            CompareOp::Gt => ordering.is_gt(),
            CompareOp::Ge => ordering.is_ge(),
        }
    }
}

/// One `ORDER BY` key, on a field whose type can be sorted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct OrderBy {
    pub field: Field,
    pub direction: Direction,
}

/// The direction of an `ORDER BY` key; `Asc` when the query does not say.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

impl Expr {
    /// Returns every field the expression mentions, in order of appearance, with repeats.
    pub fn fields(&self) -> Vec<Field> {
        let mut fields = Vec::new();
        self.collect_fields(&mut fields);
        fields
    }

    fn collect_fields(&self, fields: &mut Vec<Field>) {
        match self {
            Expr::And(operands) | Expr::Or(operands) => {
                for operand in operands {
                    operand.collect_fields(fields);
                }
            }
            Expr::Not(inner) => inner.collect_fields(fields),
            Expr::Compare { field, .. }
            | Expr::In { field, .. }
            | Expr::Between { field, .. }
            | Expr::StartsWith { field, .. }
            | Expr::IsNull { field, .. } => fields.push(field.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_hold_for_matching_orderings() {
        use Ordering::{Equal, Greater, Less};
        let table = [
            (CompareOp::Eq, [false, true, false]),
            (CompareOp::Ne, [true, false, true]),
            (CompareOp::Lt, [true, false, false]),
            (CompareOp::Le, [true, true, false]),
            (CompareOp::Gt, [false, false, true]),
            (CompareOp::Ge, [false, true, true]),
        ];
        for (op, expected) in table {
            let actual = [op.holds(Less), op.holds(Equal), op.holds(Greater)];
            assert_eq!(actual, expected, "{op:?}");
        }
    }

    #[test]
    fn fields_lists_every_mention() {
        let expr = Expr::Or(vec![
            Expr::IsNull {
                field: Field::CloseTime,
                negated: false,
            },
            Expr::Not(Box::new(Expr::And(vec![
                Expr::StartsWith {
                    field: Field::WorkflowId,
                    prefix: "a".into(),
                    negated: false,
                },
                Expr::IsNull {
                    field: Field::CloseTime,
                    negated: true,
                },
            ]))),
        ]);
        assert_eq!(
            expr.fields(),
            [Field::CloseTime, Field::WorkflowId, Field::CloseTime]
        );
    }
}
