//! A hand-written recursive-descent parser: precedence `not` > `and` > `or`, left
//! associative, keywords case-insensitive, bounded nesting so hostile input cannot
//! overflow the stack.

use super::{AttrRef, CompareOp, Filter};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {position})")]
pub struct ParseError {
    pub message: String,
    pub position: usize,
}

const MAX_DEPTH: usize = 32;
const MAX_LEN: usize = 8192;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Word(String),
    Str(String),
    Num(serde_json::Number),
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$' | ':' | '.')
}

impl<'a> Lexer<'a> {
    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            message: message.into(),
            position: self.pos,
        }
    }

    fn tokens(mut self) -> Result<Vec<(usize, Tok)>, ParseError> {
        let mut out = Vec::new();
        loop {
            let rest = &self.src[self.pos..];
            let trimmed = rest.trim_start_matches([' ', '\t', '\n', '\r']);
            self.pos += rest.len() - trimmed.len();
            let Some(c) = trimmed.chars().next() else {
                return Ok(out);
            };
            let start = self.pos;
            let tok = match c {
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                '[' => Tok::LBracket,
                ']' => Tok::RBracket,
                '"' => {
                    let len = string_literal_len(trimmed)
                        .ok_or_else(|| self.err("unterminated string"))?;
                    let text = &trimmed[..len];
                    let value: String = serde_json::from_str(text)
                        .map_err(|e| self.err(format!("bad string literal: {e}")))?;
                    // Nothing stored can hold NUL (see scimgate_core::text), and PostgreSQL
                    // refuses it even as a parameter: say so instead of failing the query.
                    if value.contains('\0') {
                        return Err(self.err("a string cannot hold a NUL character (\\u0000)"));
                    }
                    self.pos += len;
                    out.push((start, Tok::Str(value)));
                    continue;
                }
                c if c == '-' || c.is_ascii_digit() => {
                    let len = trimmed
                        .find(|c: char| {
                            !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
                        })
                        .unwrap_or(trimmed.len());
                    let text = &trimmed[..len];
                    let number: serde_json::Number = serde_json::from_str(text)
                        .map_err(|_| self.err(format!("bad number {text:?}")))?;
                    self.pos += len;
                    out.push((start, Tok::Num(number)));
                    continue;
                }
                c if is_word_char(c) => {
                    let len = trimmed
                        .find(|c: char| !is_word_char(c))
                        .unwrap_or(trimmed.len());
                    self.pos += len;
                    out.push((start, Tok::Word(trimmed[..len].to_owned())));
                    continue;
                }
                other => return Err(self.err(format!("unexpected character {other:?}"))),
            };
            self.pos += 1;
            out.push((start, tok));
        }
    }
}

/// Length in bytes of the JSON string literal at the start of `s` (which begins with `"`).
fn string_literal_len(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    next: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.next).map(|(_, t)| t)
    }

    fn position(&self) -> usize {
        self.toks
            .get(self.next)
            .map(|(p, _)| *p)
            .unwrap_or(self.end)
    }

    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            message: message.into(),
            position: self.position(),
        }
    }

    fn bump(&mut self) -> Option<Tok> {
        let tok = self.toks.get(self.next).map(|(_, t)| t.clone());
        self.next += 1;
        tok
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!(
                "filter is nested more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Filter, ParseError> {
        self.joined("or", Self::and_expr, Filter::Or)
    }

    fn and_expr(&mut self) -> Result<Filter, ParseError> {
        self.joined("and", Self::unary, Filter::And)
    }

    /// `operand (keyword operand)*`, joined from the left (`a or b or c` is `(a or b) or c`).
    fn joined(
        &mut self,
        keyword: &str,
        operand: fn(&mut Self) -> Result<Filter, ParseError>,
        join: fn(Box<Filter>, Box<Filter>) -> Filter,
    ) -> Result<Filter, ParseError> {
        let mut left = operand(self)?;
        while self.peek_keyword(keyword) {
            self.bump();
            let right = operand(self)?;
            left = join(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ParseError> {
        self.enter()?;
        let result = self.unary_inner();
        self.depth -= 1;
        result
    }

    fn unary_inner(&mut self) -> Result<Filter, ParseError> {
        if self.peek_keyword("not")
            && matches!(self.toks.get(self.next + 1), Some((_, Tok::LParen)))
        {
            self.bump();
            self.bump();
            let inner = self.or_expr()?;
            self.expect(Tok::RParen, "')'")?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.bump();
            let inner = self.or_expr()?;
            self.expect(Tok::RParen, "')'")?;
            return Ok(inner);
        }
        let attr = self.attr_ref()?;
        match self.peek() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("pr") => {
                self.bump();
                Ok(Filter::Present(attr))
            }
            Some(Tok::Word(w)) if CompareOp::from_keyword(w).is_some() => {
                let op = CompareOp::from_keyword(w).ok_or_else(|| self.err("operator"))?;
                self.bump();
                let value = self.comp_value()?;
                Ok(Filter::Compare { attr, op, value })
            }
            _ if attr.filter.is_some() && attr.sub.is_none() => Ok(Filter::Has(attr)),
            Some(Tok::Word(w)) => Err(self.err(format!(
                "unknown operator {w:?}; expected eq, ne, co, sw, ew, gt, ge, lt, le or pr"
            ))),
            _ => Err(self.err(format!("expected an operator after {attr}"))),
        }
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), ParseError> {
        if self.peek() == Some(&tok) {
            self.bump();
            Ok(())
        } else {
            Err(self.err(format!("expected {what}")))
        }
    }

    fn comp_value(&mut self) -> Result<Value, ParseError> {
        match self.bump() {
            Some(Tok::Str(s)) => Ok(Value::String(s)),
            Some(Tok::Num(n)) => Ok(Value::Number(n)),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(Value::Null),
            _ => {
                self.next = self.next.saturating_sub(1);
                Err(self
                    .err("expected a value: a \"quoted string\", a number, true, false or null"))
            }
        }
    }

    fn attr_ref(&mut self) -> Result<AttrRef, ParseError> {
        let Some(Tok::Word(word)) = self.peek().cloned() else {
            return Err(self.err("expected an attribute name"));
        };
        self.bump();
        let (urn, name, sub) = split_attr_word(&word).map_err(|m| self.err(m))?;
        let mut attr = AttrRef {
            urn,
            name,
            filter: None,
            sub,
        };
        if self.peek() == Some(&Tok::LBracket) {
            if attr.sub.is_some() {
                return Err(self.err(
                    "a value filter '[...]' must follow the attribute, not its sub-attribute",
                ));
            }
            self.bump();
            self.enter()?;
            let inner = self.or_expr()?;
            self.depth -= 1;
            self.expect(Tok::RBracket, "']'")?;
            attr.filter = Some(Box::new(inner));
            if let Some(Tok::Word(w)) = self.peek().cloned() {
                if let Some(sub) = w.strip_prefix('.') {
                    check_name(sub).map_err(|m| self.err(m))?;
                    self.bump();
                    attr.sub = Some(sub.to_owned());
                }
            }
        }
        Ok(attr)
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '$');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid attribute name"))
    }
}

/// Splits `urn:…:name.sub` into its parts. The URN is everything before the last ':'.
fn split_attr_word(word: &str) -> Result<(Option<String>, String, Option<String>), String> {
    let (urn, rest) = if word.len() > 4 && word[..4].eq_ignore_ascii_case("urn:") {
        match word.rfind(':') {
            Some(i) => (Some(word[..i].to_owned()), &word[i + 1..]),
            None => (None, word),
        }
    } else {
        if word.contains(':') {
            return Err(format!("{word:?} is not a valid attribute path"));
        }
        (None, word)
    };
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    check_name(name)?;
    if let Some(sub) = sub {
        check_name(sub)?;
    }
    Ok((urn, name.to_owned(), sub.map(str::to_owned)))
}

pub fn parse_filter(src: &str) -> Result<Filter, ParseError> {
    if src.len() > MAX_LEN {
        return Err(ParseError {
            message: format!("filter is longer than {MAX_LEN} characters"),
            position: 0,
        });
    }
    let toks = Lexer { src, pos: 0 }.tokens()?;
    if toks.is_empty() {
        return Err(ParseError {
            message: "filter is empty".into(),
            position: 0,
        });
    }
    let mut parser = Parser {
        toks,
        next: 0,
        end: src.len(),
        depth: 0,
    };
    let filter = parser.or_expr()?;
    if parser.next < parser.toks.len() {
        return Err(parser.err("unexpected text after the end of the filter"));
    }
    Ok(filter)
}

/// Parses an attribute path as PATCH uses it: `attr`, `attr.sub`, `attr[filter]`,
/// `attr[filter].sub`, each optionally URN-qualified.
pub fn parse_attr_ref(src: &str) -> Result<AttrRef, ParseError> {
    if src.len() > MAX_LEN {
        return Err(ParseError {
            message: format!("path is longer than {MAX_LEN} characters"),
            position: 0,
        });
    }
    let toks = Lexer { src, pos: 0 }.tokens()?;
    let mut parser = Parser {
        toks,
        next: 0,
        end: src.len(),
        depth: 0,
    };
    let attr = parser.attr_ref()?;
    if parser.next < parser.toks.len() {
        return Err(parser.err("unexpected text after the attribute path"));
    }
    Ok(attr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cmp(name: &str, op: CompareOp, value: Value) -> Filter {
        Filter::Compare {
            attr: AttrRef::simple(name),
            op,
            value,
        }
    }

    #[test]
    fn entra_filters_parse() {
        assert_eq!(
            parse_filter(r#"userName eq "7c3a2f1e-0b4d""#).unwrap(),
            cmp("userName", CompareOp::Eq, json!("7c3a2f1e-0b4d"))
        );
        let f = parse_filter(r#"emails[type eq "work"].value eq "a@b.c""#).unwrap();
        let Filter::Compare {
            attr,
            op: CompareOp::Eq,
            value,
        } = f
        else {
            panic!("{f:?}")
        };
        assert_eq!(attr.name, "emails");
        assert_eq!(attr.sub.as_deref(), Some("value"));
        assert_eq!(
            *attr.filter.unwrap(),
            cmp("type", CompareOp::Eq, json!("work"))
        );
        assert_eq!(value, json!("a@b.c"));
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let f = parse_filter(r#"a eq 1 or b eq 2 and not (c pr)"#).unwrap();
        assert_eq!(
            f,
            Filter::Or(
                Box::new(cmp("a", CompareOp::Eq, json!(1))),
                Box::new(Filter::And(
                    Box::new(cmp("b", CompareOp::Eq, json!(2))),
                    Box::new(Filter::Not(Box::new(Filter::Present(AttrRef::simple("c")))))
                ))
            )
        );
    }

    #[test]
    fn keywords_are_case_insensitive_and_urns_split() {
        let f = parse_filter(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value EQ "x" AND active Eq TRUE"#,
        )
        .unwrap();
        let Filter::And(left, right) = f else {
            panic!()
        };
        let Filter::Compare { attr, .. } = *left else {
            panic!()
        };
        assert_eq!(
            attr.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(attr.name, "manager");
        assert_eq!(attr.sub.as_deref(), Some("value"));
        assert_eq!(*right, cmp("active", CompareOp::Eq, json!(true)));
    }

    #[test]
    fn bad_filters_say_where() {
        for bad in [
            "",
            "userName",
            "userName eq",
            "userName zz \"x\"",
            "userName eq \"x",
            "(userName eq \"x\"",
            "userName eq \"x\")",
            "userName eq x",
            "emails[type eq \"work\"",
            "a eq 1 and",
            "1abc eq 2",
            "a:b eq 1",
            "userName eq \"x\" userName",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad:?} parsed");
        }
        let deep = format!("{}a pr{}", "(".repeat(100), ")".repeat(100));
        assert!(parse_filter(&deep).unwrap_err().message.contains("nested"));
    }

    #[test]
    fn patch_paths_parse() {
        let p = parse_attr_ref(r#"members[value eq "2819c223"]"#).unwrap();
        assert_eq!(p.name, "members");
        assert!(p.filter.is_some());
        let p = parse_attr_ref("name.givenName").unwrap();
        assert_eq!(
            (p.name.as_str(), p.sub.as_deref()),
            ("name", Some("givenName"))
        );
        assert!(parse_attr_ref("name.givenName extra").is_err());
    }
}
