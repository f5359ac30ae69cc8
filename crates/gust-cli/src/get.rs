//! `gust get NAME`: one function's configuration and where its code is.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use reqwest::Method;

use gust_wire::lambda::GetFunctionResponse;
use gust_wire::paths;

use crate::client::segment;
use crate::list::short_time;
use crate::output::{self, Output};
use crate::units::human_size;
use crate::Ctx;

/// Arguments of `gust get`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gust get hello
  gust get hello --show-env
  gust get hello --output json | jq .Configuration.CodeSha256")]
pub struct GetArgs {
    /// Function name or ARN.
    name: String,

    /// Version or alias.
    #[arg(long)]
    qualifier: Option<String>,

    /// Show environment variable values (masked by default).
    #[arg(long)]
    show_env: bool,
}

/// Runs `gust get`.
pub fn run(ctx: &Ctx, args: GetArgs) -> Result<ExitCode> {
    let client = ctx.client()?;
    let mut builder = client.request(Method::GET, &paths::function(&segment(&args.name)));
    if let Some(q) = &args.qualifier {
        builder = builder.query(&[("Qualifier", q)]);
    }
    let response = client.send(builder)?;
    match ctx.output {
        Output::Json => output::print_raw(&response.body)?,
        Output::Table => print!("{}", render(&response.json()?, args.show_env)),
    }
    Ok(ExitCode::SUCCESS)
}

fn render(function: &GetFunctionResponse, show_env: bool) -> String {
    let c = &function.configuration;
    let mut pairs = vec![
        ("Name", c.function_name.clone()),
        ("ARN", c.function_arn.clone()),
        ("Version", c.version.clone()),
        ("Runtime", c.runtime.clone()),
        ("Handler", c.handler.clone().unwrap_or_else(|| "-".into())),
        ("Memory", format!("{} MB", c.memory_size)),
        ("Timeout", format!("{} s", c.timeout)),
        (
            "Ephemeral storage",
            format!("{} MB", c.ephemeral_storage.size),
        ),
        ("Architectures", c.architectures.join(", ")),
        ("Description", c.description.clone()),
        (
            "State",
            format!("{} (last update: {})", c.state, c.last_update_status),
        ),
        ("Last modified", short_time(&c.last_modified)),
        ("Code size", human_size(c.code_size)),
        ("CodeSha256", c.code_sha256.clone()),
        ("Code location", function.code.location.clone()),
        ("Revision", c.revision_id.clone()),
        ("Role", c.role.clone()),
        ("Log group", c.logging_config.log_group.clone()),
    ];
    let variables = c
        .environment
        .as_ref()
        .map(|e| &e.variables)
        .filter(|v| !v.is_empty());
    match variables {
        None => pairs.push(("Environment", "-".into())),
        Some(vars) => {
            for (i, (key, value)) in vars.iter().enumerate() {
                let shown = if show_env { value.as_str() } else { "****" };
                let label = if i == 0 { "Environment" } else { "" };
                pairs.push((label, format!("{key}={shown}")));
            }
        }
    }
    output::key_values(&pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> GetFunctionResponse {
        serde_json::from_value(serde_json::json!({
            "Configuration": {
                "FunctionName": "hello",
                "FunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:hello",
                "Runtime": "python3.11",
                "Role": "arn:aws:iam::000000000000:role/gust",
                "Handler": "app.handler",
                "CodeSize": 2048,
                "Description": "",
                "Timeout": 3,
                "MemorySize": 128,
                "LastModified": "2024-01-02T03:04:05.000+0000",
                "CodeSha256": "abc=",
                "Version": "$LATEST",
                "Environment": {"Variables": {"TOKEN": "s3cret", "STAGE": "dev"}},
                "TracingConfig": {"Mode": "PassThrough"},
                "RevisionId": "r1",
                "State": "Active",
                "LastUpdateStatus": "Successful",
                "PackageType": "Zip",
                "Architectures": ["x86_64"],
                "EphemeralStorage": {"Size": 512},
                "LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/hello"}
            },
            "Code": {"RepositoryType": "S3", "Location": "http://127.0.0.1:9000/code/hello.zip"}
        }))
        .unwrap()
    }

    #[test]
    fn environment_values_are_masked_unless_asked() {
        let masked = render(&sample(), false);
        assert!(masked.contains("TOKEN=****"), "{masked}");
        assert!(!masked.contains("s3cret"), "{masked}");
        let shown = render(&sample(), true);
        assert!(shown.contains("TOKEN=s3cret"), "{shown}");
        assert!(
            shown.contains("http://127.0.0.1:9000/code/hello.zip"),
            "{shown}"
        );
    }
}
