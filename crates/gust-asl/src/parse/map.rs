//! A Map state's own fields: its processor (`ItemProcessor` or the legacy
//! `Iterator`) and `ProcessorConfig`, the items, `ItemSelector`, `ItemReader`,
//! `MaxConcurrency`, the tolerated failures and `Label`.

use serde_json::Value;

use super::code;
use super::fields::{self, is_jsonata, Ctx, Obj};
use super::kinds::seconds;
use super::machine::{machine, Level};
use super::state::{jsonata_field, template_field, Reader};
use crate::definition::{MapState, QueryLanguage};

pub(crate) fn map(ctx: &mut Ctx, r: &Reader) -> Option<MapState> {
    r.obj.exclusive(ctx, "ItemProcessor", "Iterator");
    let key = if r.obj.has("ItemProcessor") {
        "ItemProcessor"
    } else if r.obj.has("Iterator") {
        "Iterator"
    } else {
        let message =
            "This object should have only one of the following fields: [ItemProcessor, Iterator]";
        ctx.schema(message, r.obj.here());
        return None;
    };
    let processor = r.obj.object(ctx, key).and_then(|p| {
        processor_config(ctx, &p);
        machine(ctx, &p, Level::Processor)
    });

    let items = if r.usable("ItemsPath").is_some() {
        fields::reference_path_string(ctx, &r.obj, "ItemsPath").map(Value::String)
    } else if let Some(value) = r.usable("Items") {
        let at = r.obj.at("Items");
        match value {
            Value::Array(_) => fields::jsonata_in(ctx, value, &at).then(|| value.clone()),
            Value::String(s) if is_jsonata(s) => {
                fields::jsonata_in(ctx, value, &at).then(|| value.clone())
            }
            _ => {
                ctx.schema("Expected value of type [ARRAY] or a JSONata expression", at);
                None
            }
        }
    } else {
        None
    };

    r.obj.exclusive(ctx, "ItemSelector", "Parameters");
    let item_selector = match r.ql {
        QueryLanguage::JsonPath => {
            template_field(ctx, r, "ItemSelector").or_else(|| template_field(ctx, r, "Parameters"))
        }
        QueryLanguage::Jsonata => jsonata_field(ctx, r, "ItemSelector"),
    };
    let item_reader = r.usable("ItemReader").and_then(|_| item_reader(ctx, r));
    for (field, why) in [
        ("ItemBatcher", "its Map states hand each iteration one item"),
        ("ResultWriter", "a Map state's results are its output"),
    ] {
        if r.obj.has(field) {
            ctx.schema(
                format!("gust does not support the field '{field}': {why}"),
                r.obj.at(field),
            );
        }
    }
    let max_concurrency = seconds(ctx, r, "MaxConcurrency", "MaxConcurrencyPath", 0, u64::MAX);
    let tolerated_failure_percentage = tolerated(ctx, r, "ToleratedFailurePercentage", true);
    let tolerated_failure_count = tolerated(ctx, r, "ToleratedFailureCount", false);
    if let Some(label) = r.obj.string(ctx, "Label") {
        if label.chars().count() > 40 {
            let message =
                format!("Label '{label}' exceeds the 40-character limit allowed by the service");
            ctx.error(code::INVALID_LABEL_NAME, message, r.obj.at("Label"));
        }
    }
    Some(MapState {
        processor: processor?,
        items,
        item_selector,
        item_reader,
        max_concurrency,
        tolerated_failure_percentage,
        tolerated_failure_count,
    })
}

fn processor_config(ctx: &mut Ctx, processor: &Obj) {
    let Some(config) = processor.object(ctx, "ProcessorConfig") else {
        return;
    };
    config.allow_only(ctx, &["Mode", "ExecutionType"]);
    let mode = match config.has("Mode") {
        true => config.one_of(ctx, "Mode", &["INLINE", "DISTRIBUTED"]),
        false => Some("INLINE"),
    };
    match mode {
        Some("DISTRIBUTED") if config.require(ctx, "ExecutionType") => {
            config.one_of(ctx, "ExecutionType", &["STANDARD", "EXPRESS"]);
        }
        Some(_) if config.has("ExecutionType") => {
            ctx.schema("Field 'ExecutionType' is not supported", config.here());
        }
        _ => {}
    }
}

fn item_reader(ctx: &mut Ctx, r: &Reader) -> Option<Value> {
    let reader = r.obj.object(ctx, "ItemReader")?;
    let allowed = [
        "arn:aws:states:::s3:getObject",
        "arn:aws:states:::s3:listObjectsV2",
    ];
    match reader.required_string(ctx, "Resource") {
        Some(resource) if allowed.contains(&resource) => Some(Value::Object(reader.map.clone())),
        Some(_) => {
            let message = "The field 'Resource' does not match any of the allowed values. Examples: \
                           [arn:<partition>:states:::s3:getObject, arn:<partition>:states:::s3:listObjectsV2]";
            ctx.schema(message, reader.at("Resource"));
            None
        }
        None => None,
    }
}

/// `ToleratedFailurePercentage` (0–100) or `ToleratedFailureCount` (≥ 0): a
/// number, a JSONata string, or (from the `...Path` twin) a reference path.
fn tolerated(ctx: &mut Ctx, r: &Reader, field: &str, percent: bool) -> Option<Value> {
    let path = format!("{field}Path");
    r.obj.exclusive(ctx, field, &path);
    if let Some(value) = r.usable(field) {
        let at = r.obj.at(field);
        if r.jsonata() && matches!(value, Value::String(s) if is_jsonata(s)) {
            return fields::jsonata_in(ctx, value, &at).then(|| value.clone());
        }
        let ok = if percent {
            r.obj.number(ctx, field, 0.0, Some(100.0)).is_some()
        } else {
            fields::integer_value(ctx, value, &at, 0, u64::MAX).is_some()
        };
        ok.then(|| value.clone())
    } else if r.usable(&path).is_some() {
        fields::reference_path_string(ctx, &r.obj, &path).map(Value::String)
    } else {
        None
    }
}
