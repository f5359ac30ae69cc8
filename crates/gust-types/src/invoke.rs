//! What an invocation produced, as the core reports it to the gateway.

/// A function error: the runtime reported one, or the platform ended the invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    /// AWS's errorType, e.g. `Runtime.ExitError`, `Sandbox.Timedout`.
    pub error_type: String,
    /// The human-readable errorMessage.
    pub message: String,
}

impl FunctionError {
    /// The JSON body AWS returns for a function error the platform itself raised.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json_lite(&self.error_type, &self.message)
    }
}

/// Builds `{"errorType":..,"errorMessage":..}` without pulling serde_json into this crate.
fn serde_json_lite(error_type: &str, message: &str) -> Vec<u8> {
    let mut out = String::with_capacity(error_type.len() + message.len() + 40);
    out.push_str("{\"errorType\":");
    push_json_string(&mut out, error_type);
    out.push_str(",\"errorMessage\":");
    push_json_string(&mut out, message);
    out.push('}');
    out.into_bytes()
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The result of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeOutcome {
    /// The response payload: the function's result, or the error JSON.
    pub payload: bytes::Bytes,
    /// `Some("Unhandled")` when the payload is a function error.
    pub function_error: Option<&'static str>,
    /// The last 4 KB of the invocation's log, when the caller asked for it.
    pub log_tail: Option<Vec<u8>>,
    /// The version that ran (`$LATEST` or a number).
    pub executed_version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_json_is_escaped() {
        let e = FunctionError {
            error_type: "Runtime.ExitError".into(),
            message: "line \"one\"\nline\ttwo\u{1}".into(),
        };
        let s = String::from_utf8(e.to_json()).unwrap();
        assert_eq!(
            s,
            r#"{"errorType":"Runtime.ExitError","errorMessage":"line \"one\"\nline\ttwo\u0001"}"#
        );
    }
}
