//! JSONPath filter expressions, `[?(...)]`, as Jayway evaluates them.
//!
//! `@` is the node being tested, `$` the document the path runs over. A bare
//! path tests existence (`[?(@.isbn)]`); comparisons between values of
//! different types are false, and `!=` is true when a side is missing.
//!
//! # Layout
//! - [`Expr`], [`Operand`], [`Op`]: the parsed expression.
//! - `parse_expr`: reads one (called from the path parser).
//! - [`Expr::matches`]: evaluates it.
//! - `json_eq`: JSON equality with numbers compared by value (`1 == 1.0`).

use serde_json::Value;

use super::cursor::Cursor;
use super::path::{self, Function, Step};

/// A filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `a || b`.
    Or(Box<Expr>, Box<Expr>),
    /// `a && b`.
    And(Box<Expr>, Box<Expr>),
    /// `!a`.
    Not(Box<Expr>),
    /// A bare operand: a path that exists, or a literal `true`.
    Exists(Operand),
    /// `left op right`.
    Compare(Operand, Op, Operand),
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `@...`: relative to the node being tested.
    Current(Vec<Step>, Option<Function>),
    /// `$...`: relative to the document.
    Root(Vec<Step>, Option<Function>),
    /// A JSON literal (`1`, `'a'`, `true`, `null`, `[1,2]`).
    Literal(Value),
    /// `/pattern/flags`, for `=~`.
    Regex(String, String),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Matches,
    In,
    Nin,
    SubsetOf,
    AnyOf,
    NoneOf,
    Size,
    Empty,
    Contains,
}

/// Characters that end a path inside a filter.
const STOP: &[char] = &[')', ']', '=', '!', '<', '>', '~', '&', '|', ','];

/// Parses an expression up to (not including) the closing `)`.
pub(crate) fn parse_expr(c: &mut Cursor) -> Result<Expr, String> {
    let mut left = parse_and(c)?;
    loop {
        c.skip_ws();
        if !c.eat_str("||") {
            return Ok(left);
        }
        left = Expr::Or(Box::new(left), Box::new(parse_and(c)?));
    }
}

fn parse_and(c: &mut Cursor) -> Result<Expr, String> {
    let mut left = parse_unary(c)?;
    loop {
        c.skip_ws();
        if !c.eat_str("&&") {
            return Ok(left);
        }
        left = Expr::And(Box::new(left), Box::new(parse_unary(c)?));
    }
}

fn parse_unary(c: &mut Cursor) -> Result<Expr, String> {
    c.skip_ws();
    if c.rest().starts_with('!') && !c.rest().starts_with("!=") {
        c.bump();
        return Ok(Expr::Not(Box::new(parse_unary(c)?)));
    }
    if c.eat('(') {
        let e = parse_expr(c)?;
        c.skip_ws();
        c.expect(')')?;
        return Ok(e);
    }
    let left = parse_operand(c)?;
    c.skip_ws();
    let Some(op) = parse_op(c) else {
        return Ok(Expr::Exists(left));
    };
    c.skip_ws();
    let right = parse_operand(c)?;
    if op == Op::Matches && !matches!(right, Operand::Regex(..)) {
        return Err(format!(
            "'=~' needs a /regular expression/ on its right in '{}'",
            c.text
        ));
    }
    Ok(Expr::Compare(left, op, right))
}

fn parse_op(c: &mut Cursor) -> Option<Op> {
    const SYMBOLS: &[(&str, Op)] = &[
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("=~", Op::Matches),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    for (s, op) in SYMBOLS {
        if c.eat_str(s) {
            return Some(*op);
        }
    }
    const WORDS: &[(&str, Op)] = &[
        ("nin", Op::Nin),
        ("in", Op::In),
        ("subsetof", Op::SubsetOf),
        ("anyof", Op::AnyOf),
        ("noneof", Op::NoneOf),
        ("size", Op::Size),
        ("empty", Op::Empty),
        ("contains", Op::Contains),
    ];
    for (w, op) in WORDS {
        let rest = c.rest();
        if rest.starts_with(w) && rest[w.len()..].starts_with(char::is_whitespace) {
            c.pos += w.len();
            return Some(*op);
        }
    }
    None
}

fn parse_operand(c: &mut Cursor) -> Result<Operand, String> {
    match c.peek() {
        Some('@') => {
            c.bump();
            let (steps, f) = path::parse_steps(c, STOP)?;
            Ok(Operand::Current(steps, f))
        }
        Some('$') => {
            c.bump();
            let (steps, f) = path::parse_steps(c, STOP)?;
            Ok(Operand::Root(steps, f))
        }
        Some('/') => {
            c.bump();
            let mut pattern = String::new();
            loop {
                match c.bump() {
                    None => return Err(format!("unterminated regular expression in '{}'", c.text)),
                    Some('\\') if c.peek() == Some('/') => {
                        c.bump();
                        pattern.push('/');
                    }
                    Some('\\') => {
                        pattern.push('\\');
                        pattern.extend(c.bump());
                    }
                    Some('/') => break,
                    Some(ch) => pattern.push(ch),
                }
            }
            let flags = c.take_while(|ch| ch.is_ascii_alphabetic());
            regex(&pattern, &flags)?;
            Ok(Operand::Regex(pattern, flags))
        }
        Some(_) => parse_literal(c).map(Operand::Literal),
        None => Err(format!(
            "a filter expression ends too early in '{}'",
            c.text
        )),
    }
}

fn parse_literal(c: &mut Cursor) -> Result<Value, String> {
    c.skip_ws();
    match c.peek() {
        Some('\'' | '"') => Ok(Value::String(c.quoted()?)),
        Some('[') => {
            c.bump();
            let mut items = Vec::new();
            c.skip_ws();
            if !c.eat(']') {
                loop {
                    items.push(parse_literal(c)?);
                    c.skip_ws();
                    if c.eat(']') {
                        break;
                    }
                    c.expect(',')?;
                }
            }
            Ok(Value::Array(items))
        }
        Some('{') => {
            c.bump();
            let mut members = serde_json::Map::new();
            c.skip_ws();
            if !c.eat('}') {
                loop {
                    c.skip_ws();
                    let key = c.quoted()?;
                    c.skip_ws();
                    c.expect(':')?;
                    members.insert(key, parse_literal(c)?);
                    c.skip_ws();
                    if c.eat('}') {
                        break;
                    }
                    c.expect(',')?;
                }
            }
            Ok(Value::Object(members))
        }
        _ => {
            let word =
                c.take_while(|ch| ch.is_alphanumeric() || matches!(ch, '-' | '+' | '.' | '_'));
            match word.as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                "null" => Ok(Value::Null),
                _ => serde_json::from_str::<serde_json::Number>(&word)
                    .map(Value::Number)
                    .map_err(|_| format!("'{word}' is not a value (a number, 'string', true, false, null, [list] or {{object}}) in '{}'", c.text)),
            }
        }
    }
}

/// A regular expression that must match a whole string, as Java's `matches()`.
fn regex(pattern: &str, flags: &str) -> Result<regress::Regex, String> {
    regress::Regex::with_flags(&format!("^(?:{pattern})$"), flags)
        .map_err(|e| format!("invalid regular expression /{pattern}/: {e}"))
}

impl Expr {
    /// Whether `node` passes the filter; `root` is what `$` means.
    pub fn matches(&self, node: &Value, root: &Value) -> bool {
        match self {
            Expr::Or(a, b) => a.matches(node, root) || b.matches(node, root),
            Expr::And(a, b) => a.matches(node, root) && b.matches(node, root),
            Expr::Not(a) => !a.matches(node, root),
            Expr::Exists(Operand::Literal(v)) => v == &Value::Bool(true),
            Expr::Exists(o) => o.value(node, root).is_some(),
            Expr::Compare(l, op, r) => compare(l.value(node, root), *op, r, node, root),
        }
    }
}

impl Operand {
    fn value(&self, node: &Value, root: &Value) -> Option<Value> {
        let (steps, f, start) = match self {
            Operand::Current(s, f) => (s, f, node),
            Operand::Root(s, f) => (s, f, root),
            Operand::Literal(v) => return Some(v.clone()),
            Operand::Regex(..) => return None,
        };
        let mut out = Vec::new();
        path::select(steps, start, root, &mut out);
        let v = if path::definite(steps) {
            out.first().map(|v| (*v).clone())?
        } else {
            Value::Array(out.into_iter().cloned().collect())
        };
        match f {
            None => Some(v),
            Some(f) => path::apply_function(*f, &v).ok(),
        }
    }
}

fn compare(left: Option<Value>, op: Op, right: &Operand, node: &Value, root: &Value) -> bool {
    if let (Op::Matches, Operand::Regex(p, flags)) = (op, right) {
        return match left {
            Some(Value::String(s)) => regex(p, flags).is_ok_and(|re| re.find(&s).is_some()),
            _ => false,
        };
    }
    let right = right.value(node, root);
    if op == Op::Ne {
        return !matches!((&left, &right), (Some(a), Some(b)) if json_eq(a, b));
    }
    if op == Op::Nin {
        return !matches!((&left, &right), (Some(a), Some(Value::Array(b))) if b.iter().any(|x| json_eq(a, x)));
    }
    let (Some(l), Some(r)) = (left, right) else {
        return false;
    };
    let in_list = |x: &Value, list: &[Value]| list.iter().any(|y| json_eq(x, y));
    match op {
        Op::Eq => json_eq(&l, &r),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let ord = match (&l, &r) {
                (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
                (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                _ => None,
            };
            ord.is_some_and(|o| match op {
                Op::Lt => o.is_lt(),
                Op::Le => o.is_le(),
                Op::Gt => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        Op::In => matches!(&r, Value::Array(list) if in_list(&l, list)),
        Op::SubsetOf => {
            matches!((&l, &r), (Value::Array(a), Value::Array(b)) if a.iter().all(|x| in_list(x, b)))
        }
        Op::AnyOf => {
            matches!((&l, &r), (Value::Array(a), Value::Array(b)) if a.iter().any(|x| in_list(x, b)))
        }
        Op::NoneOf => {
            matches!((&l, &r), (Value::Array(a), Value::Array(b)) if !a.iter().any(|x| in_list(x, b)))
        }
        Op::Size => {
            let len = match &l {
                Value::Array(a) => a.len(),
                Value::String(s) => s.chars().count(),
                _ => return false,
            };
            r.as_f64() == Some(len as f64)
        }
        Op::Empty => {
            let empty = match &l {
                Value::Array(a) => a.is_empty(),
                Value::String(s) => s.is_empty(),
                _ => return false,
            };
            r == Value::Bool(empty)
        }
        Op::Contains => match (&l, &r) {
            (Value::String(a), Value::String(b)) => a.contains(b.as_str()),
            (Value::Array(a), b) => in_list(b, a),
            _ => false,
        },
        Op::Ne | Op::Nin | Op::Matches => unreachable!("handled above"),
    }
}

/// JSON equality, numbers compared by value.
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}
