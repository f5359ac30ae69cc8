//! Where records go: destination and dead-letter ARNs, parsed.
//!
//! - `arn:aws:sqs:REGION:ACCOUNT:NAME` is gust's built-in queue `NAME`, kept in the
//!   store and read with `GET /gust/v1/queues/NAME/messages`.
//! - `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` is a function, invoked
//!   asynchronously with the record.
//! - Anything else (SNS topics, EventBridge buses, S3 buckets) gust cannot deliver to.

use gust_types::{name, CoreError, FunctionRef, Region};

/// The built-in queue that keeps records gust could not deliver where they were
/// meant to go, so that nothing is dropped silently.
pub const UNDELIVERABLE_QUEUE: &str = "gust-undeliverable";

/// A parsed destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A built-in queue, by name.
    Queue(String),
    /// A function, invoked asynchronously.
    Function(FunctionRef),
    /// A valid ARN of a service gust does not have.
    Unsupported(String),
}

impl Target {
    /// Parses a destination ARN.
    pub fn parse(arn: &str) -> Result<Target, CoreError> {
        let invalid = || {
            CoreError::InvalidParameterValue(format!(
                "The destination ARN {arn} is invalid: expected an SQS queue ARN \
                 (arn:aws:sqs:REGION:ACCOUNT:NAME) or a Lambda function ARN \
                 (arn:aws:lambda:REGION:ACCOUNT:function:NAME)"
            ))
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, _partition, service, _region, _account, resource] = parts.as_slice() else {
            return Err(invalid());
        };
        if *prefix != "arn" {
            return Err(invalid());
        }
        match *service {
            "sqs" => {
                validate_queue_name(resource).map_err(|_| invalid())?;
                Ok(Target::Queue((*resource).to_string()))
            }
            "lambda" => FunctionRef::parse(arn)
                .map(Target::Function)
                .map_err(|_| invalid()),
            "sns" | "events" | "s3" => Ok(Target::Unsupported(arn.to_string())),
            _ => Err(invalid()),
        }
    }
}

/// Checks a queue name as SQS does: 1–80 of `[A-Za-z0-9_-]`. FIFO queues (`.fifo`)
/// are refused, as Lambda refuses them as destinations.
pub fn validate_queue_name(name: &str) -> Result<(), CoreError> {
    let ok = !name.is_empty()
        && name.len() <= 80
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidParameterValue(format!(
            "Queue name '{name}' is invalid: a standard queue name is 1 to 80 letters, digits, \
             '-' or '_'"
        )))
    }
}

/// The SQS ARN of built-in queue `name`.
pub fn queue_arn(region: &Region, name: &str) -> String {
    format!("arn:aws:sqs:{}:{}:{name}", region.0, name::ACCOUNT_ID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_queues_and_functions() {
        assert_eq!(
            Target::parse("arn:aws:sqs:us-east-1:000000000000:failures").unwrap(),
            Target::Queue("failures".into())
        );
        assert_eq!(
            Target::parse("arn:aws:lambda:us-east-1:000000000000:function:audit:prod").unwrap(),
            Target::Function(FunctionRef {
                name: "audit".into(),
                qualifier: Some("prod".into())
            })
        );
        assert!(matches!(
            Target::parse("arn:aws:sns:us-east-1:000000000000:topic").unwrap(),
            Target::Unsupported(_)
        ));
    }

    #[test]
    fn refuses_what_is_not_a_destination() {
        for bad in [
            "",
            "failures",
            "arn:aws:sqs:us-east-1:000000000000:",
            "arn:aws:sqs:us-east-1:000000000000:jobs.fifo",
            "arn:aws:lambda:us-east-1:000000000000:layer:x",
            "arn:aws:dynamodb:us-east-1:000000000000:table/t",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
