//! Step Functions' JSONPath dialect: Jayway JsonPath, which Step Functions runs,
//! rooted at the state input (`$`), the context object (`$$`) or a workflow
//! variable (`$name`).
//!
//! A *definite* path (only `.name`, `['name']` and `[n]` steps) selects one value
//! or fails with Jayway's message (`No results for path: $['foo']`); any other
//! path (wildcards, slices, unions, filters, `..`) selects an array of every
//! match, possibly empty. A trailing function (`.length()`, `.sum()`, ...)
//! applies to what the path before it selected.
//!
//! # Layout
//! - [`Path`]: a parsed path; [`Path::parse`] is also the create-time check.
//! - [`Path::find`] against one document, [`resolve`] against a [`Scope`].
//! - [`Miss`]: why a definite path selected nothing, worded as Jayway words it.
//! - [`Function`]: the trailing functions, in `path/function.rs`.
//! - Filter expressions (`[?(...)]`) are in [`super::filter`].

use serde_json::{Map, Value};

pub use function::Function;

use super::cursor::Cursor;
use super::filter::Expr;
use super::Scope;

pub(crate) use function::apply_function;

/// What a path starts from.
#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    /// `$`: the state's input.
    Input,
    /// `$$`: the context object.
    Context,
    /// `$name`: a workflow variable.
    Variable(String),
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `.x` or `[x]`: applies to the current node.
    Child(Selector),
    /// `..x`: applies to the current node and every node below it.
    Descendant(Selector),
}

/// What a step picks out of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// `.name` / `['name']`.
    Name(String),
    /// `['a','b']`: at the end of a path, an object of those members.
    Names(Vec<String>),
    /// `[n]` (negative counts from the end).
    Index(i64),
    /// `[0,2]`.
    Indices(Vec<i64>),
    /// `[start:end:step]`.
    Slice(Option<i64>, Option<i64>, Option<i64>),
    /// `*` / `[*]`.
    Wildcard,
    /// `[?(...)]`.
    Filter(Box<Expr>),
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// The text as written, for error messages.
    pub text: String,
    /// Where it starts.
    pub root: Root,
    /// Its steps, in order.
    pub steps: Vec<Step>,
    /// A trailing function, if any.
    pub function: Option<Function>,
}

/// Why a definite path selected nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Miss {
    /// The last step found nothing: `No results for path: $['a']['b']`.
    NoResults(String),
    /// A step before the last found nothing: `Missing property in path $['a']`.
    MissingProperty(String),
    /// A member was asked of something that is not an object.
    NotAnObject {
        property: String,
        at: String,
        found: &'static str,
    },
    /// An index was asked of something that is not an array.
    NotAnArray { index: i64, context: String },
    /// `$name` names no variable in scope.
    UnknownVariable(String),
    /// A function could not be applied.
    Function(String),
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Miss::NoResults(p) => write!(f, "No results for path: {p}"),
            Miss::MissingProperty(p) => write!(f, "Missing property in path {p}"),
            Miss::NotAnObject { property, at, found } => write!(
                f,
                "Expected to find an object with property ['{property}'] in path {at} but found '{found}'"
            ),
            Miss::NotAnArray { index, context } => {
                write!(f, "Filter: [{index}] can only be applied to arrays. Current context is: {context}")
            }
            Miss::UnknownVariable(v) => write!(f, "The variable '${v}' is not defined"),
            Miss::Function(m) => f.write_str(m),
        }
    }
}

impl Path {
    /// Parses a whole path; the error says what is wrong and where.
    pub fn parse(text: &str) -> Result<Path, String> {
        let mut c = Cursor::new(text);
        let root = parse_root(&mut c)?;
        let (steps, function) = parse_steps(&mut c, &[])?;
        if !c.done() {
            return Err(format!(
                "unexpected '{}' at position {} of '{text}'",
                c.peek_char(),
                c.pos
            ));
        }
        Ok(Path {
            text: text.to_string(),
            root,
            steps,
            function,
        })
    }

    /// True when only `.name`, `['name']` and `[n]` steps are used, so the path
    /// names at most one node (a Jayway "definite" path). Trailing `['a','b']`
    /// counts, as it makes one object.
    pub fn is_definite(&self) -> bool {
        definite(&self.steps)
    }

    /// True for a reference path: definite, no function, no union.
    pub fn is_reference(&self) -> bool {
        self.function.is_none()
            && self
                .steps
                .iter()
                .all(|s| matches!(s, Step::Child(Selector::Name(_) | Selector::Index(_))))
    }

    /// Evaluates against `doc` (what the root stands for).
    pub fn find(&self, doc: &Value) -> Result<Value, Miss> {
        let selected = if self.is_definite() {
            find_definite(&self.steps, doc, &self.prefix())?
        } else {
            let mut out = Vec::new();
            select(&self.steps, doc, doc, &mut out);
            Value::Array(out.into_iter().cloned().collect())
        };
        match self.function {
            None => Ok(selected),
            Some(f) => apply_function(f, &selected).map_err(Miss::Function),
        }
    }

    /// `$`, `$$` or `$name`: how Jayway-style normalized paths start.
    fn prefix(&self) -> String {
        match &self.root {
            Root::Input => "$".into(),
            Root::Context => "$$".into(),
            Root::Variable(v) => format!("${v}"),
        }
    }
}

/// Parses and evaluates `text` against the scope's input, context or variables.
pub fn resolve(path: &Path, scope: &Scope) -> Result<Value, Miss> {
    match &path.root {
        Root::Input => path.find(scope.input),
        Root::Context => path.find(scope.context),
        Root::Variable(v) => match scope.variables.get(v) {
            Some(value) => path.find(value),
            None => Err(Miss::UnknownVariable(v.clone())),
        },
    }
}

pub(crate) fn definite(steps: &[Step]) -> bool {
    let n = steps.len();
    steps.iter().enumerate().all(|(i, s)| match s {
        Step::Child(Selector::Name(_) | Selector::Index(_)) => true,
        Step::Child(Selector::Names(_)) => i + 1 == n,
        _ => false,
    })
}

fn find_definite(steps: &[Step], doc: &Value, prefix: &str) -> Result<Value, Miss> {
    let mut node = doc;
    let mut at = prefix.to_string();
    for (i, step) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        match step {
            Step::Child(Selector::Name(name)) => {
                let Value::Object(map) = node else {
                    return Err(Miss::NotAnObject {
                        property: name.clone(),
                        at,
                        found: type_name(node),
                    });
                };
                at.push_str(&format!("['{name}']"));
                match map.get(name) {
                    Some(v) => node = v,
                    None if last => return Err(Miss::NoResults(at)),
                    None => return Err(Miss::MissingProperty(at)),
                }
            }
            Step::Child(Selector::Index(index)) => {
                let Value::Array(items) = node else {
                    return Err(Miss::NotAnArray {
                        index: *index,
                        context: node.to_string(),
                    });
                };
                at.push_str(&format!("[{index}]"));
                match normalize_index(*index, items.len()).and_then(|i| items.get(i)) {
                    Some(v) => node = v,
                    None => return Err(Miss::NoResults(at)),
                }
            }
            Step::Child(Selector::Names(names)) => {
                let Value::Object(map) = node else {
                    return Err(Miss::NotAnObject {
                        property: names.join("','"),
                        at,
                        found: type_name(node),
                    });
                };
                let picked: Map<String, Value> = names
                    .iter()
                    .filter_map(|n| map.get(n).map(|v| (n.clone(), v.clone())))
                    .collect();
                return Ok(Value::Object(picked));
            }
            _ => unreachable!("find_definite is only called for definite paths"),
        }
    }
    Ok(node.clone())
}

/// Every node `steps` selects from `node`, in document order; `root` is what
/// `$` means inside filters.
pub(crate) fn select<'v>(
    steps: &[Step],
    node: &'v Value,
    root: &'v Value,
    out: &mut Vec<&'v Value>,
) {
    let Some((step, rest)) = steps.split_first() else {
        out.push(node);
        return;
    };
    match step {
        Step::Child(sel) => {
            let mut picked = Vec::new();
            apply_selector(sel, node, root, &mut picked);
            for p in picked {
                select(rest, p, root, out);
            }
        }
        Step::Descendant(sel) => {
            let mut visit = vec![node];
            while let Some(n) = visit.pop() {
                let mut picked = Vec::new();
                apply_selector(sel, n, root, &mut picked);
                for p in picked {
                    select(rest, p, root, out);
                }
                // Children pushed in reverse so they are visited in order.
                match n {
                    Value::Object(map) => visit.extend(map.values().rev()),
                    Value::Array(items) => visit.extend(items.iter().rev()),
                    _ => {}
                }
            }
        }
    }
}

fn apply_selector<'v>(sel: &Selector, node: &'v Value, root: &'v Value, out: &mut Vec<&'v Value>) {
    match (sel, node) {
        (Selector::Name(name), Value::Object(map)) => out.extend(map.get(name)),
        (Selector::Names(names), Value::Object(map)) => {
            out.extend(names.iter().filter_map(|n| map.get(n)))
        }
        (Selector::Index(i), Value::Array(items)) => {
            out.extend(normalize_index(*i, items.len()).and_then(|i| items.get(i)))
        }
        (Selector::Indices(is), Value::Array(items)) => out.extend(
            is.iter()
                .filter_map(|i| normalize_index(*i, items.len()).and_then(|i| items.get(i))),
        ),
        (Selector::Slice(start, end, step), Value::Array(items)) => {
            for i in slice_indices(items.len(), *start, *end, *step) {
                out.push(&items[i]);
            }
        }
        (Selector::Wildcard, Value::Object(map)) => out.extend(map.values()),
        (Selector::Wildcard, Value::Array(items)) => out.extend(items.iter()),
        (Selector::Filter(expr), Value::Array(items)) => {
            out.extend(items.iter().filter(|item| expr.matches(item, root)))
        }
        // Jayway applies a filter on an object to the object itself.
        (Selector::Filter(expr), Value::Object(_)) if expr.matches(node, root) => out.push(node),
        _ => {}
    }
}

fn normalize_index(i: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if i < 0 { len + i } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

fn slice_indices(
    len: usize,
    start: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
) -> Vec<usize> {
    let len = len as i64;
    let step = step.unwrap_or(1);
    let clamp = |v: i64, lo: i64, hi: i64| v.clamp(lo, hi);
    let norm = |v: i64| if v < 0 { v + len } else { v };
    let mut out = Vec::new();
    if step > 0 {
        let (mut i, end) = (
            clamp(norm(start.unwrap_or(0)), 0, len),
            clamp(norm(end.unwrap_or(len)), 0, len),
        );
        while i < end {
            out.push(i as usize);
            i += step;
        }
    } else if step < 0 {
        let mut i = clamp(norm(start.unwrap_or(len - 1)), -1, len - 1);
        let end = end.map(|e| clamp(norm(e), -1, len - 1)).unwrap_or(-1);
        while i > end {
            out.push(i as usize);
            i += step;
        }
    }
    out
}

/// JSON's name for a value's type, for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn parse_root(c: &mut Cursor) -> Result<Root, String> {
    if !c.eat('$') {
        return Err(format!("a path must start with '$': '{}'", c.text));
    }
    if c.eat('$') {
        return Ok(Root::Context);
    }
    if c.peek().is_some_and(|ch| ch.is_alphabetic() || ch == '_') {
        let start = c.pos;
        while c.peek().is_some_and(|ch| ch.is_alphanumeric() || ch == '_') {
            c.bump();
        }
        return Ok(Root::Variable(c.text[start..c.pos].to_string()));
    }
    Ok(Root::Input)
}

/// Reads steps (and a trailing function) until the cursor is done or at one of
/// `stop` (used inside filters, where `)` or an operator ends a path).
pub(crate) fn parse_steps(
    c: &mut Cursor,
    stop: &[char],
) -> Result<(Vec<Step>, Option<Function>), String> {
    let mut steps = Vec::new();
    loop {
        match c.peek() {
            None => break,
            Some(ch) if stop.contains(&ch) || ch.is_whitespace() && !stop.is_empty() => break,
            Some('.') => {
                c.bump();
                let descendant = c.eat('.');
                if c.peek() == Some('[') {
                    let sel = parse_bracket(c)?;
                    steps.push(if descendant {
                        Step::Descendant(sel)
                    } else {
                        Step::Child(sel)
                    });
                    continue;
                }
                if c.eat('*') {
                    steps.push(if descendant {
                        Step::Descendant(Selector::Wildcard)
                    } else {
                        Step::Child(Selector::Wildcard)
                    });
                    continue;
                }
                let name = c.take_while(|ch| {
                    !matches!(ch, '.' | '[' | ']' | '(' | ')')
                        && !stop.contains(&ch)
                        && !ch.is_whitespace()
                });
                if name.is_empty() {
                    return Err(format!(
                        "a property name is missing at position {} of '{}'",
                        c.pos, c.text
                    ));
                }
                if c.eat('(') {
                    if descendant || !c.eat(')') {
                        return Err(format!(
                            "'{name}(' must be a function call like {name}() at the end of '{}'",
                            c.text
                        ));
                    }
                    let f = function_named(&name).ok_or_else(|| {
                        format!("unknown path function '{name}()' in '{}'", c.text)
                    })?;
                    let at_end = c.done()
                        || c.peek()
                            .is_some_and(|ch| stop.contains(&ch) || ch.is_whitespace());
                    if !at_end {
                        return Err(format!("a function must end the path: '{}'", c.text));
                    }
                    return Ok((steps, Some(f)));
                }
                steps.push(if descendant {
                    Step::Descendant(Selector::Name(name))
                } else {
                    Step::Child(Selector::Name(name))
                });
            }
            Some('[') => steps.push(Step::Child(parse_bracket(c)?)),
            Some(ch) if stop.is_empty() && ch.is_whitespace() => {
                return Err(format!(
                    "use bracket notation ['my prop'] for names with blanks: '{}'",
                    c.text
                ))
            }
            Some(ch) => {
                return Err(format!(
                    "unexpected '{ch}' at position {} of '{}'",
                    c.pos, c.text
                ))
            }
        }
    }
    Ok((steps, None))
}

fn function_named(name: &str) -> Option<Function> {
    Some(match name {
        "length" | "size" => Function::Length,
        "min" => Function::Min,
        "max" => Function::Max,
        "avg" => Function::Avg,
        "sum" => Function::Sum,
        "stddev" => Function::Stddev,
        "keys" => Function::Keys,
        "first" => Function::First,
        "last" => Function::Last,
        _ => return None,
    })
}

fn parse_bracket(c: &mut Cursor) -> Result<Selector, String> {
    c.expect('[')?;
    c.skip_ws();
    let sel = match c.peek() {
        Some('*') => {
            c.bump();
            Selector::Wildcard
        }
        Some('?') => {
            c.bump();
            c.skip_ws();
            c.expect('(')?;
            let expr = super::filter::parse_expr(c)?;
            c.skip_ws();
            c.expect(')')?;
            Selector::Filter(Box::new(expr))
        }
        Some('\'' | '"') => {
            let mut names = vec![c.quoted()?];
            loop {
                c.skip_ws();
                if !c.eat(',') {
                    break;
                }
                c.skip_ws();
                names.push(c.quoted()?);
            }
            if names.len() == 1 {
                Selector::Name(names.remove(0))
            } else {
                Selector::Names(names)
            }
        }
        _ => parse_index_or_slice(c)?,
    };
    c.skip_ws();
    c.expect(']')?;
    Ok(sel)
}

fn parse_index_or_slice(c: &mut Cursor) -> Result<Selector, String> {
    let first = c.integer();
    c.skip_ws();
    if c.peek() == Some(':') {
        let mut parts = vec![first];
        while c.eat(':') {
            c.skip_ws();
            parts.push(c.integer());
            c.skip_ws();
        }
        if parts.len() > 3 {
            return Err(format!("a slice has at most three parts: '{}'", c.text));
        }
        return Ok(Selector::Slice(
            parts[0],
            parts[1],
            parts.get(2).copied().flatten(),
        ));
    }
    let Some(first) = first else {
        return Err(format!(
            "expected an index, a quoted name, '*' or '?(' at position {} of '{}'",
            c.pos, c.text
        ));
    };
    let mut indices = vec![first];
    while c.eat(',') {
        c.skip_ws();
        indices.push(
            c.integer().ok_or_else(|| {
                format!("expected an index at position {} of '{}'", c.pos, c.text)
            })?,
        );
        c.skip_ws();
    }
    Ok(if indices.len() == 1 {
        Selector::Index(first)
    } else {
        Selector::Indices(indices)
    })
}

mod function;
#[cfg(test)]
mod tests;
