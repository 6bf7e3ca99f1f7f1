//! Writes queries back out in the query language, for logs and error context.
//!
//! The output is canonical: keywords upper-case, strings single-quoted, datetimes as RFC 3339
//! UTC, booleans as `TRUE` / `FALSE`, parentheses only where needed, and field names in
//! backticks only when they are not plain words. Parsing it (with [`crate::parse_with`] and
//! the same custom attributes) gives back an equal [`Query`].

use std::fmt::{self, Write as _};

use crate::Query;
use crate::ast::{Direction, Expr, OrderBy};
use crate::field::Field;
use crate::lexer::{is_word_char, is_word_start};
use crate::parser::is_reserved;
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
            let names: Vec<Name<'_>> = self.group_by.iter().map(Name).collect();
            write_list(f, &names)?;
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
                write!(f, "{} {} {}", Name(field), op.symbol(), Literal(value))
            }
            Expr::In {
                field,
                values,
                negated,
            } => {
                write!(f, "{} {}IN (", Name(field), not(*negated))?;
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
                "{} {}BETWEEN {} AND {}",
                Name(field),
                not(*negated),
                Literal(low),
                Literal(high)
            ),
            Expr::StartsWith {
                field,
                prefix,
                negated,
            } => {
                write!(f, "{} {}STARTS_WITH ", Name(field), not(*negated))?;
                write_string(f, prefix)
            }
            Expr::IsNull { field, negated } => {
                write!(f, "{} IS {}NULL", Name(field), not(*negated))
            }
        }
    }
}

impl fmt::Display for OrderBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", Name(&self.field), self.direction)
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

/// A field name as a query writes it: in backticks unless the lexer would read it back as
/// an unreserved word.
struct Name<'a>(&'a Field);

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.0.name();
        if is_plain_word(name) {
            return f.write_str(name);
        }
        f.write_char('`')?;
        for c in name.chars() {
            if c == '`' {
                f.write_char('`')?;
            }
            f.write_char(c)?;
        }
        f.write_char('`')
    }
}

/// Returns whether `name` reads back as one unreserved word.
fn is_plain_word(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_word_start) && chars.all(is_word_char) && !is_reserved(name)
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
            Value::Bool(true) => f.write_str("TRUE"),
            Value::Bool(false) => f.write_str("FALSE"),
            Value::Time(nanos) => write_string(f, &format_rfc3339(*nanos)),
            Value::Status(status) => write_string(f, status.name()),
            // Never in a parsed query; written as a parenthesised list of strings.
            Value::List(items) => {
                f.write_char('(')?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write_string(f, item)?;
                }
                f.write_char(')')
            }
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
