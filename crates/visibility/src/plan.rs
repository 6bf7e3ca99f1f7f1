//! Which index prefixes a query reads. The prefixes always hold every run the query
//! matches (and maybe more); the filter is evaluated on each row read, so a plan only
//! decides how much is read, never what is found.

use cairn_query::{CompareOp, ExecutionStatus, Expr, Field, Query, Value, ValueType};

use crate::keys::{self, Division, Kind};

/// More prefixes than this (a long `IN` list times the statuses) read the status index.
const MAX_PREFIXES: usize = 64;

/// The prefixes of the index entries a query reads, each to be scanned in the listing's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub prefixes: Vec<Prefix>,
    /// The prefixes hold exactly the runs the filter matches: counting their entries counts
    /// the matches, without reading a row.
    pub exact: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prefix {
    pub bytes: Vec<u8>,
    /// The status of every entry under the prefix, where the prefix names one.
    pub status: Option<u8>,
}

/// The divisions a query reads: the namespace's own workflows, unless it names the division
/// that holds Temporal's own.
pub fn divisions(query: &Query) -> &'static [Division] {
    if crate::record::names_division(query) {
        &[Division::Workflows, Division::Schedulers]
    } else {
        &[Division::Workflows]
    }
}

/// The top-level conjuncts of a filter.
fn conjuncts(filter: Option<&Expr>) -> Vec<&Expr> {
    match filter {
        None => Vec::new(),
        Some(Expr::And(operands)) => operands.iter().collect(),
        Some(other) => vec![other],
    }
}

/// The values a conjunct requires a field to equal, if it is `field = v` or `field IN (...)`.
fn equality(expr: &Expr) -> Option<(&Field, Vec<&Value>)> {
    match expr {
        Expr::Compare {
            field,
            op: CompareOp::Eq,
            value,
        } => Some((field, vec![value])),
        Expr::In {
            field,
            values,
            negated: false,
        } => Some((field, values.iter().collect())),
        _ => None,
    }
}

/// The index a query's equalities can use, best first: a workflow ID names a handful of
/// runs, a custom attribute's value usually few, a type or a queue more.
fn rank(field: &Field) -> Option<u8> {
    match field {
        Field::WorkflowId => Some(0),
        Field::Custom {
            value_type: ValueType::Keyword | ValueType::Int | ValueType::Datetime,
            ..
        } => Some(1),
        Field::WorkflowType => Some(2),
        Field::TaskQueue => Some(3),
        _ => None,
    }
}

pub fn plan(namespace_id: &str, query: &Query, divisions: &[Division]) -> Plan {
    let conjuncts = conjuncts(query.filter.as_ref());
    let mut statuses: Option<Vec<u8>> = None;
    let mut best: Option<(u8, &Field, Vec<&Value>)> = None;
    let mut used = 0;
    for conjunct in &conjuncts {
        let Some((field, values)) = equality(conjunct) else {
            continue;
        };
        if *field == Field::ExecutionStatus && statuses.is_none() {
            statuses = Some(
                values
                    .iter()
                    .filter_map(|v| match v {
                        Value::Status(status) => Some(keys::status_byte(status.as_i32())),
                        _ => None,
                    })
                    .collect(),
            );
            used += 1;
        } else if let Some(rank) = rank(field)
            && best.as_ref().is_none_or(|(best, _, _)| rank < *best)
        {
            best = Some((rank, field, values));
        }
    }
    let all_statuses: Vec<u8> = ExecutionStatus::ALL
        .iter()
        .map(|s| keys::status_byte(s.as_i32()))
        .collect();
    let status_set = statuses.clone().unwrap_or_else(|| all_statuses.clone());
    let mut prefixes = Vec::new();
    let mut exact_field = true;
    if let Some((_, field, values)) = &best {
        used += 1;
        // Custom values are indexed by their JSON, a superset of what their type reads; a
        // workflow ID's entries do not hold the status.
        exact_field = !(matches!(field, Field::Custom { .. })
            || (**field == Field::WorkflowId && statuses.is_some()));
        for &division in divisions {
            for value in values {
                let mut key = match field {
                    Field::WorkflowId => {
                        keys::kind_prefix(namespace_id, division, Kind::WorkflowId)
                    }
                    Field::WorkflowType => keys::kind_prefix(namespace_id, division, Kind::Type),
                    Field::TaskQueue => keys::kind_prefix(namespace_id, division, Kind::Queue),
                    _ => keys::kind_prefix(namespace_id, division, Kind::Attribute),
                };
                match (field, value) {
                    (Field::Custom { name, .. }, value) => {
                        keys::push_lp(&mut key, name.as_bytes());
                        match keys::encode_value(value) {
                            Some(encoded) => key.extend_from_slice(&encoded),
                            // A literal the index cannot hold: nothing under it matches.
                            None => continue,
                        }
                    }
                    (_, Value::String(text)) => keys::push_lp(&mut key, text.as_bytes()),
                    _ => continue,
                }
                if **field == Field::WorkflowId {
                    prefixes.push(Prefix {
                        bytes: key,
                        status: None,
                    });
                    continue;
                }
                for &status in &status_set {
                    let mut with_status = key.clone();
                    with_status.push(status);
                    prefixes.push(Prefix {
                        bytes: with_status,
                        status: Some(status),
                    });
                }
            }
        }
    }
    if best.is_none() || prefixes.len() > MAX_PREFIXES {
        prefixes.clear();
        used = usize::from(statuses.is_some());
        exact_field = true;
        for &division in divisions {
            for &status in &status_set {
                let mut key = keys::kind_prefix(namespace_id, division, Kind::Status);
                key.push(status);
                prefixes.push(Prefix {
                    bytes: key,
                    status: Some(status),
                });
            }
        }
    }
    prefixes.sort_by(|a, b| a.bytes.cmp(&b.bytes));
    prefixes.dedup();
    // Divisions beyond the namespace's own are named by a conjunct the prefixes do not hold.
    let exact = exact_field && used == conjuncts.len() && divisions == [Division::Workflows];
    Plan { prefixes, exact }
}
