//! Evaluates a filter against one record, and orders records by `ORDER BY` keys.
//!
//! Filters use SQL's three-valued logic: a comparison involving a missing (`Null`) value, or
//! values of kinds that do not compare, is *unknown*; `NOT unknown` is unknown; `AND` and `OR`
//! follow Kleene's rules; and a record matches only when the whole filter is *true*. So
//! `CloseTime > '2024-01-01T00:00:00Z'` does not match a running workflow, and neither does
//! `NOT (CloseTime > '2024-01-01T00:00:00Z')`; `CloseTime IS NULL` does.
//!
//! Equality depends on the field's type: a `KeywordList` equals a keyword when it contains it,
//! and a `Text` equals a literal when they match as full text (see [`crate::fulltext`]).
//! `!=`, `IN` and `NOT IN` are built from that equality.

use std::cmp::Ordering;

use crate::Record;
use crate::ast::{CompareOp, Direction, Expr, OrderBy};
use crate::field::ValueType;
use crate::fulltext;
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
            compare(field.value_type(), &record.field(field), *op, value)
        }
        Expr::In {
            field,
            values,
            negated,
        } => {
            let actual = record.field(field);
            let mut result = Truth::False;
            for value in values {
                result = result.or(equals(field.value_type(), &actual, value));
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

/// Evaluates `actual <op> expected` for a field of type `value_type`.
fn compare(value_type: ValueType, actual: &Value, op: CompareOp, expected: &Value) -> Truth {
    match op {
        CompareOp::Eq => equals(value_type, actual, expected),
        CompareOp::Ne => equals(value_type, actual, expected).negate_if(true),
        _ => Truth::from_comparison(actual.compare(expected), op),
    }
}

/// Evaluates `actual = expected` for a field of type `value_type`: membership for a
/// `KeywordList`, a full-text match for a `Text`, and equal values otherwise.
fn equals(value_type: ValueType, actual: &Value, expected: &Value) -> Truth {
    match (value_type, actual, expected) {
        (ValueType::KeywordList, Value::List(items), Value::String(item)) => {
            Truth::from_bool(items.contains(item))
        }
        (ValueType::Text, Value::String(text), Value::String(query)) => {
            Truth::from_bool(fulltext::matches(text, query))
        }
        (ValueType::KeywordList | ValueType::Text, _, _) => Truth::Unknown,
        _ => Truth::from_comparison(actual.compare(expected), CompareOp::Eq),
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
    fn keyword_lists_equal_the_keywords_they_contain() {
        let list = Value::List(vec!["a".into(), "b".into()]);
        let keyword_list = ValueType::KeywordList;
        assert_eq!(equals(keyword_list, &list, &"a".into()), Truth::True);
        assert_eq!(equals(keyword_list, &list, &"c".into()), Truth::False);
        assert_eq!(
            equals(keyword_list, &Value::List(vec![]), &"a".into()),
            Truth::False
        );
        assert_eq!(
            equals(keyword_list, &Value::Null, &"a".into()),
            Truth::Unknown
        );
        // A record that reports a plain string for a list behaves like a missing value.
        assert_eq!(
            equals(keyword_list, &"a".into(), &"a".into()),
            Truth::Unknown
        );
    }

    #[test]
    fn texts_equal_literals_they_match() {
        let text = Value::from("Payment failed: card declined");
        assert_eq!(equals(ValueType::Text, &text, &"CARD".into()), Truth::True);
        assert_eq!(
            equals(ValueType::Text, &text, &"payment".into()),
            Truth::True
        );
        assert_eq!(
            equals(ValueType::Text, &text, &"refund".into()),
            Truth::False
        );
        assert_eq!(
            equals(
                ValueType::Text,
                &text,
                &"Payment failed: card declined x".into()
            ),
            Truth::True
        );
        assert_eq!(
            equals(ValueType::Text, &Value::Null, &"a".into()),
            Truth::Unknown
        );
        // Keywords compare whole values instead.
        assert_eq!(
            equals(ValueType::Keyword, &text, &"card".into()),
            Truth::False
        );
    }

    #[test]
    fn not_equal_negates_equality_and_keeps_unknown() {
        let list = Value::List(vec!["a".into()]);
        let ne =
            |actual: &Value| compare(ValueType::KeywordList, actual, CompareOp::Ne, &"a".into());
        assert_eq!(ne(&list), Truth::False);
        assert_eq!(ne(&Value::List(vec![])), Truth::True);
        assert_eq!(ne(&Value::Null), Truth::Unknown);
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
