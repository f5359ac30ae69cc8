//! Each state type's own fields: Task (and the resources gust runs), Pass,
//! Choice, Wait, Fail and Parallel (Map has `map`).

use serde_json::Value;

use super::code;
use super::fields::{self, is_jsonata, Ctx, Obj};
use super::machine::{machine, Level, MAX_SECONDS};
use super::state::{assign_field, language_message, Reader, Type};
use crate::definition::{
    ChoiceRule, FailField, QueryLanguage, Resource, Seconds, StateKind, Task, WaitFor,
};
use crate::eval;

/// A Task's timeout when it gives none: AWS's default, 99,999,999 seconds.
pub const DEFAULT_TASK_TIMEOUT_SECONDS: u64 = 99_999_999;

/// The type's own part of a state.
pub(crate) fn kind(ctx: &mut Ctx, r: &Reader) -> Option<StateKind> {
    match r.ty {
        Type::Pass => Some(StateKind::Pass {
            result: pass_result(ctx, r),
        }),
        Type::Task => task(ctx, r).map(StateKind::Task),
        Type::Choice => choice(ctx, r),
        Type::Wait => wait(ctx, r).map(StateKind::Wait),
        Type::Succeed => Some(StateKind::Succeed),
        Type::Fail => Some(StateKind::Fail {
            error: fail_field(ctx, r, "Error", "ErrorPath"),
            cause: fail_field(ctx, r, "Cause", "CausePath"),
        }),
        Type::Parallel => parallel(ctx, r),
        Type::Map => super::map::map(ctx, r).map(|m| StateKind::Map(Box::new(m))),
    }
}

fn pass_result(ctx: &mut Ctx, r: &Reader) -> Option<Value> {
    let result = r.usable("Result")?;
    if let Some(key) = dollar_key(result) {
        let message = format!(
            "The key '{key}' of a Pass state's 'Result' is not evaluated: 'Result' is static (use 'Parameters' to select from the input)"
        );
        ctx.warn(code::PASS_RESULT_IS_STATIC, message, r.obj.at("Result"));
    }
    Some(result.clone())
}

/// A key ending in `.$` anywhere inside `value`.
fn dollar_key(value: &Value) -> Option<&str> {
    match value {
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.ends_with(".$") {
                Some(k.as_str())
            } else {
                dollar_key(v)
            }
        }),
        Value::Array(items) => items.iter().find_map(dollar_key),
        _ => None,
    }
}

fn task(ctx: &mut Ctx, r: &Reader) -> Option<Task> {
    let resource = r
        .obj
        .required_string(ctx, "Resource")
        .and_then(|arn| match resource(arn) {
            Ok(resource) => Some(resource),
            Err(message) => {
                ctx.schema(message, r.obj.at("Resource"));
                None
            }
        });
    let timeout = seconds(
        ctx,
        r,
        "TimeoutSeconds",
        "TimeoutSecondsPath",
        1,
        MAX_SECONDS,
    );
    let heartbeat = seconds(
        ctx,
        r,
        "HeartbeatSeconds",
        "HeartbeatSecondsPath",
        1,
        MAX_SECONDS,
    );
    if let (Some(Seconds::Fixed(t)), Some(Seconds::Fixed(h))) = (&timeout, &heartbeat) {
        if h >= t {
            let message = "The value of 'HeartbeatSeconds' must be smaller than the value of 'TimeoutSeconds'";
            ctx.schema(message, r.obj.at("HeartbeatSeconds"));
        }
    }
    let credentials = r.usable("Credentials").and_then(|v| {
        let ok = match v {
            Value::Object(map) => map.contains_key("RoleArn") || map.contains_key("RoleArn.$"),
            _ => false,
        };
        if !ok {
            ctx.schema(
                "The field 'RoleArn' is required but was missing",
                r.obj.at("Credentials"),
            );
        }
        ok.then(|| v.clone())
    });
    Some(Task {
        resource: resource?,
        timeout: timeout.or(Some(Seconds::Fixed(DEFAULT_TASK_TIMEOUT_SECONDS))),
        heartbeat,
        credentials,
    })
}

/// A count of seconds (or of anything, `min..=max`) written as a literal, a
/// JSONata string, or a reference path in its `...Path` twin.
pub(crate) fn seconds(
    ctx: &mut Ctx,
    r: &Reader,
    fixed: &str,
    path: &str,
    min: u64,
    max: u64,
) -> Option<Seconds> {
    r.obj.exclusive(ctx, fixed, path);
    if let Some(value) = r.usable(fixed) {
        if r.jsonata() {
            if let Value::String(s) = value {
                if is_jsonata(s) {
                    let ok = fields::jsonata_in(ctx, value, &r.obj.at(fixed));
                    return ok.then(|| Seconds::Path(s.clone()));
                }
            }
        }
        fields::integer_value(ctx, value, &r.obj.at(fixed), min, max).map(Seconds::Fixed)
    } else if r.usable(path).is_some() {
        fields::reference_path_string(ctx, &r.obj, path).map(Seconds::Path)
    } else {
        None
    }
}

/// What gust runs, named in every refusal.
const GUST_RESOURCES: &str = "gust runs Lambda functions (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]), \
arn:aws:states:::lambda:invoke, arn:aws:states:::lambda:invoke.waitForTaskToken and arn:aws:states:::aws-sdk:s3:ACTION";

/// A Task's `Resource`, resolved, or the message saying why not.
pub(crate) fn resource(arn: &str) -> Result<Resource, String> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 6 || parts[0] != "arn" || !parts[1].starts_with("aws") {
        return Err("Value is not a valid resource ARN".to_owned());
    }
    let unsupported = || format!("The resource provided {arn} is not recognized: {GUST_RESOURCES}");
    match parts[2] {
        "lambda" if is_function_arn(&parts) => Ok(Resource::Function { arn: arn.to_owned() }),
        "lambda" => Err(format!(
            "Value is not a valid resource ARN: a Lambda function ARN is arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER], not {arn}"
        )),
        // Service integrations are written without region and account; definitions
        // exported from a console carry them (`arn:aws:states:us-east-1:123...:...`),
        // which names the same integration.
        "states" if parts[3].is_empty() == parts[4].is_empty() => match parts[5..].join(":").as_str() {
            "lambda:invoke" => Ok(Resource::LambdaInvoke { wait_for_token: false }),
            "lambda:invoke.waitForTaskToken" => Ok(Resource::LambdaInvoke { wait_for_token: true }),
            rest => match rest.strip_prefix("aws-sdk:s3:") {
                Some(action) if is_sdk_action(action) => Ok(Resource::S3 {
                    action: action.to_owned(),
                }),
                _ => Err(unsupported()),
            },
        },
        _ => Err(unsupported()),
    }
}

fn is_function_arn(parts: &[&str]) -> bool {
    let word = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    let region = parts[3];
    (7..=8).contains(&parts.len())
        && !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5] == "function"
        && word(parts[6], 64)
        && parts.get(7).is_none_or(|q| *q == "$LATEST" || word(q, 128))
}

fn is_sdk_action(action: &str) -> bool {
    let mut chars = action.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

fn choice(ctx: &mut Ctx, r: &Reader) -> Option<StateKind> {
    let default = r.obj.string(ctx, "Default").map(str::to_owned);
    if !r.obj.require(ctx, "Choices") {
        return None;
    }
    let items = r.obj.array(ctx, "Choices")?;
    let at = r.obj.at("Choices");
    if items.is_empty() {
        ctx.schema("Value cannot be empty", at.clone());
    }
    let mut choices = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let loc = format!("{at}[{i}]");
        match item {
            Value::Object(map) => choices.extend(choice_rule(ctx, r.ql, &Obj::new(map, loc))),
            _ => ctx.schema("Expected value of type [OBJECT]", loc),
        }
    }
    Some(StateKind::Choice { choices, default })
}

/// One top-level Choice rule: the rule without `Next`, `Assign`, `Output`
/// and `Comment`, which are the rule's own.
fn choice_rule(ctx: &mut Ctx, ql: QueryLanguage, rule: &Obj) -> Option<ChoiceRule> {
    let next = rule.required_string(ctx, "Next");
    rule.string(ctx, "Comment");
    let assign = rule
        .get("Assign")
        .and_then(|v| assign_field(ctx, v, &rule.at("Assign"), ql));
    let mut body = rule.map.clone();
    for own in ["Next", "Assign", "Output", "Comment"] {
        body.remove(own);
    }
    let mut output = None;
    match ql {
        QueryLanguage::JsonPath => {
            if rule.has("Output") {
                ctx.schema(language_message(ql, "Output"), rule.here());
            }
            if rule.has("Condition") {
                ctx.schema(language_message(ql, "Condition"), rule.here());
            } else if let Err((inner, message)) =
                eval::check_choice_rule(&Value::Object(body.clone()))
            {
                ctx.schema(message, fields::join_loc(&rule.loc, &inner));
            }
        }
        QueryLanguage::Jsonata => {
            for key in body.keys().filter(|k| *k != "Condition") {
                ctx.schema(language_message(ql, key), rule.here());
            }
            body.retain(|k, _| k == "Condition");
            if rule.require(ctx, "Condition") {
                match &body["Condition"] {
                    Value::Bool(_) => {}
                    v @ Value::String(s) if is_jsonata(s) => {
                        fields::jsonata_in(ctx, v, &rule.at("Condition"));
                    }
                    _ => ctx.schema(
                        "The field 'Condition' must be a JSONata expression ({% ... %}) or a boolean",
                        rule.at("Condition"),
                    ),
                }
            }
            output = rule
                .get("Output")
                .and_then(|v| fields::jsonata_in(ctx, v, &rule.at("Output")).then(|| v.clone()));
        }
    }
    Some(ChoiceRule {
        rule: Value::Object(body),
        next: next?.to_owned(),
        assign,
        output,
    })
}

const WAIT_FIELDS: [&str; 4] = ["SecondsPath", "Seconds", "TimestampPath", "Timestamp"];

fn wait(ctx: &mut Ctx, r: &Reader) -> Option<WaitFor> {
    let present = WAIT_FIELDS.iter().filter(|f| r.obj.has(f)).count();
    let list = WAIT_FIELDS.join(", ");
    if present > 1 {
        let message = format!("There should only be one of the following fields: [{list}]");
        ctx.schema(message, r.obj.here());
        return None;
    }
    if present == 0 {
        let message = format!("This object should have only one of the following fields: [{list}]");
        ctx.schema(message, r.obj.here());
        return None;
    }
    if let Some(value) = r.usable("Seconds") {
        let at = r.obj.at("Seconds");
        if r.jsonata() && matches!(value, Value::String(s) if is_jsonata(s)) {
            return fields::jsonata_in(ctx, value, &at).then(|| WaitFor::Seconds(value.clone()));
        }
        return fields::integer_value(ctx, value, &at, 0, MAX_SECONDS)
            .map(|n| WaitFor::Seconds(Value::from(n)));
    }
    if let Some(value) = r.usable("Timestamp") {
        let at = r.obj.at("Timestamp");
        return match value {
            Value::String(s) if r.jsonata() && is_jsonata(s) => {
                fields::jsonata_in(ctx, value, &at).then(|| WaitFor::Timestamp(value.clone()))
            }
            Value::String(s) if is_rfc3339(s) => Some(WaitFor::Timestamp(value.clone())),
            Value::String(_) => {
                ctx.schema("String does not match RFC3339 timestamp", at);
                None
            }
            _ => {
                ctx.schema("Expected value of type [STRING]", at);
                None
            }
        };
    }
    if r.usable("SecondsPath").is_some() {
        return fields::reference_path_string(ctx, &r.obj, "SecondsPath").map(WaitFor::SecondsPath);
    }
    if r.usable("TimestampPath").is_some() {
        return fields::reference_path_string(ctx, &r.obj, "TimestampPath")
            .map(WaitFor::TimestampPath);
    }
    None
}

/// RFC 3339 as Step Functions wants it: `2026-01-31T23:59:59(.sss)(Z|±hh:mm)`,
/// uppercase `T` and `Z`.
pub(crate) fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(part).ok()?.parse().ok())?
    };
    let date_time = (|| {
        let (month, day) = (num(5, 2)?, num(8, 2)?);
        let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
        num(0, 4)?;
        let punctuation = b.get(4) == Some(&b'-')
            && b.get(7) == Some(&b'-')
            && b.get(10) == Some(&b'T')
            && b.get(13) == Some(&b':')
            && b.get(16) == Some(&b':');
        let ranges = (1..=12).contains(&month)
            && (1..=31).contains(&day)
            && hour < 24
            && minute < 60
            && second <= 60;
        Some(punctuation && ranges)
    })();
    if date_time != Some(true) {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        i += 1 + digits;
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            b.len() == i + 6
                && b[i + 3] == b':'
                && num(i + 1, 2).is_some_and(|h| h < 24)
                && num(i + 4, 2).is_some_and(|m| m < 60)
        }
        _ => false,
    }
}

fn fail_field(ctx: &mut Ctx, r: &Reader, literal: &str, path: &str) -> Option<FailField> {
    r.obj.exclusive(ctx, literal, path);
    if let Some(value) = r.usable(literal) {
        let Value::String(s) = value else {
            ctx.schema("Expected value of type [STRING]", r.obj.at(literal));
            return None;
        };
        if r.jsonata() && is_jsonata(s) {
            fields::jsonata_in(ctx, value, &r.obj.at(literal));
        } else if !r.jsonata() && fields::looks_like_path(s) {
            let message = format!("The value of the field '{literal}' looks like a path, but the field name does not end with 'Path'");
            ctx.warn(code::NO_PATH, message, r.obj.at(literal));
        }
        Some(FailField::Literal(s.clone()))
    } else if r.usable(path).is_some() {
        fields::path_or_intrinsic(ctx, &r.obj, path).map(FailField::Path)
    } else {
        None
    }
}

fn parallel(ctx: &mut Ctx, r: &Reader) -> Option<StateKind> {
    if !r.obj.require(ctx, "Branches") {
        return None;
    }
    let items = r.obj.array(ctx, "Branches")?;
    if items.is_empty() {
        ctx.schema("Value cannot be empty", r.obj.at("Branches"));
    }
    let mut branches = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let loc = format!("{}/Branches[{i}]", r.obj.loc);
        match item {
            Value::Object(map) => match machine(ctx, &Obj::new(map, loc), Level::Branch) {
                Some(branch) => branches.push(branch),
                None => ok = false,
            },
            _ => {
                ctx.schema("Expected value of type [OBJECT]", loc);
                ok = false;
            }
        }
    }
    ok.then_some(StateKind::Parallel { branches })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_gust_runs() {
        assert_eq!(
            resource("arn:aws:states:us-east-1:123456789012:aws-sdk:s3:getObject"),
            Ok(Resource::S3 {
                action: "getObject".into()
            })
        );
        let f = "arn:aws:lambda:us-east-1:123456789012:function:hello";
        assert_eq!(resource(f), Ok(Resource::Function { arn: f.into() }));
        let q = "arn:aws:lambda:eu-west-3:000000000000:function:hello-world_2:$LATEST";
        assert!(matches!(resource(q), Ok(Resource::Function { .. })));
        assert!(matches!(
            resource(&format!("{f}:live")),
            Ok(Resource::Function { .. })
        ));
        assert_eq!(
            resource("arn:aws:states:::lambda:invoke"),
            Ok(Resource::LambdaInvoke {
                wait_for_token: false
            })
        );
        assert_eq!(
            resource("arn:aws:states:::lambda:invoke.waitForTaskToken"),
            Ok(Resource::LambdaInvoke {
                wait_for_token: true
            })
        );
        assert_eq!(
            resource("arn:aws:states:::aws-sdk:s3:getObject"),
            Ok(Resource::S3 {
                action: "getObject".into()
            })
        );
    }

    #[test]
    fn other_resources_are_refused_with_what_gust_runs() {
        for arn in [
            "arn:aws:states:::sqs:sendMessage",
            "arn:aws:states:::lambda:invoke.sync",
            "arn:aws:states:us-east-1:123456789012:activity:work",
            "arn:aws:states:::aws-sdk:dynamodb:getItem",
            "arn:aws:states:::aws-sdk:s3:getObject.waitForTaskToken",
        ] {
            let message = resource(arn).unwrap_err();
            assert!(
                message.contains(arn) && message.contains("gust runs Lambda functions"),
                "{message}"
            );
        }
        for bad in [
            "hello",
            "arn:aws:lambda:us-east-1:123:function:hello",
            "arn:aws:lambda:us-east-1:123456789012:function:",
            "arn:aws:lambda:us-east-1:123456789012:layer:x",
        ] {
            assert!(
                resource(bad)
                    .unwrap_err()
                    .starts_with("Value is not a valid resource ARN"),
                "{bad}"
            );
        }
    }

    #[test]
    fn rfc3339_timestamps() {
        for ok in [
            "2026-03-14T01:59:00Z",
            "2026-03-14T01:59:00.123Z",
            "2016-03-14T01:59:00+02:00",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2026-03-14 01:59:00Z",
            "2026-03-14t01:59:00Z",
            "2026-13-14T01:59:00Z",
            "2026-03-14T01:59:00",
            "2026-03-14T01:59:00.Z",
            "2026-03-14T01:59:00+0200",
            "yesterday",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
