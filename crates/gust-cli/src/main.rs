//! `gust`: runs the platform (`gust serve`) and drives it over its Lambda-compatible
//! HTTP API (deploy, invoke, list, get, delete, logs, health).
//!
//! # Layout
//! - `main.rs`: the hidden sandbox entry point, flags shared by all commands, dispatch.
//! - One module per command: [`serve`], [`deploy`], [`dev`], [`invoke`], [`list`], [`get`],
//!   [`delete`], [`logs`], [`url`], [`schedule`], [`network`], [`async_cmd`],
//!   [`health`].
//! - [`client`]: the blocking HTTP client and its error messages.
//! - [`archive`] and [`infer`]: zipping code and guessing name, runtime and handler.
//! - [`output`], [`units`], [`env`]: printing, parsing sizes and durations,
//!   environment variable names. `units` is gust-bench's, so that `gust bench`
//!   flags take durations exactly as the others do.

mod archive;
mod async_cmd;
mod bucket;
mod client;
mod delete;
mod deploy;
mod dev;
mod env;
mod get;
mod health;
mod infer;
mod invoke;
mod list;
mod logs;
mod network;
mod output;
mod schedule;
mod sdk;
mod serve;
mod url;
mod usage;
mod workflow;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gust_bench::units;

use crate::client::{Client, ClientError};
use crate::output::Output;

/// The first argument with which the sandbox re-executes this binary as an
/// instance's init process. Not a clap subcommand, so it never shows in `--help`.
const SANDBOX_INIT: &str = "__sandbox-init";

/// A self-hosted serverless platform, compatible with AWS Lambda's API.
#[derive(Debug, Parser)]
#[command(
    name = "gust",
    version,
    propagate_version = true,
    after_help = "\
Get started:
  gust serve &                 # start the platform on http://127.0.0.1:9000
  gust deploy app.py           # app.py defines handler(event, context)
  gust dev app.py              # or: redeploy it on every save, its logs streaming
  gust invoke app '{\"name\": \"world\"}'
  gust logs app

The AWS CLI and SDKs work too: aws lambda list-functions --endpoint-url http://127.0.0.1:9000"
)]
struct Cli {
    /// URL of the gust server.
    #[arg(long, global = true, value_name = "URL", env = env::ENDPOINT, default_value = env::DEFAULT_ENDPOINT)]
    endpoint: String,

    /// Output format: tables for people, or the API's JSON for scripts.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,

    /// Print each HTTP request and response status on stderr.
    #[arg(short, long, global = true)]
    verbose: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gust server in the foreground.
    Serve(serve::ServeArgs),
    /// Create or update a function from a .zip, a source file or a directory.
    Deploy(deploy::DeployArgs),
    /// Deploy, then redeploy on every saved change while printing the logs.
    Dev(dev::DevArgs),
    /// Invoke a function and print its result.
    Invoke(invoke::InvokeArgs),
    /// List functions.
    List(list::ListArgs),
    /// Show a function's configuration.
    Get(get::GetArgs),
    /// Delete a function.
    Delete(delete::DeleteArgs),
    /// Print a function's logs, or follow them.
    Logs(logs::LogsArgs),
    /// Give a function an HTTP URL, show it or remove it.
    Url(url::UrlArgs),
    /// Invoke functions on a schedule (rate or cron).
    Schedule(schedule::ScheduleArgs),
    /// Let a function's instances reach the network beyond the host, or not.
    Network(network::NetworkArgs),
    /// Asynchronous invocations and the built-in queues that keep their records.
    Async(async_cmd::AsyncArgs),
    /// Buckets (S3): list them and their objects, connect them to functions.
    Bucket(bucket::BucketArgs),
    /// The AWS SDKs functions import as on Lambda (boto3, the JavaScript SDK v3).
    Sdk(sdk::SdkArgs),
    /// Workflows (Step Functions): state machines, executions followed live, pictures.
    Workflow(workflow::WorkflowArgs),
    /// What each function used since the server started: invocations, billed
    /// seconds and GB-seconds (Billed Duration × memory, as Lambda bills).
    Usage,
    /// Check that the server is up and show its capacity.
    #[command(
        after_help = "Examples:\n  gust health\n  gust health --endpoint http://10.0.0.5:9000"
    )]
    Health,
    /// Run a benchmark protocol of BENCHMARKS.md against a gust it starts (or the
    /// one at --endpoint), with the direct baseline in the same run.
    Bench(gust_bench::BenchArgs),
}

/// What every client command needs: where the server is and how to print.
#[derive(Debug)]
pub struct Ctx {
    endpoint: String,
    /// `--output`.
    pub output: Output,
    /// `--verbose`.
    pub verbose: bool,
}

impl Ctx {
    /// A client of the configured endpoint.
    pub fn client(&self) -> anyhow::Result<Client> {
        Client::new(&self.endpoint, self.verbose)
    }
}

fn main() -> ExitCode {
    // Before anything else: no argument parsing, no threads, no runtime. The sandbox
    // re-executes this binary inside fresh namespaces and needs a single-threaded
    // process there.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == SANDBOX_INIT)
    {
        sandbox_init();
    }

    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    // `gust bench` starts its own server unless --endpoint (or its variable) was given.
    let endpoint_given = matches!(
        matches.value_source("endpoint"),
        Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
    );
    let cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let ctx = Ctx {
        endpoint: cli.endpoint,
        output: cli.output,
        verbose: cli.verbose,
    };
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Deploy(args) => deploy::run(&ctx, args),
        Command::Dev(args) => dev::run(&ctx, args),
        Command::Invoke(args) => invoke::run(&ctx, args),
        Command::List(args) => list::run(&ctx, args),
        Command::Get(args) => get::run(&ctx, args),
        Command::Delete(args) => delete::run(&ctx, args),
        Command::Logs(args) => logs::run(&ctx, args),
        Command::Url(args) => url::run(&ctx, args),
        Command::Schedule(args) => schedule::run(&ctx, args),
        Command::Network(args) => network::run(&ctx, args),
        Command::Async(args) => async_cmd::run(&ctx, args),
        Command::Health => health::run(&ctx),
        Command::Usage => usage::run(&ctx),
        Command::Sdk(args) => sdk::run(args),
        Command::Bucket(args) => bucket::run(&ctx, args),
        Command::Workflow(args) => workflow::run(&ctx, args),
        Command::Bench(mut args) => {
            args.set_endpoint(endpoint_given.then(|| ctx.endpoint.clone()));
            gust_bench::run(args).map(|()| ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            if let Some(hint) = err
                .downcast_ref::<ClientError>()
                .and_then(ClientError::hint)
            {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs the sandbox's init process; never returns.
#[cfg(target_os = "linux")]
fn sandbox_init() -> ! {
    gust_sandbox::linux::init_main()
}

/// The Linux sandbox exists only on Linux, so nothing starts this entry elsewhere.
#[cfg(not(target_os = "linux"))]
fn sandbox_init() -> ! {
    eprintln!("gust: {SANDBOX_INIT} is only available on Linux");
    std::process::exit(2)
}
