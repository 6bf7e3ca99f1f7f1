//! Recursive-descent parser from tokens to a [`Query`].
//!
//! ```text
//! query     := [or_expr] [GROUP BY field {, field}] [ORDER BY field [ASC|DESC] {, ...}]
//! or_expr   := and_expr {OR and_expr}
//! and_expr  := not_expr {AND not_expr}
//! not_expr  := NOT not_expr | predicate
//! predicate := ( or_expr )
//!            | field (= | != | <> | < | <= | > | >=) value
//!            | field [NOT] IN ( value {, value} )
//!            | field [NOT] BETWEEN value AND value
//!            | field [NOT] STARTS_WITH string
//!            | field IS [NOT] NULL
//! value     := string | [+|-] number | TRUE | FALSE
//! ```
//!
//! Keywords are case-insensitive; field names are not. A field name is a system attribute if
//! there is one by that name, else a custom attribute if the caller's lookup knows it. The
//! operators and `ORDER BY` are checked against the field's type: ordering comparisons and
//! `BETWEEN` need an ordered type, `IN` is not for `Text`, `STARTS_WITH` is for keywords other
//! than `ExecutionStatus`, and `Text` and `KeywordList` cannot be sorted. `AND` binds tighter
//! than `OR`, and `NOT` tighter than both, as in SQL. Parentheses and `NOT` may nest at most
//! [`MAX_DEPTH`] levels, which bounds the recursion here and in evaluation.

use crate::Query;
use crate::ast::{CompareOp, Direction, Expr, OrderBy};
use crate::error::QueryError;
use crate::field::{Field, ValueType};
use crate::lexer::{Token, TokenKind, tokenize};
use crate::literal::{self, Literal};
use crate::value::Value;

/// How deeply parentheses and `NOT` may nest.
pub const MAX_DEPTH: usize = 100;

/// Words that cannot be unquoted field names, so that misplaced SQL reads as a syntax error
/// rather than an unknown search attribute. Backticks still allow them as names.
const RESERVED: &[&str] = &[
    "AND",
    "ASC",
    "BETWEEN",
    "BY",
    "DESC",
    "ESCAPE",
    "FALSE",
    "FROM",
    "GROUP",
    "HAVING",
    "IN",
    "IS",
    "LIKE",
    "LIMIT",
    "NOT",
    "NULL",
    "OFFSET",
    "OR",
    "ORDER",
    "REGEXP",
    "RLIKE",
    "SELECT",
    "STARTS_WITH",
    "TRUE",
    "WHERE",
    "XOR",
];

/// Looks up the type of a custom search attribute by name.
pub(crate) type CustomLookup<'a> = &'a dyn Fn(&str) -> Option<ValueType>;

pub(crate) fn parse_query(input: &str, custom: CustomLookup<'_>) -> Result<Query, QueryError> {
    let tokens = tokenize(input)?;
    Parser {
        tokens,
        index: 0,
        depth: 0,
        custom,
    }
    .query()
}

struct Parser<'a> {
    tokens: Vec<Token>,
    index: usize,
    depth: usize,
    custom: CustomLookup<'a>,
}

/// Returns whether `word` is reserved, so that it cannot be an unquoted field name.
pub(crate) fn is_reserved(word: &str) -> bool {
    RESERVED
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(word))
}

fn syntax_error(token: &Token, expected: &'static str) -> QueryError {
    QueryError::Syntax {
        position: token.position,
        expected,
        found: token.kind.to_string(),
    }
}

fn unsupported_operator(operator: &'static str, field: &Field) -> QueryError {
    QueryError::UnsupportedOperator {
        operator,
        field: field.clone(),
    }
}

/// Returns `negated_form` when `negated`, else `plain`.
fn operator_name(negated: bool, plain: &'static str, negated_form: &'static str) -> &'static str {
    if negated { negated_form } else { plain }
}

/// Rejects `<`, `<=`, `>` and `>=` on a field whose type has no order.
fn check_comparison(field: &Field, op: CompareOp) -> Result<(), QueryError> {
    let equality = matches!(op, CompareOp::Eq | CompareOp::Ne);
    if equality || field.value_type().is_ordered() {
        Ok(())
    } else {
        Err(unsupported_operator(op.symbol(), field))
    }
}

/// Rejects `ORDER BY` on a field whose type cannot be sorted.
fn check_sortable(field: &Field) -> Result<(), QueryError> {
    if field.value_type().is_sortable() {
        Ok(())
    } else {
        Err(QueryError::Unsupported {
            construct: format!(
                "'ORDER BY' on search attribute {field} of type {}",
                field.value_type()
            ),
        })
    }
}

/// Returns the single operand as is, or several combined with `combine`.
fn flatten(mut operands: Vec<Expr>, combine: fn(Vec<Expr>) -> Expr) -> Expr {
    if operands.len() == 1 {
        operands.swap_remove(0)
    } else {
        combine(operands)
    }
}

impl Parser<'_> {
    fn peek(&self) -> &TokenKind {
        &self.tokens[self.index].kind
    }

    fn peek_second(&self) -> &TokenKind {
        self.tokens
            .get(self.index + 1)
            .map_or(&TokenKind::End, |token| &token.kind)
    }

    /// Consumes and returns the next token; at the end it keeps returning `End`.
    fn advance(&mut self) -> Token {
        let token = self.tokens[self.index].clone();
        if token.kind != TokenKind::End {
            self.index += 1;
        }
        token
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.peek().is_keyword(keyword);
        if found {
            self.index += 1;
        }
        found
    }

    fn eat(&mut self, kind: &TokenKind) -> bool {
        let found = self.peek() == kind;
        if found {
            self.index += 1;
        }
        found
    }

    fn expect(&mut self, kind: &TokenKind, expected: &'static str) -> Result<(), QueryError> {
        if self.eat(kind) {
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    fn expect_keyword(&mut self, keyword: &str, expected: &'static str) -> Result<(), QueryError> {
        if self.eat_keyword(keyword) {
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    /// A syntax error at the next token.
    fn error(&self, expected: &'static str) -> QueryError {
        syntax_error(&self.tokens[self.index], expected)
    }

    /// Runs `parse` one nesting level deeper, failing past [`MAX_DEPTH`].
    fn nested<T>(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<T, QueryError>,
    ) -> Result<T, QueryError> {
        if self.depth >= MAX_DEPTH {
            return Err(QueryError::TooDeep { limit: MAX_DEPTH });
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
    }

    fn query(mut self) -> Result<Query, QueryError> {
        let mut query = Query::default();
        let mut expected = "a filter, GROUP BY or ORDER BY";
        let starts_with_clause = self.peek().is_keyword("GROUP") || self.peek().is_keyword("ORDER");
        if !starts_with_clause && *self.peek() != TokenKind::End {
            query.filter = Some(self.or_expr()?);
            expected = "AND, OR, GROUP BY, ORDER BY or end of query";
        }
        if self.eat_keyword("GROUP") {
            self.expect_keyword("BY", "BY after GROUP")?;
            query.group_by = self.group_by()?;
            expected = "ORDER BY or end of query";
        }
        if self.eat_keyword("ORDER") {
            self.expect_keyword("BY", "BY after ORDER")?;
            query.order_by = self.order_by()?;
            expected = "`,` or end of query";
        }
        if !query.group_by.is_empty() && !query.order_by.is_empty() {
            return Err(QueryError::Unsupported {
                construct: "'ORDER BY' together with 'GROUP BY'".to_owned(),
            });
        }
        for clause in ["LIMIT", "OFFSET", "HAVING"] {
            if self.peek().is_keyword(clause) {
                return Err(QueryError::Unsupported {
                    construct: format!("'{clause}' clause"),
                });
            }
        }
        if *self.peek() != TokenKind::End {
            return Err(self.error(expected));
        }
        Ok(query)
    }

    fn or_expr(&mut self) -> Result<Expr, QueryError> {
        let mut operands = vec![self.and_expr()?];
        while self.eat_keyword("OR") {
            operands.push(self.and_expr()?);
        }
        Ok(flatten(operands, Expr::Or))
    }

    fn and_expr(&mut self) -> Result<Expr, QueryError> {
        let mut operands = vec![self.not_expr()?];
        while self.eat_keyword("AND") {
            operands.push(self.not_expr()?);
        }
        Ok(flatten(operands, Expr::And))
    }

    fn not_expr(&mut self) -> Result<Expr, QueryError> {
        if self.eat_keyword("NOT") {
            let inner = self.nested(Self::not_expr)?;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, QueryError> {
        if self.eat(&TokenKind::LeftParen) {
            let inner = self.nested(Self::or_expr)?;
            self.expect(&TokenKind::RightParen, "`)`, AND or OR")?;
            return Ok(inner);
        }
        let field = self.field("a search attribute name, NOT or `(`")?;
        self.condition(field)
    }

    fn field(&mut self, expected: &'static str) -> Result<Field, QueryError> {
        let name = match self.peek() {
            TokenKind::QuotedName(name) => name.clone(),
            TokenKind::Word(word) if !is_reserved(word) => {
                if *self.peek_second() == TokenKind::LeftParen {
                    return Err(QueryError::Unsupported {
                        construct: format!("function {word}()"),
                    });
                }
                word.clone()
            }
            _ => return Err(self.error(expected)),
        };
        self.index += 1;
        self.resolve(name)
    }

    /// Looks `name` up among the system attributes, then among the custom ones.
    fn resolve(&self, name: String) -> Result<Field, QueryError> {
        if let Some(field) = Field::from_name(&name) {
            return Ok(field);
        }
        match (self.custom)(&name) {
            Some(value_type) => Ok(Field::Custom { name, value_type }),
            None => Err(QueryError::UnknownSearchAttribute { name }),
        }
    }

    /// Parses what follows a field name in a predicate.
    fn condition(&mut self, field: Field) -> Result<Expr, QueryError> {
        let token = self.advance();
        if let TokenKind::Op(op) = token.kind {
            check_comparison(&field, op)?;
            let value = self.value(&field)?;
            return Ok(Expr::Compare { field, op, value });
        }
        let mut negated = false;
        let mut operator = token;
        if operator.kind.is_keyword("NOT") {
            negated = true;
            operator = self.advance();
        }
        let keyword = match &operator.kind {
            TokenKind::Word(word) => word.to_ascii_uppercase(),
            _ => String::new(),
        };
        match (keyword.as_str(), negated) {
            ("IN", _) => self.in_list(field, negated),
            ("BETWEEN", _) => self.between(field, negated),
            ("STARTS_WITH", _) => self.starts_with(field, negated),
            ("IS", false) => {
                let negated = self.eat_keyword("NOT");
                self.expect_keyword("NULL", "NULL or NOT NULL after IS")?;
                Ok(Expr::IsNull { field, negated })
            }
            ("LIKE", false) => Err(QueryError::UnsupportedOperator {
                operator: "LIKE",
                field,
            }),
            ("LIKE", true) => Err(QueryError::UnsupportedOperator {
                operator: "NOT LIKE",
                field,
            }),
            ("REGEXP" | "RLIKE", _) => Err(QueryError::UnsupportedOperator {
                operator: "REGEXP",
                field,
            }),
            (_, true) => Err(syntax_error(
                &operator,
                "IN, BETWEEN or STARTS_WITH after NOT",
            )),
            (_, false) => Err(syntax_error(&operator, "a comparison operator")),
        }
    }

    fn in_list(&mut self, field: Field, negated: bool) -> Result<Expr, QueryError> {
        if field.value_type() == ValueType::Text {
            let operator = operator_name(negated, "IN", "NOT IN");
            return Err(unsupported_operator(operator, &field));
        }
        self.expect(&TokenKind::LeftParen, "`(` after IN")?;
        let mut values = vec![self.value(&field)?];
        while self.eat(&TokenKind::Comma) {
            values.push(self.value(&field)?);
        }
        self.expect(&TokenKind::RightParen, "`,` or `)`")?;
        Ok(Expr::In {
            field,
            values,
            negated,
        })
    }

    fn between(&mut self, field: Field, negated: bool) -> Result<Expr, QueryError> {
        if !field.value_type().is_ordered() {
            let operator = operator_name(negated, "BETWEEN", "NOT BETWEEN");
            return Err(unsupported_operator(operator, &field));
        }
        let low = self.value(&field)?;
        self.expect_keyword("AND", "AND between the BETWEEN bounds")?;
        let high = self.value(&field)?;
        Ok(Expr::Between {
            field,
            low,
            high,
            negated,
        })
    }

    fn starts_with(&mut self, field: Field, negated: bool) -> Result<Expr, QueryError> {
        if field.value_type() != ValueType::Keyword || field == Field::ExecutionStatus {
            let operator = operator_name(negated, "STARTS_WITH", "NOT STARTS_WITH");
            return Err(unsupported_operator(operator, &field));
        }
        match self.literal()? {
            Literal::Str(prefix) => Ok(Expr::StartsWith {
                field,
                prefix,
                negated,
            }),
            other => Err(QueryError::InvalidValue {
                field,
                value: other.to_string(),
            }),
        }
    }

    fn value(&mut self, field: &Field) -> Result<Value, QueryError> {
        let literal = self.literal()?;
        literal::coerce(field, literal)
    }

    fn literal(&mut self) -> Result<Literal, QueryError> {
        let token = self.advance();
        match &token.kind {
            TokenKind::Str(text) => Ok(Literal::Str(text.clone())),
            TokenKind::Number(text) => literal::number(text, false),
            TokenKind::Plus | TokenKind::Minus => {
                let number = self.advance();
                match &number.kind {
                    TokenKind::Number(text) => {
                        literal::number(text, token.kind == TokenKind::Minus)
                    }
                    _ => Err(syntax_error(&number, "a number after the sign")),
                }
            }
            kind if kind.is_keyword("TRUE") => Ok(Literal::Bool(true)),
            kind if kind.is_keyword("FALSE") => Ok(Literal::Bool(false)),
            kind if kind.is_keyword("NULL") => Err(QueryError::Unsupported {
                construct: "comparing with NULL (use IS NULL or IS NOT NULL)".to_owned(),
            }),
            TokenKind::Word(word) if !is_reserved(word) => {
                if *self.peek() == TokenKind::LeftParen {
                    return Err(QueryError::Unsupported {
                        construct: format!("function {word}()"),
                    });
                }
                Err(QueryError::UnquotedValue { name: word.clone() })
            }
            TokenKind::QuotedName(name) => Err(QueryError::UnquotedValue {
                name: format!("`{name}`"),
            }),
            _ => Err(syntax_error(&token, "a value")),
        }
    }

    fn group_by(&mut self) -> Result<Vec<Field>, QueryError> {
        let field = self.field("a search attribute name")?;
        if self.peek() == &TokenKind::Comma {
            return Err(QueryError::Unsupported {
                construct: "'GROUP BY' with more than one search attribute".to_owned(),
            });
        }
        if field != Field::ExecutionStatus {
            return Err(QueryError::UnsupportedGroupBy { field });
        }
        Ok(vec![field])
    }

    fn order_by(&mut self) -> Result<Vec<OrderBy>, QueryError> {
        let mut keys = Vec::new();
        loop {
            let field = self.field("a search attribute name")?;
            check_sortable(&field)?;
            let direction = if self.eat_keyword("DESC") {
                Direction::Desc
            } else {
                self.eat_keyword("ASC");
                Direction::Asc
            };
            keys.push(OrderBy { field, direction });
            if !self.eat(&TokenKind::Comma) {
                return Ok(keys);
            }
        }
    }
}

#[cfg(test)]
mod custom_tests;
#[cfg(test)]
mod rejection_tests;
#[cfg(test)]
mod tests;
