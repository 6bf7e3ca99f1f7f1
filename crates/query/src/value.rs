//! Values of search attributes, as records report them and as literals in a query.

use std::cmp::Ordering;

use crate::status::ExecutionStatus;

/// A search attribute value. Records return `Null` for an attribute they do not have, such as
/// the `CloseTime` of a running workflow; a parsed query never contains `Null` or `List`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    Null,
    /// A `Keyword` or `Text` value.
    String(String),
    Int(i64),
    /// A `Double` value, or a fractional number compared with an `Int` attribute.
    Float(f64),
    Bool(bool),
    /// Nanoseconds since the unix epoch.
    Time(i64),
    Status(ExecutionStatus),
    /// The keywords of a `KeywordList` attribute.
    List(Vec<String>),
}

impl Value {
    /// Compares two values of the same kind: strings byte-wise, numbers numerically (an `Int`
    /// against a `Float` exactly), booleans `false` first, times chronologically and statuses
    /// by proto number (an `Int` counts as a proto number). Returns `None` when either side is
    /// `Null` or a `List`, or the kinds do not compare, which a filter treats as SQL's
    /// "unknown".
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::String(left), Value::String(right)) => Some(left.cmp(right)),
            (Value::Int(left), Value::Int(right)) => Some(left.cmp(right)),
            (Value::Float(left), Value::Float(right)) => left.partial_cmp(right),
            (Value::Int(left), Value::Float(right)) => compare_int_float(*left, *right),
            (Value::Float(left), Value::Int(right)) => {
                compare_int_float(*right, *left).map(Ordering::reverse)
            }
            (Value::Bool(left), Value::Bool(right)) => Some(left.cmp(right)),
            (Value::Time(left), Value::Time(right)) => Some(left.cmp(right)),
            (Value::Status(left), Value::Status(right)) => Some(left.as_i32().cmp(&right.as_i32())),
            (Value::Status(left), Value::Int(right)) => Some(i64::from(left.as_i32()).cmp(right)),
            (Value::Int(left), Value::Status(right)) => Some(left.cmp(&i64::from(right.as_i32()))),
            _ => None,
        }
    }

    /// Returns whether this is `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::String(value.to_owned())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::String(value)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Bool(value)
    }
}

impl From<ExecutionStatus> for Value {
    fn from(status: ExecutionStatus) -> Self {
        Value::Status(status)
    }
}

/// Compares an integer with a float without rounding the integer through `f64`.
fn compare_int_float(int: i64, float: f64) -> Option<Ordering> {
    // 2^63 is exactly representable; every finite float at or beyond it lies outside i64.
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if float.is_nan() {
        return None;
    }
    if float >= TWO_POW_63 {
        return Some(Ordering::Less);
    }
    if float < -TWO_POW_63 {
        return Some(Ordering::Greater);
    }
    let whole = float.trunc();
    // In range, so the cast is exact; the fractional part of a float is exact as well.
    let by_whole = int.cmp(&(whole as i64));
    let fraction = float - whole;
    Some(by_whole.then(if fraction > 0.0 {
        Ordering::Less
    } else if fraction < 0.0 {
        Ordering::Greater
    } else {
        Ordering::Equal
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_compare_byte_wise() {
        assert_eq!(
            Value::from("a").compare(&Value::from("b")),
            Some(Ordering::Less)
        );
        assert_eq!(
            Value::from("B").compare(&Value::from("a")),
            Some(Ordering::Less)
        );
        assert_eq!(
            Value::from("ab").compare(&Value::from("ab")),
            Some(Ordering::Equal)
        );
    }

    #[test]
    fn null_compares_with_nothing() {
        assert_eq!(Value::Null.compare(&Value::Null), None);
        assert_eq!(Value::Null.compare(&Value::Int(1)), None);
        assert_eq!(Value::Time(1).compare(&Value::Null), None);
    }

    #[test]
    fn different_kinds_do_not_compare() {
        assert_eq!(Value::from("1").compare(&Value::Int(1)), None);
        assert_eq!(Value::Time(1).compare(&Value::Int(1)), None);
        assert_eq!(
            Value::Status(ExecutionStatus::Running).compare(&Value::from("Running")),
            None
        );
    }

    #[test]
    fn booleans_order_false_first() {
        let (no, yes) = (Value::Bool(false), Value::Bool(true));
        assert_eq!(no.compare(&yes), Some(Ordering::Less));
        assert_eq!(yes.compare(&yes), Some(Ordering::Equal));
        assert_eq!(yes.compare(&Value::Int(1)), None);
    }

    #[test]
    fn lists_do_not_compare() {
        let list = Value::List(vec!["a".into()]);
        assert_eq!(list.compare(&list), None);
        assert_eq!(list.compare(&Value::from("a")), None);
    }

    #[test]
    fn statuses_compare_by_proto_number() {
        let running = Value::Status(ExecutionStatus::Running);
        let failed = Value::Status(ExecutionStatus::Failed);
        assert_eq!(running.compare(&failed), Some(Ordering::Less));
        assert_eq!(failed.compare(&Value::Int(3)), Some(Ordering::Equal));
        assert_eq!(Value::Int(7).compare(&failed), Some(Ordering::Greater));
    }

    #[test]
    fn ints_and_floats_compare_exactly() {
        assert_eq!(
            Value::Int(2).compare(&Value::Float(1.5)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            Value::Int(1).compare(&Value::Float(1.5)),
            Some(Ordering::Less)
        );
        assert_eq!(
            Value::Int(-2).compare(&Value::Float(-1.5)),
            Some(Ordering::Less)
        );
        assert_eq!(
            Value::Int(-1).compare(&Value::Float(-1.5)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            Value::Int(3).compare(&Value::Float(3.0)),
            Some(Ordering::Equal)
        );
        assert_eq!(
            Value::Float(3.5).compare(&Value::Int(3)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            Value::Int(i64::MAX).compare(&Value::Float(9.3e18)),
            Some(Ordering::Less)
        );
        assert_eq!(
            Value::Int(i64::MIN).compare(&Value::Float(-1e19)),
            Some(Ordering::Greater)
        );
        // i64::MAX rounds up to 2^63 as a float, but the exact comparison still sees it below.
        let max_as_float = i64::MAX as f64;
        assert_eq!(
            Value::Int(i64::MAX).compare(&Value::Float(max_as_float)),
            Some(Ordering::Less)
        );
        assert_eq!(Value::Int(0).compare(&Value::Float(f64::NAN)), None);
    }
}
