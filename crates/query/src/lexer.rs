//! Splits a query string into tokens.
//!
//! The lexical rules follow the MySQL dialect Temporal's SQL parser speaks: strings in single
//! or double quotes, where the quote is escaped by doubling it or with a backslash; names in
//! backticks, where a backtick is escaped by doubling it; unsigned decimal numbers (signs are
//! separate tokens); and the comparison operators `=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`.

use std::fmt;

use crate::ast::CompareOp;
use crate::error::QueryError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// An unquoted name or keyword, as written.
    Word(String),
    /// A backtick-quoted name, unescaped. It is never a keyword.
    QuotedName(String),
    /// A string literal, unescaped.
    Str(String),
    /// An unsigned decimal number, as written: digits with an optional fraction and exponent.
    Number(String),
    Op(CompareOp),
    LeftParen,
    RightParen,
    Comma,
    Plus,
    Minus,
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// Byte offset of the token's first character.
    pub position: usize,
}

impl TokenKind {
    /// Returns whether this is the unquoted word `keyword`, ignoring ASCII case.
    pub fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self, TokenKind::Word(word) if word.eq_ignore_ascii_case(keyword))
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenKind::Word(word) => write!(f, "`{word}`"),
            TokenKind::QuotedName(name) => write!(f, "`{name}`"),
            TokenKind::Str(text) => write!(f, "string '{text}'"),
            TokenKind::Number(number) => write!(f, "number {number}"),
            TokenKind::Op(op) => write!(f, "`{}`", op.symbol()),
            TokenKind::LeftParen => f.write_str("`(`"),
            TokenKind::RightParen => f.write_str("`)`"),
            TokenKind::Comma => f.write_str("`,`"),
            TokenKind::Plus => f.write_str("`+`"),
            TokenKind::Minus => f.write_str("`-`"),
            TokenKind::End => f.write_str("end of query"),
        }
    }
}

/// Splits `input` into tokens, ending with a single `End` token.
pub(crate) fn tokenize(input: &str) -> Result<Vec<Token>, QueryError> {
    let mut lexer = Lexer { input, position: 0 };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let done = token.kind == TokenKind::End;
        tokens.push(token);
        if done {
            return Ok(tokens);
        }
    }
}

struct Lexer<'a> {
    input: &'a str,
    position: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.input[self.position..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.input[self.position..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let next = self.peek()?;
        self.position += next.len_utf8();
        Some(next)
    }

    fn eat(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.position += expected.len_utf8();
            true
        } else {
            false
        }
    }

    fn next_token(&mut self) -> Result<Token, QueryError> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let start = self.position;
        let Some(first) = self.bump() else {
            return Ok(Token {
                kind: TokenKind::End,
                position: start,
            });
        };
        let kind = match first {
            '(' => TokenKind::LeftParen,
            ')' => TokenKind::RightParen,
            ',' => TokenKind::Comma,
            '+' => TokenKind::Plus,
            '-' => TokenKind::Minus,
            '=' => TokenKind::Op(CompareOp::Eq),
            '!' if self.eat('=') => TokenKind::Op(CompareOp::Ne),
            '<' if self.eat('>') => TokenKind::Op(CompareOp::Ne),
            '<' if self.eat('=') => {
                if self.peek() == Some('>') {
                    return Err(QueryError::Unsupported {
                        construct: "the null-safe equality operator '<=>'".to_owned(),
                    });
                }
                TokenKind::Op(CompareOp::Le)
            }
            '<' => TokenKind::Op(CompareOp::Lt),
            '>' if self.eat('=') => TokenKind::Op(CompareOp::Ge),
            '>' => TokenKind::Op(CompareOp::Gt),
            '\'' | '"' => TokenKind::Str(self.quoted(first, start, "string literal")?),
            '`' => TokenKind::QuotedName(self.quoted('`', start, "quoted name")?),
            '0'..='9' => TokenKind::Number(self.number(start)),
            '.' if self.peek().is_some_and(|next| next.is_ascii_digit()) => {
                TokenKind::Number(self.number(start))
            }
            c if is_word_start(c) => {
                while self.peek().is_some_and(is_word_char) {
                    self.bump();
                }
                TokenKind::Word(self.input[start..self.position].to_owned())
            }
            character => {
                return Err(QueryError::UnexpectedCharacter {
                    character,
                    position: start,
                });
            }
        };
        Ok(Token {
            kind,
            position: start,
        })
    }

    /// Reads the rest of a literal opened by `quote`. Doubling the quote escapes it; in
    /// strings (not names) a backslash escapes the next character, MySQL-style.
    fn quoted(
        &mut self,
        quote: char,
        start: usize,
        what: &'static str,
    ) -> Result<String, QueryError> {
        let mut text = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(QueryError::Unterminated {
                        what,
                        position: start,
                    });
                }
                Some(c) if c == quote => {
                    if !self.eat(quote) {
                        return Ok(text);
                    }
                    text.push(quote);
                }
                Some('\\') if quote != '`' => match self.bump() {
                    None => {
                        return Err(QueryError::Unterminated {
                            what,
                            position: start,
                        });
                    }
                    Some(escaped) => text.push(unescape(escaped)),
                },
                Some(c) => text.push(c),
            }
        }
    }

    /// Reads the rest of a number whose first character is already consumed.
    fn number(&mut self, start: usize) -> String {
        self.skip_digits();
        if self.peek() == Some('.') && !self.input[start..self.position].contains('.') {
            self.bump();
            self.skip_digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let sign = matches!(self.peek_second(), Some('+' | '-'));
            let digit_at = self.position + 1 + usize::from(sign);
            if self.input[digit_at..].starts_with(|c: char| c.is_ascii_digit()) {
                self.position = digit_at;
                self.skip_digits();
            }
        }
        self.input[start..self.position].to_owned()
    }

    fn skip_digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }
}

/// Returns whether `c` may start an unquoted name or keyword.
pub(crate) fn is_word_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

/// Returns whether `c` may continue an unquoted name or keyword.
pub(crate) fn is_word_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Returns the character a backslash escape stands for; unknown escapes stand for the
/// character itself, so `\'` is a quote and `\\` a backslash.
fn unescape(escaped: char) -> char {
    match escaped {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        '0' => '\0',
        'b' => '\u{8}',
        'Z' => '\u{1a}',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<TokenKind> {
        tokenize(input)
            .unwrap()
            .into_iter()
            .map(|token| token.kind)
            .collect()
    }

    fn word(text: &str) -> TokenKind {
        TokenKind::Word(text.to_owned())
    }

    fn string(text: &str) -> TokenKind {
        TokenKind::Str(text.to_owned())
    }

    #[test]
    fn empty_input_is_just_the_end() {
        assert_eq!(kinds(""), [TokenKind::End]);
        assert_eq!(kinds(" \t\n "), [TokenKind::End]);
    }

    #[test]
    fn splits_a_comparison() {
        assert_eq!(
            kinds("WorkflowId='wf-1'"),
            [
                word("WorkflowId"),
                TokenKind::Op(CompareOp::Eq),
                string("wf-1"),
                TokenKind::End
            ]
        );
    }

    #[test]
    fn recognises_every_operator() {
        let ops = |input| kinds(input).into_iter().next().unwrap();
        assert_eq!(ops("="), TokenKind::Op(CompareOp::Eq));
        assert_eq!(ops("!="), TokenKind::Op(CompareOp::Ne));
        assert_eq!(ops("<>"), TokenKind::Op(CompareOp::Ne));
        assert_eq!(ops("<"), TokenKind::Op(CompareOp::Lt));
        assert_eq!(ops("<="), TokenKind::Op(CompareOp::Le));
        assert_eq!(ops(">"), TokenKind::Op(CompareOp::Gt));
        assert_eq!(ops(">="), TokenKind::Op(CompareOp::Ge));
        assert_eq!(kinds("(,)+-").len(), 6);
    }

    #[test]
    fn records_byte_positions() {
        let tokens = tokenize("a  = 'é' b").unwrap();
        let positions: Vec<usize> = tokens.iter().map(|token| token.position).collect();
        assert_eq!(positions, [0, 3, 5, 10, 11]);
    }

    #[test]
    fn strings_take_either_quote() {
        assert_eq!(kinds("'a b'")[0], string("a b"));
        assert_eq!(kinds("\"a b\"")[0], string("a b"));
        assert_eq!(kinds("''")[0], string(""));
        assert_eq!(kinds("'say \"hi\"'")[0], string("say \"hi\""));
    }

    #[test]
    fn quotes_escape_by_doubling_or_backslash() {
        assert_eq!(kinds("'it''s'")[0], string("it's"));
        assert_eq!(kinds(r"'it\'s'")[0], string("it's"));
        assert_eq!(kinds(r#""a""b""#)[0], string("a\"b"));
        assert_eq!(kinds(r"'a\\b'")[0], string(r"a\b"));
        assert_eq!(kinds(r"'a\nb\%'")[0], string("a\nb%"));
    }

    #[test]
    fn backticks_quote_names() {
        assert_eq!(
            kinds("`WorkflowId`")[0],
            TokenKind::QuotedName("WorkflowId".into())
        );
        assert_eq!(kinds("`a``b`")[0], TokenKind::QuotedName("a`b".into()));
        assert_eq!(kinds(r"`a\b`")[0], TokenKind::QuotedName(r"a\b".into()));
    }

    #[test]
    fn unterminated_literals_are_errors() {
        assert_eq!(
            tokenize("WorkflowId = 'abc"),
            Err(QueryError::Unterminated {
                what: "string literal",
                position: 13
            })
        );
        assert_eq!(
            tokenize(r"x = 'abc\'"),
            Err(QueryError::Unterminated {
                what: "string literal",
                position: 4
            })
        );
        assert_eq!(
            tokenize(r"x = 'abc\"),
            Err(QueryError::Unterminated {
                what: "string literal",
                position: 4
            })
        );
        assert_eq!(
            tokenize("`WorkflowId = 1"),
            Err(QueryError::Unterminated {
                what: "quoted name",
                position: 0
            })
        );
    }

    #[test]
    fn numbers_keep_their_text() {
        let number = |text: &str| TokenKind::Number(text.to_owned());
        assert_eq!(kinds("42")[0], number("42"));
        assert_eq!(kinds("4.5")[0], number("4.5"));
        assert_eq!(kinds(".5")[0], number(".5"));
        assert_eq!(kinds("1e10")[0], number("1e10"));
        assert_eq!(kinds("1.5E-3")[0], number("1.5E-3"));
        assert_eq!(kinds("1e")[..2], [number("1"), word("e")]);
        assert_eq!(
            kinds("1.2.3")[..2],
            [number("1.2"), TokenKind::Number(".3".into())]
        );
        assert_eq!(kinds("-1")[..2], [TokenKind::Minus, number("1")]);
    }

    #[test]
    fn words_allow_underscores_digits_and_unicode() {
        assert_eq!(kinds("STARTS_WITH")[0], word("STARTS_WITH"));
        assert_eq!(kinds("_a1")[0], word("_a1"));
        assert_eq!(kinds("Größe")[0], word("Größe"));
        assert!(kinds("and")[0].is_keyword("AND"));
        assert!(!TokenKind::QuotedName("and".into()).is_keyword("AND"));
    }

    #[test]
    fn stray_characters_are_errors() {
        for (input, character, position) in [
            ("a = 1;", ';', 5),
            ("a ! b", '!', 2),
            ("a.b", '.', 1),
            ("#", '#', 0),
            ("a * 2", '*', 2),
        ] {
            assert_eq!(
                tokenize(input),
                Err(QueryError::UnexpectedCharacter {
                    character,
                    position
                }),
                "{input}"
            );
        }
    }

    #[test]
    fn null_safe_equality_is_unsupported() {
        assert!(matches!(
            tokenize("a <=> 1"),
            Err(QueryError::Unsupported { .. })
        ));
    }
}
