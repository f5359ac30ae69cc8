//! Lambda layers: names, version ARNs and what a function records of the layers it
//! uses.
//!
//! A layer version is named by its ARN,
//! `arn:aws:lambda:<region>:<account>:layer:<name>:<version>`; the layer itself by
//! the same ARN without the version. A function lists up to [`limits::LAYERS_MAX`]
//! version ARNs, and its instances see their contents merged under `/opt`, later
//! layers over earlier ones.

use serde::{Deserialize, Serialize};

use crate::name::ACCOUNT_ID;
use crate::{limits, CoreError, Region};

/// One layer version a function uses, as its configuration records it: enough to
/// answer GetFunction (`Layers: [{Arn, CodeSize}]`) and to build the instance's
/// `/opt` even after the layer version itself was deleted, as on AWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionLayer {
    /// The layer version's ARN.
    pub arn: String,
    /// Zipped size in bytes.
    pub code_size: u64,
    /// Unzipped size in bytes, counted against the function's 250 MB.
    pub unzipped_size: u64,
    /// Hex SHA-256 of the zip: the archive's key in the archive store.
    pub digest: String,
}

/// A layer version's name and number, parsed from its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerVersionRef {
    /// The layer's name.
    pub name: String,
    /// The version number (from 1).
    pub version: u64,
}

/// Whether `name` is a plain layer name's characters: `[a-zA-Z0-9-_]+`.
pub fn is_layer_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a LayerName: a plain name (1–140 of `[a-zA-Z0-9-_]`) or a layer ARN of
/// this account and region; returns the plain name.
pub fn parse_layer_name(input: &str, region: &Region) -> Result<String, CoreError> {
    let name = match input.strip_prefix("arn:") {
        Some(_) => {
            let prefix = layer_prefix(region);
            input.strip_prefix(&prefix).ok_or_else(|| {
                CoreError::ResourceNotFound(format!("Layer not found: {}", truncate(input)))
            })?
        }
        None => input,
    };
    let ok = input.len() <= limits::LAYER_NAME_MAX && is_layer_name(name);
    if ok {
        Ok(name.to_string())
    } else {
        Err(CoreError::Validation(format!(
            "1 validation error detected: Value '{}' at 'layerName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: \
             (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{{12}}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+",
            truncate(input)
        )))
    }
}

/// Parses a layer version ARN as CreateFunction's `Layers` and GetLayerVersionByArn
/// take it. A well-formed ARN of another region or account names a layer gust
/// cannot have: that is [`CoreError::ResourceNotFound`]-worthy for the caller, so
/// it parses and simply finds nothing; a malformed one is a validation error.
pub fn parse_layer_version_arn(arn: &str) -> Result<(String, LayerVersionRef), CoreError> {
    parse_version_arn(arn, "arn")
}

/// [`parse_layer_version_arn`], naming `field` (the request's member) in a
/// validation error as AWS does.
fn parse_version_arn(arn: &str, field: &str) -> Result<(String, LayerVersionRef), CoreError> {
    let bad = || {
        CoreError::Validation(format!(
            "1 validation error detected: Value '{}' at '{field}' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: \
             (arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{{2}}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{{1}}:\\d{{12}}:layer:[a-zA-Z0-9-_]+:[0-9]+)",
            truncate(arn)
        ))
    };
    let parts: Vec<&str> = arn.split(':').collect();
    let [arn_lit, partition, service, region, account, kind, name, version] = parts[..] else {
        return Err(bad());
    };
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let name_ok = is_layer_name(name);
    let version = version
        .parse::<u64>()
        .ok()
        .filter(|_| version.bytes().all(|b| b.is_ascii_digit()));
    match version {
        Some(version)
            if arn_lit == "arn"
                && partition.starts_with("aws")
                && service == "lambda"
                && !region.is_empty()
                && account_ok
                && kind == "layer"
                && name_ok
                && arn.len() <= limits::LAYER_VERSION_ARN_MAX =>
        {
            let home = format!("arn:{partition}:lambda:{region}:{account}:layer:");
            Ok((
                home,
                LayerVersionRef {
                    name: name.to_string(),
                    version,
                },
            ))
        }
        _ => Err(bad()),
    }
}

/// The start of every layer ARN of this gust: `arn:aws:lambda:<region>:<account>:layer:`.
pub fn layer_prefix(region: &Region) -> String {
    format!("arn:aws:lambda:{}:{ACCOUNT_ID}:layer:", region.0)
}

/// The ARN of a layer.
pub fn layer_arn(region: &Region, name: &str) -> String {
    format!("{}{name}", layer_prefix(region))
}

/// The ARN of a layer version.
pub fn layer_version_arn(region: &Region, name: &str, version: u64) -> String {
    format!("{}:{version}", layer_arn(region, name))
}

/// Checks a function's `Layers` list for its length and form (not whether the
/// versions exist), returning them parsed in order. A list naming the same layer
/// twice is refused, as AWS refuses it.
pub fn validate_function_layers(
    arns: &[String],
    region: &Region,
) -> Result<Vec<LayerVersionRef>, CoreError> {
    if arns.len() > limits::LAYERS_MAX {
        return Err(CoreError::InvalidParameterValue(format!(
            "Cannot reference more than {} layers.",
            limits::LAYERS_MAX
        )));
    }
    let home = layer_prefix(region);
    let mut parsed: Vec<LayerVersionRef> = Vec::with_capacity(arns.len());
    for arn in arns {
        let (prefix, layer) = parse_version_arn(arn, "layers")?;
        if prefix != home {
            return Err(CoreError::InvalidParameterValue(format!(
                "Layer version {arn} does not exist. This gust serves layers of {home}*"
            )));
        }
        if parsed.iter().any(|p| p.name == layer.name) {
            return Err(CoreError::InvalidParameterValue(format!(
                "Two different versions of the same layer are not allowed: {}",
                layer.name
            )));
        }
        parsed.push(layer);
    }
    Ok(parsed)
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> Region {
        Region::default()
    }

    #[test]
    fn version_arns_parse_and_round_trip() {
        let arn = layer_version_arn(&here(), "deps_1-a", 12);
        assert_eq!(
            arn,
            "arn:aws:lambda:us-east-1:000000000000:layer:deps_1-a:12"
        );
        let (home, layer) = parse_layer_version_arn(&arn).unwrap();
        assert_eq!(home, layer_prefix(&here()));
        assert_eq!(
            layer,
            LayerVersionRef {
                name: "deps_1-a".into(),
                version: 12
            }
        );
    }

    #[test]
    fn malformed_version_arns_are_validation_errors() {
        for bad in [
            "",
            "deps",
            "arn:aws:lambda:us-east-1:000000000000:layer:deps",
            "arn:aws:lambda:us-east-1:000000000000:layer:deps:",
            "arn:aws:lambda:us-east-1:000000000000:layer:deps:x",
            "arn:aws:lambda:us-east-1:000000000000:layer:deps:+1",
            "arn:aws:lambda:us-east-1:000000000000:function:deps:1",
            "arn:aws:lambda:us-east-1:0000:layer:deps:1",
            "arn:aws:lambda:us-east-1:000000000000:layer:de/ps:1",
            "arn:aws:lambda:us-east-1:000000000000:layer:deps:1:2",
        ] {
            assert!(
                matches!(parse_layer_version_arn(bad), Err(CoreError::Validation(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn layer_names_are_plain_or_this_gusts_arns() {
        assert_eq!(parse_layer_name("deps", &here()).unwrap(), "deps");
        let arn = layer_arn(&here(), "deps");
        assert_eq!(parse_layer_name(&arn, &here()).unwrap(), "deps");
        assert!(matches!(
            parse_layer_name("arn:aws:lambda:eu-west-1:000000000000:layer:deps", &here()),
            Err(CoreError::ResourceNotFound(_))
        ));
        for bad in ["", "a b", "a.b", &"x".repeat(141)] {
            assert!(
                matches!(
                    parse_layer_name(bad, &here()),
                    Err(CoreError::Validation(_))
                ),
                "{bad}"
            );
        }
        assert!(parse_layer_name(&"x".repeat(140), &here()).is_ok());
    }

    #[test]
    fn function_layer_lists_are_checked_in_order() {
        let arns: Vec<String> = (1..=5)
            .map(|i| layer_version_arn(&here(), &format!("l{i}"), i))
            .collect();
        let parsed = validate_function_layers(&arns, &here()).unwrap();
        let names: Vec<&str> = parsed.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["l1", "l2", "l3", "l4", "l5"]);

        let mut six = arns.clone();
        six.push(layer_version_arn(&here(), "l6", 1));
        assert_eq!(
            validate_function_layers(&six, &here()).unwrap_err(),
            CoreError::InvalidParameterValue("Cannot reference more than 5 layers.".into())
        );

        let twice = [
            layer_version_arn(&here(), "l", 1),
            layer_version_arn(&here(), "l", 2),
        ];
        assert!(matches!(
            validate_function_layers(&twice, &here()),
            Err(CoreError::InvalidParameterValue(_))
        ));

        let elsewhere = ["arn:aws:lambda:eu-west-1:123456789012:layer:l:1".to_string()];
        assert!(matches!(
            validate_function_layers(&elsewhere, &here()),
            Err(CoreError::InvalidParameterValue(m)) if m.contains("does not exist")
        ));
        assert!(validate_function_layers(&[], &here()).unwrap().is_empty());
        assert!(matches!(
            validate_function_layers(&["deps".to_string()], &here()),
            Err(CoreError::Validation(m)) if m.contains("at 'layers'")
        ));
    }
}
