//! Writes queries back out in the query language, for logs and error context.
//!
//! The output is canonical: keywords upper-case, strings single-quoted, datetimes as RFC 3339
//! UTC, parentheses only where needed. Parsing it gives back an equal [`Query`].

use std::fmt::{self, Write as _};

use crate::Query;
use crate::ast::{Direction, Expr, OrderBy};
use crate::time::format_rfc3339;
use crate::value::Value;

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut separator = "";
        if let Some(filter) = &self.filter {
            write!(f, "{filter}")?;
            separator = " ";
        }
        if !self.group_by.is_empty() {
            write!(f, "{separator}GROUP BY ")?;
            write_list(f, &self.group_by)?;
            separator = " ";
        }
        if !self.order_by.is_empty() {
            write!(f, "{separator}ORDER BY ")?;
            write_list(f, &self.order_by)?;
        }
        Ok(())
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // An operand of AND needs parentheses if it is an OR, or an AND that the parser
            // would otherwise merge into this one; an operand of OR only if it is an OR.
            Expr::And(operands) => write_operands(f, operands, " AND ", |operand| {
                matches!(operand, Expr::And(_) | Expr::Or(_))
            }),
            Expr::Or(operands) => write_operands(f, operands, " OR ", |operand| {
                matches!(operand, Expr::Or(_))
            }),
            Expr::Not(inner) => match **inner {
                Expr::And(_) | Expr::Or(_) => write!(f, "NOT ({inner})"),
                _ => write!(f, "NOT {inner}"),
            },
            Expr::Compare { field, op, value } => {
                write!(f, "{field} {} {}", op.symbol(), Literal(value))
            }
            Expr::In {
                field,
                values,
                negated,
            } => {
                write!(f, "{field} {}IN (", not(*negated))?;
                for (index, value) in values.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", Literal(value))?;
                }
                f.write_char(')')
            }
            Expr::Between {
                field,
                low,
                high,
                negated,
            } => write!(
                f,
                "{field} {}BETWEEN {} AND {}",
                not(*negated),
                Literal(low),
                Literal(high)
            ),
            Expr::StartsWith {
                field,
                prefix,
                negated,
            } => {
                write!(f, "{field} {}STARTS_WITH ", not(*negated))?;
                write_string(f, prefix)
            }
            Expr::IsNull { field, negated } => write!(f, "{field} IS {}NULL", not(*negated)),
        }
    }
}

impl fmt::Display for OrderBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.direction)
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Asc => "ASC",
            Direction::Desc => "DESC",
        })
    }
}

/// A value written as a query literal.
struct Literal<'a>(&'a Value);

impl fmt::Display for Literal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Null => f.write_str("NULL"),
            Value::String(text) => write_string(f, text),
            Value::Int(int) => write!(f, "{int}"),
            // Debug output always keeps a decimal point or exponent, so it reads back as a
            // float rather than an integer.
            Value::Float(float) => write!(f, "{float:?}"),
            Value::Time(nanos) => write_string(f, &format_rfc3339(*nanos)),
            Value::Status(status) => write_string(f, status.name()),
        }
    }
}

fn not(negated: bool) -> &'static str {
    if negated { "NOT " } else { "" }
}

fn write_string(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('\'')?;
    for c in text.chars() {
        match c {
            '\'' => f.write_str("''")?,
            '\\' => f.write_str("\\\\")?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('\'')
}

fn write_operands(
    f: &mut fmt::Formatter<'_>,
    operands: &[Expr],
    separator: &str,
    needs_parentheses: impl Fn(&Expr) -> bool,
) -> fmt::Result {
    for (index, operand) in operands.iter().enumerate() {
        if index > 0 {
            f.write_str(separator)?;
        }
        if needs_parentheses(operand) {
            write!(f, "({operand})")?;
        } else {
            write!(f, "{operand}")?;
        }
    }
    Ok(())
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[impl fmt::Display]) -> fmt::Result {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}
