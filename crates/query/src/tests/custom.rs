//! Custom search attributes end to end: each type's operators evaluated against records that
//! have the attribute, and against records that lack it (SQL's three-valued logic).

use std::cmp::Ordering;

use crate::{Field, Query, Record, Value, ValueType, parse_with};

const SECOND: i64 = 1_000_000_000;
const JAN_2024: i64 = 1_704_067_200 * SECOND;

/// A record holding only custom attributes, by name; system attributes are all missing.
#[derive(Debug, Clone, Default)]
struct Attributes(Vec<(&'static str, Value)>);

impl Record for Attributes {
    fn field(&self, field: &Field) -> Value {
        let Field::Custom { name, .. } = field else {
            return Value::Null;
        };
        self.0
            .iter()
            .find(|(attribute, _)| attribute == name)
            .map_or(Value::Null, |(_, value)| value.clone())
    }
}

/// A record with one custom attribute.
fn with(name: &'static str, value: impl Into<Value>) -> Attributes {
    Attributes(vec![(name, value.into())])
}

/// A record without any custom attribute.
fn missing() -> Attributes {
    Attributes::default()
}

/// The namespace has `Custom<Type>` for every type, such as `CustomKeywordList`.
fn lookup(name: &str) -> Option<ValueType> {
    name.strip_prefix("Custom").and_then(ValueType::from_name)
}

fn query(input: &str) -> Query {
    parse_with(input, &lookup).unwrap_or_else(|error| panic!("{input:?}: {error}"))
}

/// Whether each record matches `input`.
fn outcomes(input: &str, records: &[Attributes]) -> Vec<bool> {
    let query = query(input);
    records.iter().map(|record| query.matches(record)).collect()
}

/// Checks each query's outcomes over `records`.
fn assert_table(records: &[Attributes], table: &[(&str, &[bool])]) {
    for (input, expected) in table {
        assert_eq!(outcomes(input, records), *expected, "{input}");
    }
}

#[test]
fn keywords_compare_filter_and_test_prefixes() {
    let records = [with("CustomKeyword", "m-1"), missing()];
    assert_table(
        &records,
        &[
            ("CustomKeyword = 'm-1'", &[true, false]),
            ("CustomKeyword != 'm-1'", &[false, false]),
            ("CustomKeyword != 'x'", &[true, false]),
            ("CustomKeyword < 'n'", &[true, false]),
            ("CustomKeyword >= 'm-2'", &[false, false]),
            ("CustomKeyword BETWEEN 'm' AND 'n'", &[true, false]),
            ("CustomKeyword NOT BETWEEN 'm' AND 'n'", &[false, false]),
            ("CustomKeyword IN ('a', 'm-1')", &[true, false]),
            ("CustomKeyword NOT IN ('a')", &[true, false]),
            ("CustomKeyword STARTS_WITH 'm-'", &[true, false]),
            ("CustomKeyword NOT STARTS_WITH 'm-'", &[false, false]),
            ("NOT CustomKeyword = 'x'", &[true, false]),
            ("CustomKeyword IS NULL", &[false, true]),
            ("CustomKeyword IS NOT NULL", &[true, false]),
        ],
    );
}

#[test]
fn ints_compare_with_integers_and_fractions() {
    let records = [with("CustomInt", Value::Int(3)), missing()];
    assert_table(
        &records,
        &[
            ("CustomInt = 3", &[true, false]),
            ("CustomInt != 3", &[false, false]),
            ("CustomInt > 2.5", &[true, false]),
            ("CustomInt <= 2", &[false, false]),
            ("NOT CustomInt <= 2", &[true, false]),
            ("CustomInt BETWEEN 3 AND 4", &[true, false]),
            ("CustomInt NOT BETWEEN 3 AND 4", &[false, false]),
            ("CustomInt IN (1, 3)", &[true, false]),
            ("CustomInt NOT IN (1, 3)", &[false, false]),
            ("CustomInt IS NULL", &[false, true]),
        ],
    );
}

#[test]
fn doubles_compare_numerically() {
    let records = [with("CustomDouble", Value::Float(2.5)), missing()];
    assert_table(
        &records,
        &[
            ("CustomDouble = 2.5", &[true, false]),
            ("CustomDouble != 2.5", &[false, false]),
            ("CustomDouble > 2", &[true, false]),
            ("CustomDouble < 2.5", &[false, false]),
            ("CustomDouble >= 25e-1", &[true, false]),
            ("CustomDouble BETWEEN -1 AND 2.5", &[true, false]),
            ("CustomDouble NOT BETWEEN 2.6 AND 3", &[true, false]),
            ("CustomDouble IN (2, 2.5)", &[true, false]),
            ("CustomDouble NOT IN (2, 3)", &[true, false]),
            ("CustomDouble IS NOT NULL", &[true, false]),
        ],
    );
    // Whole doubles equal the integer literal.
    assert!(query("CustomDouble = 2").matches(&with("CustomDouble", Value::Float(2.0))));
}

#[test]
fn bools_compare_for_equality() {
    let records = [
        with("CustomBool", true),
        with("CustomBool", false),
        missing(),
    ];
    assert_table(
        &records,
        &[
            ("CustomBool = true", &[true, false, false]),
            ("CustomBool = FALSE", &[false, true, false]),
            ("CustomBool = 'false'", &[false, true, false]),
            ("CustomBool != true", &[false, true, false]),
            ("NOT CustomBool = true", &[false, true, false]),
            ("CustomBool IN (true)", &[true, false, false]),
            ("CustomBool IN (true, false)", &[true, true, false]),
            ("CustomBool NOT IN (true)", &[false, true, false]),
            ("CustomBool IS NULL", &[false, false, true]),
            ("CustomBool IS NOT NULL", &[true, true, false]),
        ],
    );
}

#[test]
fn datetimes_compare_as_instants() {
    let records = [with("CustomDatetime", Value::Time(JAN_2024)), missing()];
    assert_table(
        &records,
        &[
            ("CustomDatetime = '2024-01-01T00:00:00Z'", &[true, false]),
            (
                "CustomDatetime = '2024-01-01T02:00:00+02:00'",
                &[true, false],
            ),
            ("CustomDatetime != '2024-01-01T00:00:00Z'", &[false, false]),
            ("CustomDatetime > '2023-12-31T23:59:59Z'", &[true, false]),
            ("CustomDatetime < 1704067200000000000", &[false, false]),
            (
                "CustomDatetime BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-02T00:00:00Z'",
                &[true, false],
            ),
            ("CustomDatetime IN (0, 1704067200000000000)", &[true, false]),
            ("CustomDatetime IS NULL", &[false, true]),
        ],
    );
}

#[test]
fn keyword_lists_test_membership() {
    let records = [
        with(
            "CustomKeywordList",
            Value::List(vec!["gold".into(), "eu".into()]),
        ),
        with("CustomKeywordList", Value::List(vec![])),
        missing(),
    ];
    assert_table(
        &records,
        &[
            ("CustomKeywordList = 'gold'", &[true, false, false]),
            ("CustomKeywordList = 'Gold'", &[false, false, false]),
            ("CustomKeywordList = 'go'", &[false, false, false]),
            ("CustomKeywordList != 'gold'", &[false, true, false]),
            ("CustomKeywordList != 'silver'", &[true, true, false]),
            ("NOT CustomKeywordList = 'gold'", &[false, true, false]),
            (
                "CustomKeywordList IN ('silver', 'eu')",
                &[true, false, false],
            ),
            ("CustomKeywordList IN ('silver')", &[false, false, false]),
            (
                "CustomKeywordList NOT IN ('silver', 'eu')",
                &[false, true, false],
            ),
            ("CustomKeywordList NOT IN ('silver')", &[true, true, false]),
            ("CustomKeywordList IS NULL", &[false, false, true]),
            ("CustomKeywordList IS NOT NULL", &[true, true, false]),
        ],
    );
}

#[test]
fn texts_match_any_term_case_insensitively() {
    let records = [
        with("CustomText", "Payment failed: card DECLINED"),
        with("CustomText", ""),
        missing(),
    ];
    assert_table(
        &records,
        &[
            ("CustomText = 'declined'", &[true, false, false]),
            ("CustomText = 'Payment'", &[true, false, false]),
            ("CustomText = 'refund declined'", &[true, false, false]),
            ("CustomText = 'refund'", &[false, false, false]),
            ("CustomText = 'pay'", &[false, false, false]),
            ("CustomText = 'failed: card'", &[true, false, false]),
            ("CustomText = 'card-declined'", &[true, false, false]),
            ("CustomText = 'declined-card'", &[false, false, false]),
            ("CustomText != 'refund'", &[true, true, false]),
            ("CustomText != 'card'", &[false, true, false]),
            ("NOT CustomText = 'card'", &[false, true, false]),
            ("CustomText IS NULL", &[false, false, true]),
            ("CustomText IS NOT NULL", &[true, true, false]),
        ],
    );
}

#[test]
fn missing_custom_values_follow_three_valued_logic() {
    let record = with("CustomInt", Value::Int(1));
    let matches = |input: &str| query(input).matches(&record);
    // Unknown OR true is true; unknown AND false is false, so its negation is true.
    assert!(matches("CustomBool = true OR CustomInt = 1"));
    assert!(!matches("CustomBool = true OR CustomInt = 2"));
    assert!(matches("NOT (CustomKeywordList = 'a' AND CustomInt = 2)"));
    assert!(!matches("NOT (CustomKeywordList = 'a' AND CustomInt = 1)"));
}

#[test]
fn wrongly_typed_custom_values_behave_like_missing_ones() {
    let list_as_string = with("CustomKeywordList", "gold");
    assert!(!query("CustomKeywordList = 'gold'").matches(&list_as_string));
    assert!(!query("CustomKeywordList != 'gold'").matches(&list_as_string));
    let text_as_list = with("CustomText", Value::List(vec!["fox".into()]));
    assert!(!query("CustomText = 'fox'").matches(&text_as_list));
    assert!(!query("CustomText != 'fox'").matches(&text_as_list));
    let bool_as_int = with("CustomBool", Value::Int(1));
    assert!(!query("CustomBool = true").matches(&bool_as_int));
    assert!(!query("CustomBool != true").matches(&bool_as_int));
}

#[test]
fn sorts_by_custom_attributes() {
    let mut records = [
        with("CustomBool", true),
        missing(),
        with("CustomBool", false),
    ];
    let ascending = query("ORDER BY CustomBool");
    records.sort_by(|a, b| ascending.compare(a, b));
    let flags: Vec<Value> = records
        .iter()
        .map(|record| record.field(&custom(ValueType::Bool)))
        .collect();
    assert_eq!(flags, [Value::Bool(false), Value::Bool(true), Value::Null]);

    let descending = query("ORDER BY CustomBool DESC");
    records.sort_by(|a, b| descending.compare(a, b));
    let flags: Vec<Value> = records
        .iter()
        .map(|record| record.field(&custom(ValueType::Bool)))
        .collect();
    assert_eq!(flags, [Value::Bool(true), Value::Bool(false), Value::Null]);
}

#[test]
fn later_custom_keys_break_ties() {
    let record = |double: f64, keyword: &'static str| {
        Attributes(vec![
            ("CustomDouble", Value::Float(double)),
            ("CustomKeyword", keyword.into()),
        ])
    };
    let query = query("ORDER BY CustomDouble DESC, CustomKeyword");
    assert_eq!(
        query.compare(&record(1.5, "b"), &record(1.5, "a")),
        Ordering::Greater
    );
    assert_eq!(
        query.compare(&record(2.5, "b"), &record(1.5, "a")),
        Ordering::Less
    );
}

fn custom(value_type: ValueType) -> Field {
    Field::Custom {
        name: format!("Custom{value_type}"),
        value_type,
    }
}
