//! Function names, qualifiers and ARNs.
//!
//! Callers may name a function by its name (`my-fn`), name and qualifier (`my-fn:3`),
//! partial ARN (`123456789012:function:my-fn`) or full ARN
//! (`arn:aws:lambda:us-east-1:123456789012:function:my-fn:prod`), as the Lambda API
//! allows. [`FunctionRef::parse`] accepts all four.

use crate::CoreError;

/// The account id gust reports in ARNs (a single-tenant platform has one account).
pub const ACCOUNT_ID: &str = "000000000000";

/// The region gust reports in ARNs and in the runtime environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region(pub String);

impl Default for Region {
    fn default() -> Self {
        Region("us-east-1".to_string())
    }
}

/// A reference to a function, optionally qualified by version or alias.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionRef {
    /// The bare function name.
    pub name: String,
    /// `$LATEST`, a version number or an alias name, if given.
    pub qualifier: Option<String>,
}

/// Checks a bare function name: 1–64 of `[A-Za-z0-9_-]`.
pub fn validate_name(name: &str) -> Result<(), CoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidParameterValue(format!(
            "1 validation error detected: Value '{}' at 'functionName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [a-zA-Z0-9-_]{{1,64}}",
            truncate(name, 80)
        )))
    }
}

/// Checks a qualifier: `$LATEST`, or 1–128 of `[A-Za-z0-9_-]`.
pub fn validate_qualifier(q: &str) -> Result<(), CoreError> {
    let ok = q == "$LATEST"
        || (!q.is_empty()
            && q.len() <= 128
            && q.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidParameterValue(format!(
            "1 validation error detected: Value '{}' at 'qualifier' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)",
            truncate(q, 80)
        )))
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl FunctionRef {
    /// Parses a function name, partial ARN or full ARN, with an optional qualifier.
    pub fn parse(input: &str) -> Result<FunctionRef, CoreError> {
        if input.len() > 170 {
            return Err(CoreError::InvalidParameterValue(
                "1 validation error detected: Value at 'functionName' failed to satisfy \
                 constraint: Member must have length less than or equal to 170"
                    .into(),
            ));
        }
        let parts: Vec<&str> = input.split(':').collect();
        let (name, qualifier) = match parts.as_slice() {
            [name] => (*name, None),
            [name, q] => (*name, Some(*q)),
            [_account, "function", name] => (*name, None),
            [_account, "function", name, q] => (*name, Some(*q)),
            ["arn", _partition, "lambda", _region, _account, "function", name] => (*name, None),
            ["arn", _partition, "lambda", _region, _account, "function", name, q] => {
                (*name, Some(*q))
            }
            _ => {
                return Err(CoreError::InvalidParameterValue(format!(
                    "1 validation error detected: Value '{}' at 'functionName' failed to \
                     satisfy constraint: not a function name or function ARN",
                    truncate(input, 80)
                )))
            }
        };
        validate_name(name)?;
        if let Some(q) = qualifier {
            validate_qualifier(q)?;
        }
        Ok(FunctionRef {
            name: name.to_string(),
            qualifier: qualifier.map(str::to_string),
        })
    }

    /// Parses like [`FunctionRef::parse`], and refuses an ARN of another region,
    /// account or partition: it names a function elsewhere, never this gust's
    /// function of the same name. AWS's words for a region that is not the
    /// endpoint's: `Functions from 'R' are not reachable in this region ('OURS')`.
    pub fn parse_local(input: &str, region: &Region) -> Result<FunctionRef, CoreError> {
        let fref = FunctionRef::parse(input)?;
        let parts: Vec<&str> = input.split(':').collect();
        let (partition, arn_region, account) = match parts.as_slice() {
            [account, "function", ..] => ("aws", region.0.as_str(), *account),
            ["arn", partition, "lambda", r, account, "function", ..] => (*partition, *r, *account),
            _ => return Ok(fref),
        };
        let elsewhere =
            || CoreError::function_not_found(&input_arn(input, fref.qualifier.is_some()));
        if partition != "aws" || account != ACCOUNT_ID {
            return Err(elsewhere());
        }
        if arn_region != region.0 {
            if arn_region.is_empty() {
                return Err(elsewhere());
            }
            return Err(CoreError::ResourceNotFound(format!(
                "Functions from '{}' are not reachable in this region ('{}')",
                truncate(arn_region, 40),
                region.0
            )));
        }
        Ok(fref)
    }

    /// Combines the qualifier in the name with a `Qualifier` query parameter; AWS
    /// rejects the pair when they disagree.
    pub fn with_qualifier(mut self, query: Option<&str>) -> Result<FunctionRef, CoreError> {
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            validate_qualifier(q)?;
            match &self.qualifier {
                Some(existing) if existing != q => {
                    return Err(CoreError::InvalidParameterValue(
                        "The derived qualifier from the function name does not match the \
                         specified qualifier."
                            .into(),
                    ))
                }
                _ => self.qualifier = Some(q.to_string()),
            }
        }
        Ok(self)
    }
}

/// The (partial) ARN a caller gave, without its qualifier, for a not-found message.
fn input_arn(input: &str, qualified: bool) -> String {
    let unqualified = if qualified {
        input.rsplit_once(':').map_or(input, |(head, _)| head)
    } else {
        input
    };
    truncate(unqualified, 170).to_string()
}

/// The unqualified ARN of a function.
pub fn function_arn(region: &Region, name: &str) -> String {
    format!("arn:aws:lambda:{}:{ACCOUNT_ID}:function:{name}", region.0)
}

/// The ARN of a function qualified by version or alias.
pub fn qualified_arn(region: &Region, name: &str, qualifier: &str) -> String {
    format!("{}:{qualifier}", function_arn(region, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_forms() {
        let plain = FunctionRef::parse("hello").unwrap();
        assert_eq!(plain.name, "hello");
        assert_eq!(plain.qualifier, None);
        let q = FunctionRef::parse("hello:$LATEST").unwrap();
        assert_eq!(q.qualifier.as_deref(), Some("$LATEST"));
        let partial = FunctionRef::parse("123456789012:function:hello").unwrap();
        assert_eq!(partial.name, "hello");
        let full =
            FunctionRef::parse("arn:aws:lambda:us-east-1:123456789012:function:hello:7").unwrap();
        assert_eq!(full.name, "hello");
        assert_eq!(full.qualifier.as_deref(), Some("7"));
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "",
            "a b",
            "../etc",
            "x".repeat(65).as_str(),
            "a:b:c",
            "héllo",
        ] {
            assert!(FunctionRef::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn qualifier_query_must_agree() {
        let r = FunctionRef::parse("f:1").unwrap();
        assert!(r.clone().with_qualifier(Some("2")).is_err());
        assert_eq!(
            r.with_qualifier(Some("1")).unwrap().qualifier.as_deref(),
            Some("1")
        );
    }

    #[test]
    fn arns_of_other_regions_accounts_or_partitions_are_not_local() {
        let here = Region::default();
        for local in [
            "f",
            "f:1",
            "000000000000:function:f",
            "arn:aws:lambda:us-east-1:000000000000:function:f",
            "arn:aws:lambda:us-east-1:000000000000:function:f:live",
        ] {
            assert_eq!(
                FunctionRef::parse_local(local, &here).unwrap().name,
                "f",
                "{local}"
            );
        }
        let e = FunctionRef::parse_local("arn:aws:lambda:eu-west-1:000000000000:function:f", &here)
            .unwrap_err();
        assert_eq!(
            e,
            CoreError::ResourceNotFound(
                "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')".into()
            )
        );
        for (other, arn) in [
            (
                "arn:aws:lambda:us-east-1:123456789012:function:f:2",
                "arn:aws:lambda:us-east-1:123456789012:function:f",
            ),
            ("123456789012:function:f", "123456789012:function:f"),
            (
                "arn:aws-cn:lambda:us-east-1:000000000000:function:f",
                "arn:aws-cn:lambda:us-east-1:000000000000:function:f",
            ),
        ] {
            assert_eq!(
                FunctionRef::parse_local(other, &here),
                Err(CoreError::function_not_found(arn)),
                "{other}"
            );
        }
    }

    #[test]
    fn arns_are_well_formed() {
        let r = Region::default();
        assert_eq!(
            function_arn(&r, "f"),
            "arn:aws:lambda:us-east-1:000000000000:function:f"
        );
        assert_eq!(
            qualified_arn(&r, "f", "$LATEST"),
            "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST"
        );
    }
}
