//! Evaluates a filter against one record, and orders records by `ORDER BY` keys.
//!
//! Filters use SQL's three-valued logic: a comparison involving a missing (`Null`) value, or
//! values of kinds that do not compare, is *unknown*; `NOT unknown` is unknown; `AND` and `OR`
//! follow Kleene's rules; and a record matches only when the whole filter is *true*. So
//! `CloseTime > '2024-01-01T00:00:00Z'` does not match a running workflow, and neither does
//! `NOT (CloseTime > '2024-01-01T00:00:00Z')`; `CloseTime IS NULL` does.

use std::cmp::Ordering;

use crate::Record;
use crate::ast::{CompareOp, Direction, Expr, OrderBy};
use crate::value::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn from_bool(value: bool) -> Self {
        if value { Truth::True } else { Truth::False }
    }

    fn from_comparison(ordering: Option<Ordering>, op: CompareOp) -> Self {
        ordering.map_or(Truth::Unknown, |ordering| {
            Truth::from_bool(op.holds(ordering))
        })
    }

    fn negate_if(self, negated: bool) -> Self {
        match (self, negated) {
            (Truth::True, true) => Truth::False,
            (Truth::False, true) => Truth::True,
            (truth, _) => truth,
        }
    }

    fn and(self, other: Truth) -> Self {
        match (self, other) {
            (Truth::False, _) | (_, Truth::False) => Truth::False,
            (Truth::True, Truth::True) => Truth::True,
            _ => Truth::Unknown,
        }
    }

    fn or(self, other: Truth) -> Self {
        match (self, other) {
            (Truth::True, _) | (_, Truth::True) => Truth::True,
            (Truth::False, Truth::False) => Truth::False,
            _ => Truth::Unknown,
        }
    }
}

/// Evaluates `expr` against `record`. Recursion is bounded by the parser's nesting limit.
pub(crate) fn evaluate(expr: &Expr, record: &impl Record) -> Truth {
    match expr {
        Expr::And(operands) => {
            let mut result = Truth::True;
            for operand in operands {
                result = result.and(evaluate(operand, record));
                if result == Truth::False {
                    break;
                }
            }
            result
        }
        Expr::Or(operands) => {
            let mut result = Truth::False;
            for operand in operands {
                result = result.or(evaluate(operand, record));
                if result == Truth::True {
                    break;
                }
            }
            result
        }
        Expr::Not(inner) => evaluate(inner, record).negate_if(true),
        Expr::Compare { field, op, value } => {
            Truth::from_comparison(record.field(field).compare(value), *op)
        }
        Expr::In {
            field,
            values,
            negated,
        } => {
            let actual = record.field(field);
            let mut result = Truth::False;
            for value in values {
                result = result.or(Truth::from_comparison(actual.compare(value), CompareOp::Eq));
                if result == Truth::True {
                    break;
                }
            }
            result.negate_if(*negated)
        }
        Expr::Between {
            field,
            low,
            high,
            negated,
        } => {
            let actual = record.field(field);
            let above_low = Truth::from_comparison(actual.compare(low), CompareOp::Ge);
            let below_high = Truth::from_comparison(actual.compare(high), CompareOp::Le);
            above_low.and(below_high).negate_if(*negated)
        }
        Expr::StartsWith {
            field,
            prefix,
            negated,
        } => match record.field(field) {
            Value::String(actual) => Truth::from_bool(actual.starts_with(prefix.as_str())),
            _ => Truth::Unknown,
        }
        .negate_if(*negated),
        Expr::IsNull { field, negated } => {
            Truth::from_bool(record.field(field).is_null()).negate_if(*negated)
        }
    }
}

/// Orders two records by `keys`, the first key deciding unless it ties. Missing values sort
/// after present ones in both directions, as Temporal's Elasticsearch store does; values that
/// do not compare count as ties.
pub fn compare_records(keys: &[OrderBy], a: &impl Record, b: &impl Record) -> Ordering {
    for key in keys {
        let (left, right) = (a.field(&key.field), b.field(&key.field));
        let ordering = match (left.is_null(), right.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                let ordering = left.compare(&right).unwrap_or(Ordering::Equal);
                match key.direction {
                    Direction::Asc => ordering,
                    Direction::Desc => ordering.reverse(),
                }
            }
        };
        if ordering.is_ne() {
            return ordering;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Truth; 3] = [Truth::True, Truth::False, Truth::Unknown];

    #[test]
    fn and_follows_kleene_logic() {
        use Truth::{False, True, Unknown};
        let expected = [
            [True, False, Unknown],
            [False, False, False],
            [Unknown, False, Unknown],
        ];
        for (i, left) in ALL.into_iter().enumerate() {
            for (j, right) in ALL.into_iter().enumerate() {
                assert_eq!(left.and(right), expected[i][j], "{left:?} AND {right:?}");
            }
        }
    }

    #[test]
    fn or_follows_kleene_logic() {
        use Truth::{False, True, Unknown};
        let expected = [
            [True, True, True],
            [True, False, Unknown],
            [True, Unknown, Unknown],
        ];
        for (i, left) in ALL.into_iter().enumerate() {
            for (j, right) in ALL.into_iter().enumerate() {
                assert_eq!(left.or(right), expected[i][j], "{left:?} OR {right:?}");
            }
        }
    }

    #[test]
    fn negation_keeps_unknown() {
        assert_eq!(Truth::True.negate_if(true), Truth::False);
        assert_eq!(Truth::False.negate_if(true), Truth::True);
        assert_eq!(Truth::Unknown.negate_if(true), Truth::Unknown);
        assert_eq!(Truth::True.negate_if(false), Truth::True);
    }

    #[test]
    fn comparisons_without_an_ordering_are_unknown() {
        assert_eq!(Truth::from_comparison(None, CompareOp::Ne), Truth::Unknown);
        assert_eq!(
            Truth::from_comparison(Some(Ordering::Less), CompareOp::Ne),
            Truth::True
        );
    }
}
