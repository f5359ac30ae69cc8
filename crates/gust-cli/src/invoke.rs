//! `gust invoke NAME [PAYLOAD]`: calls a function and prints what it returned.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use clap::{Args, ValueEnum};
use reqwest::Method;
use serde_json::Value;

use gust_wire::paths;

use crate::client::{segment, Response};
use crate::output::{self, Output};
use crate::Ctx;

/// Longest a synchronous call may wait: the largest function timeout (900 s) plus time
/// for a cold start and a queue wait.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(960);

/// `--type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InvocationType {
    /// Wait for the function and print its result.
    RequestResponse,
    /// Queue the event and return at once (202); the function runs in the background.
    Event,
    /// Only check that the call would be accepted.
    DryRun,
}

impl InvocationType {
    fn header_value(self) -> &'static str {
        match self {
            InvocationType::RequestResponse => "RequestResponse",
            InvocationType::Event => "Event",
            InvocationType::DryRun => "DryRun",
        }
    }
}

/// Arguments of `gust invoke`.
#[derive(Debug, Args)]
#[command(after_help = r#"Examples:
  gust invoke hello
  gust invoke hello '{"name": "world"}'
  gust invoke hello --payload-file event.json --log-tail
  echo '{"n": 3}' | gust invoke hello --payload-file -
  gust invoke hello --type event '{"job": 42}'

The result is printed on stdout. When the function fails, its error is printed on
stderr and gust exits with status 1."#)]
pub struct InvokeArgs {
    /// Function name or ARN.
    name: String,

    /// The event, as JSON [default: {}].
    #[arg(conflicts_with = "payload_file")]
    payload: Option<String>,

    /// Read the event from a file, or from stdin with `-`.
    #[arg(long, value_name = "FILE|-")]
    payload_file: Option<PathBuf>,

    /// Version or alias to invoke.
    #[arg(long)]
    qualifier: Option<String>,

    /// Print the last 4 KB of the invocation's log on stderr.
    #[arg(long)]
    log_tail: bool,

    /// How to invoke.
    #[arg(long = "type", value_enum, default_value_t = InvocationType::RequestResponse)]
    invocation_type: InvocationType,
}

/// Runs `gust invoke`.
pub fn run(ctx: &Ctx, args: InvokeArgs) -> Result<ExitCode> {
    let payload = read_payload(&args)?;
    let client = ctx.client()?;
    let mut builder = client
        .request(Method::POST, &paths::invocations(&segment(&args.name)))
        .timeout(INVOKE_TIMEOUT)
        .header(paths::INVOCATION_TYPE, args.invocation_type.header_value())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(payload);
    if args.log_tail {
        builder = builder.header(paths::LOG_TYPE, "Tail");
    }
    if let Some(q) = &args.qualifier {
        builder = builder.query(&[("Qualifier", q)]);
    }
    let response = client.send(builder)?;

    if let Some(tail) = response.header(paths::LOG_RESULT) {
        match base64::engine::general_purpose::STANDARD.decode(tail.trim()) {
            Ok(log) => eprint!("{}", String::from_utf8_lossy(&log)),
            Err(e) => eprintln!("warning: the log tail is not valid base64 ({e})"),
        }
    }
    if ctx.verbose || ctx.output == Output::Json {
        if let Some(version) = response.header(paths::EXECUTED_VERSION) {
            eprintln!("executed version: {version}");
        }
    }

    match args.invocation_type {
        InvocationType::Event => {
            if ctx.output == Output::Table {
                eprintln!(
                    "queued ({}): {} runs in the background; follow it with `gust logs {} --follow`",
                    response.status, args.name, args.name
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        InvocationType::DryRun => {
            if ctx.output == Output::Table {
                eprintln!(
                    "dry run OK ({}): {} can be invoked",
                    response.status, args.name
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        InvocationType::RequestResponse => {}
    }

    print_payload(ctx.output, &response)?;
    if let Some(kind) = response.header(paths::FUNCTION_ERROR) {
        eprintln!("{}", function_error(kind, &response.body));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn read_payload(args: &InvokeArgs) -> Result<Vec<u8>> {
    let (bytes, source) = match (&args.payload, &args.payload_file) {
        (Some(inline), _) => (inline.clone().into_bytes(), "the payload".to_string()),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading the payload from stdin")?;
            (buf, "the payload read from stdin".to_string())
        }
        (None, Some(path)) => (
            std::fs::read(path)
                .with_context(|| format!("reading the payload file {}", path.display()))?,
            path.display().to_string(),
        ),
        (None, None) => (b"{}".to_vec(), String::new()),
    };
    check_json(&bytes, &source)?;
    Ok(bytes)
}

fn check_json(bytes: &[u8], source: &str) -> Result<()> {
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        bail!(
            "{source} is not valid JSON ({e}); pass a JSON document, e.g. '{{\"name\": \"world\"}}' \
             (in single quotes, so the shell leaves it alone)"
        );
    }
    Ok(())
}

fn print_payload(mode: Output, response: &Response) -> Result<()> {
    if response.body.is_empty() {
        return Ok(());
    }
    if mode == Output::Table {
        if let Ok(value) = serde_json::from_slice::<Value>(&response.body) {
            let pretty = serde_json::to_string_pretty(&value).context("formatting the result")?;
            println!("{pretty}");
            return Ok(());
        }
    }
    output::print_raw(&response.body)
}

/// `Function error (Unhandled): errorType: errorMessage`, from the Lambda error payload.
fn function_error(kind: &str, payload: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(payload).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let detail = match (field("errorType"), field("errorMessage")) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        (Some(t), None) => t,
        (None, Some(m)) => m,
        (None, None) => String::from_utf8_lossy(payload).trim().to_string(),
    };
    format!("Function error ({kind}): {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_errors_read_like_lambda_reports_them() {
        let payload = br#"{"errorMessage":"division by zero","errorType":"ZeroDivisionError","stackTrace":[]}"#;
        assert_eq!(
            function_error("Unhandled", payload),
            "Function error (Unhandled): ZeroDivisionError: division by zero"
        );
        assert_eq!(
            function_error("Unhandled", b"boom"),
            "Function error (Unhandled): boom"
        );
    }

    #[test]
    fn payloads_must_be_json() {
        assert!(check_json(br#"{"a": 1}"#, "the payload").is_ok());
        assert!(check_json(b"42", "the payload").is_ok());
        let err = check_json(b"{a: 1}", "the payload")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the payload is not valid JSON (key must be a string"),
            "{err}"
        );
    }
}
