//! `gust delete NAME`: removes a function (or one version of it).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use reqwest::Method;

use gust_wire::paths;

use crate::client::segment;
use crate::output::Output;
use crate::Ctx;

/// Arguments of `gust delete`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gust delete hello
  gust delete hello --qualifier 3      # only version 3")]
pub struct DeleteArgs {
    /// Function name or ARN.
    name: String,

    /// Delete only this version.
    #[arg(long)]
    qualifier: Option<String>,
}

/// Runs `gust delete`.
pub fn run(ctx: &Ctx, args: DeleteArgs) -> Result<ExitCode> {
    let client = ctx.client()?;
    let mut builder = client.request(Method::DELETE, &paths::function(&segment(&args.name)));
    if let Some(q) = &args.qualifier {
        builder = builder.query(&[("Qualifier", q)]);
    }
    client.send(builder)?;
    // DeleteFunction answers 204 with no body, so JSON mode has nothing to print.
    if ctx.output == Output::Table {
        match &args.qualifier {
            Some(q) => println!("deleted {} (version {q})", args.name),
            None => println!("deleted {}", args.name),
        }
    }
    Ok(ExitCode::SUCCESS)
}
