//! `gust deploy PATH`: zips code when needed, then creates the function or updates
//! its code (and its configuration, when flags ask for it).

use std::collections::BTreeMap;
use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;

use gust_wire::lambda::{
    CreateFunctionRequest, Environment, FunctionCode, FunctionConfiguration,
    UpdateFunctionCodeRequest, UpdateFunctionConfigurationRequest,
};
use gust_wire::paths;

use crate::archive;
use crate::client::{json_body, segment, Client, ClientError, Response};
use crate::infer::{self, SourceKind};
use crate::output::{self, Output};
use crate::units::human_size;
use crate::Ctx;

/// Archives larger than this get a progress bar while zipping and uploading.
const PROGRESS_THRESHOLD: u64 = 5 * 1024 * 1024;
/// Upload time allowed, generous for large archives on slow links.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// The role recorded on created functions (gust has no IAM).
const DEFAULT_ROLE: &str = "arn:aws:iam::000000000000:role/gust";

/// Arguments of `gust deploy`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gust deploy app.py                      # creates function 'app', handler app.handler
  gust deploy ./my-service --name api --memory 256 --timeout 30
  gust deploy target/lambda/bootstrap.zip --name resize
  gust deploy app.py --env STAGE=dev --env LOG_LEVEL=debug
  gust deploy app.py --layer arn:aws:lambda:us-east-1:000000000000:layer:deps:1
  gust deploy fetcher.py --outbound on    # its instances may reach the network
  gust deploy resize.py --bucket photos --bucket-suffix .jpg   # invoked by its uploads

Runs again with the same name update the code; configuration flags given on an update
change the configuration too (--env replaces all variables, --layer all layers).")]
pub struct DeployArgs {
    /// A .zip archive (sent as is), one source file, or a directory (zipped
    /// recursively, skipping __pycache__, .git and node_modules/.cache).
    #[arg(value_name = "PATH")]
    pub(crate) path: PathBuf,

    /// Function name [default: the file stem or directory name].
    #[arg(long)]
    name: Option<String>,

    /// Runtime, e.g. python3.11, nodejs20.x, provided.al2023 [default: from the code].
    #[arg(long)]
    runtime: Option<String>,

    /// Handler, MODULE.FUNCTION [default: from the only top-level source file].
    #[arg(long)]
    handler: Option<String>,

    /// Memory size in MB (128–10240) [server default: 128].
    #[arg(long, value_name = "MB")]
    memory: Option<u32>,

    /// Timeout in seconds (1–900) [server default: 3].
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u32>,

    /// Environment variable; repeat for more. Replaces all variables on update.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env_pair)]
    env: Vec<(String, String)>,

    /// Free-text description.
    #[arg(long)]
    description: Option<String>,

    /// A layer version ARN whose files the function sees under /opt; repeat for
    /// more (up to 5, later ones over earlier ones). Replaces all layers on update.
    #[arg(long = "layer", value_name = "ARN")]
    layers: Vec<String>,

    /// Give the function a public URL (auth NONE) if it has none yet.
    #[arg(long)]
    url: bool,

    /// Let its instances reach the network beyond the host (NAT), or not; see
    /// `gust network --help` [default: left as it is; off for a new function].
    #[arg(long, value_enum, value_name = "on|off")]
    outbound: Option<crate::network::Switch>,

    /// Invoke the function when objects are written to this bucket (created if
    /// needed); see `gust bucket connect --help`.
    #[arg(long, value_name = "BUCKET")]
    bucket: Option<String>,
    /// With --bucket: only keys starting with this.
    #[arg(long, value_name = "PREFIX", requires = "bucket")]
    bucket_prefix: Option<String>,
    /// With --bucket: only keys ending with this.
    #[arg(long, value_name = "SUFFIX", requires = "bucket")]
    bucket_suffix: Option<String>,
}

impl DeployArgs {
    fn changes_configuration(&self) -> bool {
        self.runtime.is_some()
            || self.handler.is_some()
            || self.memory.is_some()
            || self.timeout.is_some()
            || !self.env.is_empty()
            || self.description.is_some()
            || !self.layers.is_empty()
    }

    fn layers(&self) -> Option<Vec<String>> {
        (!self.layers.is_empty()).then(|| self.layers.clone())
    }

    fn environment(&self) -> Option<Environment> {
        (!self.env.is_empty()).then(|| Environment {
            variables: self.env.iter().cloned().collect::<BTreeMap<_, _>>(),
        })
    }
}

fn parse_env_pair(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got '{raw}'")),
    }
}

/// The code to upload and what inference needs to know about it.
struct Code {
    kind: SourceKind,
    zip: Vec<u8>,
    top_level: Vec<String>,
}

/// Runs `gust deploy`.
pub fn run(ctx: &Ctx, args: DeployArgs) -> Result<ExitCode> {
    deploy(ctx, &args, Pass::Full)?;
    Ok(ExitCode::SUCCESS)
}

/// How much of a deploy to do and say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// `gust deploy`, and `gust dev`'s first deploy: print the summary, then give
    /// the function what --outbound, --url and --bucket ask for.
    Full,
    /// `gust dev`'s redeploys: send the code (and configuration flags) silently.
    Redeploy,
}

/// Deploys `args.path` once; returns the function's configuration.
pub(crate) fn deploy(ctx: &Ctx, args: &DeployArgs, pass: Pass) -> Result<FunctionConfiguration> {
    let code = load_code(&args.path)?;
    warn_unreadable(&code, &args.path);
    let name = function_name(args)?;
    let shown = args.path.display().to_string();
    let client = ctx.client()?;

    let existing = match client.send(client.request(Method::GET, &paths::function(&segment(&name))))
    {
        Ok(response) => Some(
            response
                .json::<gust_wire::lambda::GetFunctionResponse>()?
                .configuration,
        ),
        Err(e) if e.error_type() == Some("ResourceNotFoundException") => None,
        Err(e) => return Err(e.into()),
    };

    let (response, verb) = match existing {
        None => (create(&client, args, &name, &code, &shown)?, "created"),
        Some(current) => {
            warn_runtime_mismatch(args, &current, &code, &shown);
            (update(&client, args, &name, &code)?, "updated")
        }
    };
    let config = response.json::<FunctionConfiguration>()?;
    if pass == Pass::Redeploy {
        return Ok(config);
    }
    match ctx.output {
        Output::Json => output::print_raw(&response.body)?,
        Output::Table => print_summary(&config, verb),
    }
    if let Some(outbound) = args.outbound {
        crate::network::after_deploy(&client, &name, outbound, ctx.output)?;
    }
    crate::url::after_deploy(&client, &name, args.url, ctx.output)?;
    if let Some(bucket) = &args.bucket {
        let filter = crate::bucket::Filter {
            prefix: args.bucket_prefix.clone(),
            suffix: args.bucket_suffix.clone(),
            events: Vec::new(),
        };
        crate::bucket::after_deploy(&client, &name, bucket, &filter, ctx.output)?;
    }
    Ok(config)
}

/// The function's name: --name, or the one inferred from PATH.
pub(crate) fn function_name(args: &DeployArgs) -> Result<String> {
    if let Some(name) = &args.name {
        return Ok(name.clone());
    }
    let kind = source_kind(&args.path)?;
    let absolute = fs::canonicalize(&args.path)
        .with_context(|| format!("resolving {}", args.path.display()))?;
    infer::default_name(&absolute, kind).map_err(|e| anyhow!(e))
}

/// What PATH is: a .zip archive, a directory, or one source file.
fn source_kind(path: &Path) -> Result<SourceKind> {
    let meta = fs::metadata(path).with_context(|| {
        format!(
            "cannot read {}; pass a .zip archive, a source file or a directory",
            path.display()
        )
    })?;
    let is_zip = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    Ok(if meta.is_file() && is_zip {
        SourceKind::Zip
    } else if meta.is_dir() {
        SourceKind::Dir
    } else {
        SourceKind::File
    })
}

fn load_code(path: &Path) -> Result<Code> {
    let kind = source_kind(path)?;
    if kind == SourceKind::Zip {
        let zip = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let top_level = archive::zip_top_level(&zip, path)?;
        return Ok(Code {
            kind: SourceKind::Zip,
            zip,
            top_level,
        });
    }
    let entries = if kind == SourceKind::Dir {
        let entries = archive::collect_dir(path)?;
        if !entries.iter().any(|e| !e.is_dir) {
            bail!(
                "{} has no files to deploy (__pycache__, .git and node_modules/.cache are skipped)",
                path.display()
            );
        }
        entries
    } else {
        vec![archive::single_file_entry(path)?]
    };
    let total: u64 = entries.iter().map(|e| e.size).sum();
    let bar = progress_bar(total, "zipping");
    let zip = archive::write_zip(&entries, &mut |n| bar.inc(n))?;
    bar.finish_and_clear();
    Ok(Code {
        kind,
        zip,
        top_level: archive::entries_top_level(&entries),
    })
}

/// A byte progress bar on stderr, shown only for large archives (and only when stderr
/// is a terminal, which indicatif checks).
fn progress_bar(total: u64, what: &str) -> ProgressBar {
    if total <= PROGRESS_THRESHOLD {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

fn create(
    client: &Client,
    args: &DeployArgs,
    name: &str,
    code: &Code,
    shown: &str,
) -> Result<Response> {
    let runtime = match &args.runtime {
        Some(runtime) => runtime.clone(),
        None => infer::infer_runtime(code.kind, shown, &code.top_level)
            .map_err(|e| anyhow!(e))?
            .to_string(),
    };
    let handler = match &args.handler {
        Some(handler) => Some(handler.clone()),
        None => infer::infer_handler(&runtime, code.kind, shown, &code.top_level)
            .map_err(|e| anyhow!(e))?,
    };
    let request = CreateFunctionRequest {
        function_name: name.to_string(),
        runtime: Some(runtime),
        role: Some(DEFAULT_ROLE.to_string()),
        handler,
        code: FunctionCode {
            zip_file: Some(base64(&code.zip)),
            ..Default::default()
        },
        description: args.description.clone(),
        timeout: args.timeout,
        memory_size: args.memory,
        environment: args.environment(),
        layers: args.layers(),
        package_type: Some("Zip".to_string()),
        ..Default::default()
    };
    let body = json_body(&request);
    Ok(upload(client, Method::POST, paths::LAMBDA_PREFIX, body)?)
}

fn update(client: &Client, args: &DeployArgs, name: &str, code: &Code) -> Result<Response> {
    let function = paths::function(&segment(name));
    let request = UpdateFunctionCodeRequest {
        zip_file: Some(base64(&code.zip)),
        ..Default::default()
    };
    let mut response = upload(
        client,
        Method::PUT,
        &format!("{function}/code"),
        json_body(&request),
    )?;
    if args.changes_configuration() {
        let request = UpdateFunctionConfigurationRequest {
            handler: args.handler.clone(),
            description: args.description.clone(),
            timeout: args.timeout,
            memory_size: args.memory,
            environment: args.environment(),
            runtime: args.runtime.clone(),
            layers: args.layers(),
            ..Default::default()
        };
        let builder = client
            .request(Method::PUT, &format!("{function}/configuration"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json_body(&request));
        response = client.send(builder).context(
            "the code was updated, but updating the configuration failed; fix the flags and deploy again",
        )?;
    }
    Ok(response)
}

/// Sends a JSON body carrying an archive, with a progress bar when it is large.
fn upload(
    client: &Client,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> Result<Response, ClientError> {
    let len = body.len() as u64;
    // The body streams through the progress bar, so its hash goes ahead of it for
    // a signing client (and the server checks the body against it).
    let hash = gust_api::sigv4_sign::payload_hash(&body);
    let bar = progress_bar(len, "uploading");
    let reader = bar.wrap_read(Cursor::new(body));
    let builder = client
        .request(method, path)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("x-amz-content-sha256", hash)
        .timeout(UPLOAD_TIMEOUT)
        .body(reqwest::blocking::Body::sized(reader, len));
    let result = client.send(builder);
    bar.finish_and_clear();
    result
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Warns when the archive has entries the function's user cannot read (a zip made
/// with Python's `zipfile.writestr` has mode 0600 files), naming them and the fix.
fn warn_unreadable(code: &Code, path: &Path) {
    let Ok(found) = archive::unreadable_entries(&code.zip) else {
        return;
    };
    let fix = match code.kind {
        SourceKind::Zip => "Make them world-readable (chmod 644, and 755 for directories) \
             before zipping, or pass the directory to gust deploy."
            .to_string(),
        _ => format!("Run `chmod -R a+rX {}` and deploy again.", path.display()),
    };
    if let Some(warning) = archive::unreadable_warning(&found, &fix) {
        eprintln!("{warning}");
    }
}

/// Warns when an update ships code that looks like another runtime than the
/// function's, a common slip that otherwise shows up only at invoke time.
fn warn_runtime_mismatch(
    args: &DeployArgs,
    current: &FunctionConfiguration,
    code: &Code,
    shown: &str,
) {
    if args.runtime.is_some() {
        return;
    }
    let Ok(looks_like) = infer::infer_runtime(code.kind, shown, &code.top_level) else {
        return;
    };
    // `python3.11` -> `python`, `provided.al2023` -> `provided`.
    let family =
        |rt: &str| -> String { rt.chars().take_while(char::is_ascii_alphabetic).collect() };
    if family(looks_like) != family(&current.runtime) {
        eprintln!(
            "warning: function {} runs {}, but {shown} looks like {looks_like} code; \
             pass --runtime to change the runtime",
            current.function_name, current.runtime
        );
    }
}

fn print_summary(config: &FunctionConfiguration, verb: &str) {
    println!("{verb} function {}", config.function_name);
    let pairs = [
        ("  runtime", config.runtime.clone()),
        (
            "  handler",
            config.handler.clone().unwrap_or_else(|| "-".into()),
        ),
        ("  memory", format!("{} MB", config.memory_size)),
        ("  timeout", format!("{} s", config.timeout)),
        ("  code size", human_size(config.code_size)),
        ("  CodeSha256", config.code_sha256.clone()),
    ];
    print!("{}", output::key_values(&pairs));
    println!("invoke it with: gust invoke {}", config.function_name);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_pairs_split_at_the_first_equals() {
        assert_eq!(
            parse_env_pair("URL=postgres://u:p@h/db?x=1"),
            Ok(("URL".into(), "postgres://u:p@h/db?x=1".into()))
        );
        assert_eq!(
            parse_env_pair("EMPTY="),
            Ok(("EMPTY".into(), String::new()))
        );
        assert!(parse_env_pair("NOVALUE").is_err());
        assert!(parse_env_pair("=x").is_err());
    }
}
