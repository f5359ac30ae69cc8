//! The ARNs of state machines and executions, and the names they hold.

/// The account every ARN names (gust has one).
pub const ACCOUNT: &str = "000000000000";

/// `arn:aws:states:REGION:ACCOUNT:stateMachine:NAME`.
pub fn machine(region: &str, name: &str) -> String {
    format!("arn:aws:states:{region}:{ACCOUNT}:stateMachine:{name}")
}

/// `arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME` (Standard) or
/// `...:express:MACHINE:NAME:ID` (Express).
pub fn execution(region: &str, machine: &str, name: &str, express: Option<&str>) -> String {
    match express {
        None => format!("arn:aws:states:{region}:{ACCOUNT}:execution:{machine}:{name}"),
        Some(id) => format!("arn:aws:states:{region}:{ACCOUNT}:express:{machine}:{name}:{id}"),
    }
}

/// The machine name in a state machine ARN, if it is one of this region's.
pub fn machine_name<'a>(region: &str, arn: &'a str) -> Option<&'a str> {
    let rest = arn.strip_prefix("arn:aws:states:")?;
    let (r, rest) = rest.split_once(':')?;
    let (_account, rest) = rest.split_once(':')?;
    let name = rest.strip_prefix("stateMachine:")?;
    (r == region && !name.is_empty() && !name.contains(':')).then_some(name)
}

/// The (machine, execution) names in an execution ARN of this region.
pub fn execution_names<'a>(region: &str, arn: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = arn.strip_prefix("arn:aws:states:")?;
    let (r, rest) = rest.split_once(':')?;
    let (_account, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("execution:")?;
    let (machine, name) = rest.split_once(':')?;
    (r == region && !machine.is_empty() && !name.is_empty() && !name.contains(':'))
        .then_some((machine, name))
}

/// Whether `name` may name a state machine or execution: 1 to 80 characters, none
/// of whitespace, brackets, wildcards, quotes or control characters (AWS's rule).
pub fn valid_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=80).contains(&n)
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_round_trip_and_other_regions_are_not_ours() {
        let m = machine("us-east-1", "booking");
        assert_eq!(
            m,
            "arn:aws:states:us-east-1:000000000000:stateMachine:booking"
        );
        assert_eq!(machine_name("us-east-1", &m), Some("booking"));
        assert_eq!(machine_name("eu-west-1", &m), None);
        let e = execution("us-east-1", "booking", "run-1", None);
        assert_eq!(execution_names("us-east-1", &e), Some(("booking", "run-1")));
        assert_eq!(execution_names("us-east-1", &m), None);
    }

    #[test]
    fn names_follow_aws_rules() {
        assert!(valid_name("order-42_ok"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("a:b"));
        assert!(!valid_name(&"x".repeat(81)));
    }
}
