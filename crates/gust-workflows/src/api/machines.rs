//! State machines: create, describe, list, update, delete, validate, and tags.

use std::sync::Arc;

use gust_store::workflows::MachineRecord;
use gust_store::StoreError;
use serde_json::{json, Map, Value};

use super::{optional, page, required, ApiError};
use crate::{arn, clock, Workflows};

/// The largest definition Step Functions takes (1 MiB).
const MAX_DEFINITION_BYTES: usize = 1024 * 1024;

/// The machine-level fields kept beside the definition.
fn extra_of(m: &MachineRecord) -> Map<String, Value> {
    match serde_json::from_str(&m.extra) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    }
}

fn tags_in(input: &Value) -> Result<Map<String, Value>, ApiError> {
    let mut tags = Map::new();
    let Some(list) = input.get("tags") else {
        return Ok(tags);
    };
    for tag in list.as_array().into_iter().flatten() {
        let key = tag.get("key").and_then(Value::as_str).ok_or_else(|| {
            ApiError::new("ValidationException", "every tag needs a 'key' string")
        })?;
        let value = tag.get("value").and_then(Value::as_str).unwrap_or("");
        tags.insert(key.to_string(), json!(value));
    }
    Ok(tags)
}

fn logging(extra: &Map<String, Value>) -> Value {
    extra
        .get("loggingConfiguration")
        .cloned()
        .unwrap_or_else(|| json!({ "level": "OFF", "includeExecutionData": false }))
}

fn tracing_config(extra: &Map<String, Value>) -> Value {
    extra
        .get("tracingConfiguration")
        .cloned()
        .unwrap_or_else(|| json!({ "enabled": false }))
}

impl Workflows {
    /// The machine an ARN names, or `StateMachineDoesNotExist`.
    pub(crate) fn machine_named(&self, arn_text: &str) -> Result<MachineRecord, ApiError> {
        if arn::machine_name(&self.region, arn_text).is_none() {
            return Err(super::invalid_arn(arn_text));
        }
        self.store.machine(arn_text)?.ok_or_else(|| {
            ApiError::new(
                "StateMachineDoesNotExist",
                format!("State Machine Does Not Exist: '{arn_text}'"),
            )
        })
    }

    /// Parses a definition, or answers InvalidDefinition with AWS's message.
    fn checked_definition(&self, definition: &str) -> Result<(), ApiError> {
        if definition.len() > MAX_DEFINITION_BYTES {
            return Err(ApiError::new(
                "ValidationException",
                format!(
                    "1 validation error detected: Value at 'definition' failed to satisfy \
                     constraint: Member must have length less than or equal to \
                     {MAX_DEFINITION_BYTES} (it has {})",
                    definition.len()
                ),
            ));
        }
        self.parsed(definition)
            .map(|_| ())
            .map_err(|m| ApiError::new("InvalidDefinition", m))
    }

    pub(super) fn create_machine(self: &Arc<Self>, input: &Value) -> Result<Value, ApiError> {
        let name = required(input, "name")?;
        if !arn::valid_name(name) {
            return Err(ApiError::new(
                "InvalidName",
                format!("Invalid Name: '{name}'"),
            ));
        }
        let definition = required(input, "definition")?;
        let role = required(input, "roleArn")?;
        let kind = optional(input, "type")?.unwrap_or("STANDARD");
        if kind != "STANDARD" && kind != "EXPRESS" {
            return Err(ApiError::new(
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{kind}' at 'type' failed to satisfy \
                     constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]"
                ),
            ));
        }
        self.checked_definition(definition)?;
        let mut extra = Map::new();
        for field in [
            "loggingConfiguration",
            "tracingConfiguration",
            "versionDescription",
        ] {
            if let Some(v) = input.get(field) {
                extra.insert(field.to_string(), v.clone());
            }
        }
        extra.insert("tags".into(), Value::Object(tags_in(input)?));
        let now = clock::now_ms();
        let record = MachineRecord {
            arn: arn::machine(&self.region, name),
            name: name.to_string(),
            kind: kind.to_string(),
            definition: definition.to_string(),
            role_arn: role.to_string(),
            created_ms: now,
            updated_ms: now,
            revision_id: uuid::Uuid::new_v4().to_string(),
            extra: Value::Object(extra).to_string(),
        };
        match self.store.create_machine(&record) {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                // AWS answers an identical create with the existing machine.
                let existing = self.store.machine(&record.arn)?;
                match existing {
                    Some(e)
                        if e.definition == record.definition
                            && e.role_arn == record.role_arn
                            && e.kind == record.kind =>
                    {
                        return Ok(json!({
                            "stateMachineArn": e.arn,
                            "creationDate": clock::api_time(e.created_ms),
                        }));
                    }
                    _ => {
                        return Err(ApiError::new(
                            "StateMachineAlreadyExists",
                            format!("State Machine Already Exists: '{}'", record.arn),
                        ))
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
        Ok(json!({
            "stateMachineArn": record.arn,
            "creationDate": clock::api_time(now),
        }))
    }

    pub(super) fn describe_machine(&self, input: &Value) -> Result<Value, ApiError> {
        let m = self.machine_named(required(input, "stateMachineArn")?)?;
        let extra = extra_of(&m);
        Ok(json!({
            "stateMachineArn": m.arn,
            "name": m.name,
            "status": "ACTIVE",
            "definition": m.definition,
            "roleArn": m.role_arn,
            "type": m.kind,
            "creationDate": clock::api_time(m.created_ms),
            "loggingConfiguration": logging(&extra),
            "tracingConfiguration": tracing_config(&extra),
            "revisionId": m.revision_id,
        }))
    }

    pub(super) fn list_machines(&self, input: &Value) -> Result<Value, ApiError> {
        let all = self.store.list_machines()?;
        let (items, next) = page(input, &all)?;
        let machines: Vec<Value> = items
            .iter()
            .map(|m| {
                json!({
                    "stateMachineArn": m.arn,
                    "name": m.name,
                    "type": m.kind,
                    "creationDate": clock::api_time(m.created_ms),
                })
            })
            .collect();
        let mut out = json!({ "stateMachines": machines });
        if let Some(next) = next {
            out["nextToken"] = json!(next);
        }
        Ok(out)
    }

    pub(super) fn update_machine(&self, input: &Value) -> Result<Value, ApiError> {
        let old = self.machine_named(required(input, "stateMachineArn")?)?;
        let definition = optional(input, "definition")?;
        let role = optional(input, "roleArn")?;
        let logging_in = input.get("loggingConfiguration");
        let tracing_in = input.get("tracingConfiguration");
        if definition.is_none() && role.is_none() && logging_in.is_none() && tracing_in.is_none() {
            return Err(ApiError::new(
                "MissingRequiredParameter",
                "Either the definition, the role ARN, the LoggingConfiguration, or the \
                 TracingConfiguration must be specified",
            ));
        }
        if let Some(d) = definition {
            self.checked_definition(d)?;
        }
        let mut extra = extra_of(&old);
        if let Some(l) = logging_in {
            extra.insert("loggingConfiguration".into(), l.clone());
        }
        if let Some(t) = tracing_in {
            extra.insert("tracingConfiguration".into(), t.clone());
        }
        let now = clock::now_ms();
        let new = MachineRecord {
            definition: definition.map_or(old.definition.clone(), str::to_string),
            role_arn: role.map_or(old.role_arn.clone(), str::to_string),
            updated_ms: now,
            revision_id: uuid::Uuid::new_v4().to_string(),
            extra: Value::Object(extra).to_string(),
            ..old.clone()
        };
        self.store
            .update_machine(&new, &old.revision_id)
            .map_err(|e| match e {
                StoreError::Conflict(m) => ApiError::new("ConflictException", m),
                other => other.into(),
            })?;
        Ok(json!({ "updateDate": clock::api_time(now), "revisionId": new.revision_id }))
    }

    pub(super) fn delete_machine(&self, input: &Value) -> Result<Value, ApiError> {
        let arn_text = required(input, "stateMachineArn")?;
        if arn::machine_name(&self.region, arn_text).is_none() {
            return Err(super::invalid_arn(arn_text));
        }
        // AWS answers a delete of a missing machine with success; running
        // executions go on with the definition they started with.
        self.store.delete_machine(arn_text)?;
        Ok(json!({}))
    }

    pub(super) fn validate_definition(&self, input: &Value) -> Result<Value, ApiError> {
        let definition = required(input, "definition")?;
        if definition.len() > MAX_DEFINITION_BYTES {
            // The same refusal as CreateStateMachine's.
            return self.checked_definition(definition).map(|_| json!({}));
        }
        match gust_asl::parse::parse(definition) {
            Ok(_) => Ok(json!({ "result": "OK", "diagnostics": [], "truncated": false })),
            Err(diagnostics) => {
                let list: Vec<Value> = diagnostics
                    .iter()
                    .map(|d| {
                        json!({
                            "severity": match d.severity {
                                gust_asl::parse::Severity::Error => "ERROR",
                                gust_asl::parse::Severity::Warning => "WARNING",
                            },
                            "code": d.code,
                            "message": d.message,
                            "location": d.location,
                        })
                    })
                    .collect();
                let failed = diagnostics
                    .iter()
                    .any(|d| d.severity == gust_asl::parse::Severity::Error);
                Ok(json!({
                    "result": if failed { "FAIL" } else { "OK" },
                    "diagnostics": list,
                    "truncated": false,
                }))
            }
        }
    }

    fn retag(
        &self,
        input: &Value,
        change: impl FnOnce(&mut Map<String, Value>) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        let resource = required(input, "resourceArn")?;
        let old = self.machine_named(resource).map_err(|e| match e.kind {
            "StateMachineDoesNotExist" | "InvalidArn" => ApiError::new(
                "ResourceNotFound",
                format!("Resource not found: '{resource}'"),
            ),
            _ => e,
        })?;
        let mut extra = extra_of(&old);
        let mut tags = match extra.remove("tags") {
            Some(Value::Object(t)) => t,
            _ => Map::new(),
        };
        change(&mut tags)?;
        extra.insert("tags".into(), Value::Object(tags));
        let new = MachineRecord {
            extra: Value::Object(extra).to_string(),
            revision_id: old.revision_id.clone(),
            ..old.clone()
        };
        self.store.update_machine(&new, &old.revision_id)?;
        Ok(json!({}))
    }

    pub(super) fn tag_resource(&self, input: &Value) -> Result<Value, ApiError> {
        let add = tags_in(input)?;
        self.retag(input, |tags| {
            tags.extend(add);
            Ok(())
        })
    }

    pub(super) fn untag_resource(&self, input: &Value) -> Result<Value, ApiError> {
        let keys: Vec<String> = input
            .get("tagKeys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        self.retag(input, |tags| {
            for k in &keys {
                tags.remove(k);
            }
            Ok(())
        })
    }

    pub(super) fn list_tags(&self, input: &Value) -> Result<Value, ApiError> {
        let resource = required(input, "resourceArn")?;
        let m = self.machine_named(resource).map_err(|e| match e.kind {
            "StateMachineDoesNotExist" | "InvalidArn" => ApiError::new(
                "ResourceNotFound",
                format!("Resource not found: '{resource}'"),
            ),
            _ => e,
        })?;
        let tags: Vec<Value> = match extra_of(&m).get("tags") {
            Some(Value::Object(t)) => t
                .iter()
                .map(|(k, v)| json!({ "key": k, "value": v }))
                .collect(),
            _ => Vec::new(),
        };
        Ok(json!({ "tags": tags }))
    }
}
