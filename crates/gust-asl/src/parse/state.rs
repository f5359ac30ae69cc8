//! What every state shares: its type, its language, the fields its type
//! accepts, `Next`/`End`, the paths and templates, `Assign`, `Retry`, `Catch`.

use serde_json::Value;

use super::code;
use super::fields::{self, Ctx, Obj};
use super::kinds;
use super::machine::MAX_SECONDS;
use crate::definition::{Catcher, QueryLanguage, Retrier, State};
use crate::errors;

/// A state's `Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Task,
    Pass,
    Choice,
    Wait,
    Succeed,
    Fail,
    Parallel,
    Map,
}

const TYPE_NAMES: [&str; 8] = [
    "Choice", "Fail", "Map", "Parallel", "Pass", "Succeed", "Task", "Wait",
];

impl Type {
    fn from_name(name: &str) -> Option<Type> {
        Some(match name {
            "Task" => Type::Task,
            "Pass" => Type::Pass,
            "Choice" => Type::Choice,
            "Wait" => Type::Wait,
            "Succeed" => Type::Succeed,
            "Fail" => Type::Fail,
            "Parallel" => Type::Parallel,
            "Map" => Type::Map,
            _ => return None,
        })
    }

    /// The fields this type accepts besides `Type`, `Comment` and
    /// `QueryLanguage` (AWS's table, measured with ValidateStateMachineDefinition).
    fn fields(self) -> &'static [&'static str] {
        match self {
            Type::Pass => &[
                "InputPath",
                "OutputPath",
                "Result",
                "ResultPath",
                "Parameters",
                "Output",
                "Assign",
                "Next",
                "End",
            ],
            Type::Task => &[
                "InputPath",
                "OutputPath",
                "ResultPath",
                "Parameters",
                "Arguments",
                "Output",
                "Assign",
                "Resource",
                "Credentials",
                "ResultSelector",
                "Retry",
                "Catch",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
                "Next",
                "End",
            ],
            Type::Wait => &[
                "InputPath",
                "OutputPath",
                "Output",
                "Assign",
                "Seconds",
                "Timestamp",
                "SecondsPath",
                "TimestampPath",
                "Next",
                "End",
            ],
            Type::Parallel => &[
                "InputPath",
                "OutputPath",
                "ResultPath",
                "Parameters",
                "Arguments",
                "Output",
                "Assign",
                "ResultSelector",
                "Retry",
                "Catch",
                "Branches",
                "Next",
                "End",
            ],
            Type::Map => &[
                "InputPath",
                "OutputPath",
                "ResultPath",
                "Parameters",
                "Output",
                "Assign",
                "ResultSelector",
                "Retry",
                "Catch",
                "ItemProcessor",
                "Iterator",
                "ItemsPath",
                "Items",
                "ItemSelector",
                "ItemReader",
                "ItemBatcher",
                "ResultWriter",
                "MaxConcurrency",
                "MaxConcurrencyPath",
                "ToleratedFailurePercentage",
                "ToleratedFailurePercentagePath",
                "ToleratedFailureCount",
                "ToleratedFailureCountPath",
                "Label",
                "Next",
                "End",
            ],
            Type::Choice => &[
                "InputPath",
                "OutputPath",
                "Output",
                "Assign",
                "Choices",
                "Default",
            ],
            Type::Succeed => &["InputPath", "OutputPath", "Output"],
            Type::Fail => &["Error", "Cause", "ErrorPath", "CausePath"],
        }
    }

    fn has_next_or_end(self) -> bool {
        !matches!(self, Type::Choice | Type::Succeed | Type::Fail)
    }
}

/// Fields only JSONPath states may have (the first ten measured on AWS; the
/// other `*Path` fields follow the same rule by AWS's JSONata guide).
const JSONPATH_ONLY: &[&str] = &[
    "InputPath",
    "OutputPath",
    "ResultPath",
    "ResultSelector",
    "Parameters",
    "Result",
    "ItemsPath",
    "MaxConcurrencyPath",
    "ErrorPath",
    "CausePath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "SecondsPath",
    "TimestampPath",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCountPath",
];

/// Fields only JSONata states may have (`Assign` is in both).
const JSONATA_ONLY: &[&str] = &["Output", "Arguments", "Items"];

fn language_allows(ql: QueryLanguage, field: &str) -> bool {
    match ql {
        QueryLanguage::JsonPath => !JSONATA_ONLY.contains(&field),
        QueryLanguage::Jsonata => !JSONPATH_ONLY.contains(&field),
    }
}

/// AWS's message for a field of the other language.
pub(crate) fn language_message(ql: QueryLanguage, field: &str) -> String {
    let (is, only) = match ql {
        QueryLanguage::JsonPath => ("JSONPath", "JSONata"),
        QueryLanguage::Jsonata => ("JSONata", "JSONPath"),
    };
    format!("The QueryLanguage is set to '{is}', but field '{field}' is only supported for the '{only}' QueryLanguage")
}

/// A `QueryLanguage` value. As AWS measures it, only the exact `JSONPath` means
/// JSONPath: anything else present means JSONata, and is reported when it is
/// not one of the two names.
pub(crate) fn language_of(ctx: &mut Ctx, value: &Value, loc: &str) -> QueryLanguage {
    match value.as_str() {
        Some("JSONPath") => return QueryLanguage::JsonPath,
        Some("JSONata") => {}
        Some(_) => ctx.schema(
            "Value should be one of the following: [JSONPath, JSONata]",
            loc,
        ),
        None => ctx.schema("Expected value of type [STRING]", loc),
    }
    QueryLanguage::Jsonata
}

/// One state being read: its object, type and effective language.
pub(crate) struct Reader<'a> {
    pub obj: Obj<'a>,
    pub ty: Type,
    pub ql: QueryLanguage,
}

impl<'a> Reader<'a> {
    /// The field's value, when present and allowed for the type and language
    /// (refused fields were reported once already and are not read).
    pub fn usable(&self, field: &str) -> Option<&'a Value> {
        let value = self.obj.get(field)?;
        (self.ty.fields().contains(&field) && language_allows(self.ql, field)).then_some(value)
    }

    pub fn jsonata(&self) -> bool {
        self.ql == QueryLanguage::Jsonata
    }
}

/// Reads one state named `name` at `loc`.
pub(crate) fn state(ctx: &mut Ctx, name: &str, value: &Value, loc: String) -> Option<State> {
    let Value::Object(map) = value else {
        ctx.schema("Expected value of type [OBJECT]", loc);
        return None;
    };
    let obj = Obj::new(map, loc);
    if name.chars().count() > 80 {
        let message =
            format!("State name '{name}' exceeds the 80-character limit allowed by the service");
        ctx.error(code::INVALID_STATE_NAME, message, obj.here());
    }
    if !ctx.names.insert(name.to_owned()) {
        ctx.error(
            code::DUPLICATE_STATE_NAME,
            format!("Duplicate State name: {name}"),
            obj.here(),
        );
    }
    let type_name = obj.required_string(ctx, "Type")?;
    let Some(ty) = Type::from_name(type_name) else {
        obj.one_of(ctx, "Type", &TYPE_NAMES);
        return None;
    };

    let mut ql = ctx.machine_ql;
    let mut downgraded = false;
    if let Some(declared) = obj.get("QueryLanguage") {
        downgraded = ctx.machine_ql == QueryLanguage::Jsonata && declared == "JSONPath";
        if downgraded {
            let message =
                "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine";
            ctx.schema(message, obj.here());
        }
        ql = language_of(ctx, declared, &obj.at("QueryLanguage"));
    }

    let mut allowed = vec!["Type", "Comment", "QueryLanguage"];
    allowed.extend_from_slice(ty.fields());
    obj.allow_only(ctx, &allowed);
    if !downgraded {
        for field in ty.fields() {
            if obj.has(field) && !language_allows(ql, field) {
                ctx.schema(language_message(ql, field), obj.here());
            }
        }
    }

    let r = Reader { obj, ty, ql };
    let next = next_or_end(ctx, &r);
    let comment = r.obj.string(ctx, "Comment").map(str::to_owned);
    let path = |ctx: &mut Ctx, field: &str| {
        r.usable(field)
            .and_then(|v| fields::path_field(ctx, v, &r.obj.at(field), field))
    };
    let input_path = path(ctx, "InputPath");
    let output_path = path(ctx, "OutputPath");
    let result_path = r
        .usable("ResultPath")
        .and_then(|v| fields::reference_path_field(ctx, v, &r.obj.at("ResultPath"), "ResultPath"));
    let result_selector = template_field(ctx, &r, "ResultSelector");
    let parameters = match ty {
        Type::Map => None,
        _ => template_field(ctx, &r, "Parameters").or_else(|| jsonata_field(ctx, &r, "Arguments")),
    };
    let output = jsonata_field(ctx, &r, "Output");
    let assign = r
        .usable("Assign")
        .and_then(|v| assign_field(ctx, v, &r.obj.at("Assign"), ql));
    let retry = r
        .usable("Retry")
        .map_or_else(Vec::new, |v| retriers(ctx, v, &r.obj.at("Retry")));
    let catch = r
        .usable("Catch")
        .map_or_else(Vec::new, |v| catchers(ctx, v, &r.obj.at("Catch"), ql));
    let kind = kinds::kind(ctx, &r)?;

    Some(State {
        name: name.to_owned(),
        comment,
        query_language: ql,
        next,
        input_path,
        output_path,
        parameters,
        result_selector,
        result_path,
        output,
        assign,
        retry,
        catch,
        kind,
    })
}

/// `Next` xor `End: true`, for the types that move on.
fn next_or_end(ctx: &mut Ctx, r: &Reader) -> Option<String> {
    if !r.ty.has_next_or_end() {
        return None;
    }
    let end = r.obj.boolean(ctx, "End") == Some(true);
    let next = r.obj.string(ctx, "Next");
    if next.is_some() && end {
        ctx.schema(
            "There should only be one of the following fields: [Next, End]",
            r.obj.here(),
        );
    } else if !r.obj.has("Next") && !end {
        let message = "This object should have only one of the following fields: [Next, End]";
        ctx.schema(message, r.obj.here());
    }
    next.map(str::to_owned)
}

/// A JSONPath payload template field, checked.
pub(crate) fn template_field(ctx: &mut Ctx, r: &Reader, field: &str) -> Option<Value> {
    let value = r.usable(field)?;
    fields::template(ctx, value, &r.obj.at(field)).then(|| value.clone())
}

/// A JSONata field (`Output`, `Arguments`, `Items`, ...): any JSON, with its
/// `{% %}` strings checked.
pub(crate) fn jsonata_field(ctx: &mut Ctx, r: &Reader, field: &str) -> Option<Value> {
    let value = r.usable(field)?;
    fields::jsonata_in(ctx, value, &r.obj.at(field)).then(|| value.clone())
}

/// `Assign` (of a state, a Choice rule or a catcher).
pub(crate) fn assign_field(
    ctx: &mut Ctx,
    value: &Value,
    loc: &str,
    ql: QueryLanguage,
) -> Option<Value> {
    let Value::Object(map) = value else {
        ctx.schema("Expected value of type [OBJECT]", loc);
        return None;
    };
    let mut ok = true;
    for key in map.keys() {
        let name = match ql {
            QueryLanguage::JsonPath => key.strip_suffix(".$").unwrap_or(key),
            QueryLanguage::Jsonata => key,
        };
        ok &= variable_name(ctx, name, &format!("{loc}/{key}"));
    }
    ok &= match ql {
        QueryLanguage::JsonPath => fields::template(ctx, value, loc),
        QueryLanguage::Jsonata => fields::jsonata_in(ctx, value, loc),
    };
    ok.then(|| value.clone())
}

fn variable_name(ctx: &mut Ctx, name: &str, loc: &str) -> bool {
    if name == "states" {
        let message = "Cannot assign to reserved variable '$states'.";
        ctx.error(code::RESERVED_VARIABLE_NAME, message, loc);
        return false;
    }
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        let message = format!(
            "Invalid variable name '{name}': the variable name contains invalid characters."
        );
        ctx.error(code::INVALID_VARIABLE_NAME, message, loc);
    }
    valid
}

/// The entries of a `Retry` or `Catch` array, as objects with their locations.
fn entries<'a>(ctx: &mut Ctx, value: &'a Value, loc: &str) -> Vec<Obj<'a>> {
    let Value::Array(items) = value else {
        ctx.schema("Expected value of type [ARRAY]", loc);
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::Object(map) => out.push(Obj::new(map, format!("{loc}[{i}]"))),
            _ => ctx.schema("Expected value of type [OBJECT]", format!("{loc}[{i}]")),
        }
    }
    out
}

/// An entry's `ErrorEquals`: `States.ALL` must be alone, in the `last` entry.
fn error_equals(ctx: &mut Ctx, entry: &Obj, last: bool) -> Vec<String> {
    if !entry.require(ctx, "ErrorEquals") {
        return Vec::new();
    }
    let Some(items) = entry.array(ctx, "ErrorEquals") else {
        return Vec::new();
    };
    let at = entry.at("ErrorEquals");
    if items.is_empty() {
        ctx.schema("Value cannot be empty", at.clone());
    }
    let mut names = Vec::new();
    for (j, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(s) => names.push(s.to_owned()),
            None => ctx.schema("Expected value of type [STRING]", format!("{at}[{j}]")),
        }
    }
    if names.iter().any(|n| n == errors::ALL) && (names.len() > 1 || !last) {
        ctx.schema("States.ALL must appear alone and at end of list", at);
    }
    names
}

fn retriers(ctx: &mut Ctx, value: &Value, loc: &str) -> Vec<Retrier> {
    let list = entries(ctx, value, loc);
    let count = list.len();
    let mut out = Vec::new();
    for (i, r) in list.iter().enumerate() {
        r.allow_only(
            ctx,
            &[
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            ],
        );
        r.string(ctx, "Comment");
        let error_equals = error_equals(ctx, r, i + 1 == count);
        let interval_seconds = r
            .integer(ctx, "IntervalSeconds", 0, MAX_SECONDS)
            .unwrap_or(1);
        let max_attempts = r.integer(ctx, "MaxAttempts", 0, MAX_SECONDS).unwrap_or(3);
        let backoff_rate = r.number(ctx, "BackoffRate", 1.0, None).unwrap_or(2.0);
        let max_delay_seconds = r.integer(ctx, "MaxDelaySeconds", 1, 31_622_400);
        let full_jitter = r.has("JitterStrategy")
            && r.one_of(ctx, "JitterStrategy", &["NONE", "FULL"]) == Some("FULL");
        out.push(Retrier {
            error_equals,
            interval_seconds,
            max_attempts,
            backoff_rate,
            max_delay_seconds,
            full_jitter,
        });
    }
    out
}

fn catchers(ctx: &mut Ctx, value: &Value, loc: &str, ql: QueryLanguage) -> Vec<Catcher> {
    let list = entries(ctx, value, loc);
    let count = list.len();
    let mut out = Vec::new();
    for (i, c) in list.iter().enumerate() {
        c.allow_only(
            ctx,
            &[
                "ErrorEquals",
                "Next",
                "ResultPath",
                "Output",
                "Assign",
                "Comment",
            ],
        );
        c.string(ctx, "Comment");
        for field in ["ResultPath", "Output"] {
            if c.has(field) && !language_allows(ql, field) {
                ctx.schema(language_message(ql, field), c.here());
            }
        }
        let error_equals = error_equals(ctx, c, i + 1 == count);
        let next = c.required_string(ctx, "Next");
        let result_path = match ql {
            QueryLanguage::JsonPath => c.get("ResultPath").and_then(|v| {
                fields::reference_path_field(ctx, v, &c.at("ResultPath"), "ResultPath")
            }),
            QueryLanguage::Jsonata => None,
        };
        let output = match ql {
            QueryLanguage::Jsonata => c
                .get("Output")
                .and_then(|v| fields::jsonata_in(ctx, v, &c.at("Output")).then(|| v.clone())),
            QueryLanguage::JsonPath => None,
        };
        let assign = c
            .get("Assign")
            .and_then(|v| assign_field(ctx, v, &c.at("Assign"), ql));
        if let Some(next) = next {
            out.push(Catcher {
                error_equals,
                next: next.to_owned(),
                result_path,
                output,
                assign,
            });
        }
    }
    out
}
