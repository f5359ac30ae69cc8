//! `gust sdk install`: the AWS SDKs that Lambda's managed runtimes include (boto3
//! for Python; the AWS SDK for JavaScript v3 for Node.js), installed once from the
//! package registries at pinned versions, for `gust serve` to show its functions
//! read-only (see `gust_runtimes::link_sdk`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};

use crate::env;

/// The Python packages, pinned (boto3 and what it needs).
pub const PYTHON_PACKAGES: &[&str] = &[
    "boto3==1.44.5",
    "botocore==1.44.8",
    "s3transfer==0.19.3",
    "jmespath==1.1.0",
    "python-dateutil==2.9.0.post0",
    "six==1.17.0",
    "urllib3==2.8.0",
];

/// The JavaScript SDK's clients for what gust serves, pinned.
pub const NODE_PACKAGES: &[&str] = &[
    "@aws-sdk/client-s3@3.1178.0",
    "@aws-sdk/client-lambda@3.1178.0",
    "@aws-sdk/client-sfn@3.1178.0",
    "@aws-sdk/s3-request-presigner@3.1178.0",
];

#[derive(Debug, Args)]
pub struct SdkArgs {
    #[command(subcommand)]
    command: SdkCommand,
}

#[derive(Debug, Subcommand)]
enum SdkCommand {
    /// Install boto3 and the AWS SDK for JavaScript v3 (pinned versions, from PyPI
    /// and npm) where `gust serve` finds them.
    #[command(after_help = "\
Examples:
  gust sdk install                       # into $GUST_DATA_DIR/sdk (or the default data dir)
  gust sdk install --dir /opt/gust-sdk   # then: gust serve --sdk-dir /opt/gust-sdk
  gust sdk install --python-only")]
    Install(InstallArgs),
}

#[derive(Debug, Args)]
struct InstallArgs {
    /// Where to install [default: DATA_DIR/sdk, where `gust serve` looks].
    #[arg(long, value_name = "DIR", env = env::SDK_DIR)]
    dir: Option<PathBuf>,
    /// The Python whose pip installs boto3 (3.11, as the python3.11 runtime).
    #[arg(long, value_name = "PYTHON", default_value = "python3")]
    python: String,
    /// Install only the Python SDK.
    #[arg(long, conflicts_with = "node_only")]
    python_only: bool,
    /// Install only the JavaScript SDK.
    #[arg(long)]
    node_only: bool,
}

pub fn run(args: SdkArgs) -> Result<ExitCode> {
    match args.command {
        SdkCommand::Install(a) => install(&a),
    }
}

fn install(a: &InstallArgs) -> Result<ExitCode> {
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => crate::serve::data_dir(None)?.join("sdk"),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if !a.node_only {
        install_python(&a.python, &dir.join("python"))?;
    }
    if !a.python_only {
        install_node(&dir.join("node"))?;
    }
    make_readable(&dir)?;
    println!("AWS SDKs installed in {}", dir.display());
    if a.dir.is_some() {
        println!(
            "Start gust with --sdk-dir {} (or {}={}) to give them to functions.",
            dir.display(),
            env::SDK_DIR,
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `cmd`, showing its progress on stderr.
fn step(what: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("==> {what}");
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|e| anyhow!("{what}: could not run {:?}: {e}", cmd.get_program()))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn install_python(python: &str, target: &Path) -> Result<()> {
    let has_pip = Command::new(python)
        .args(["-m", "pip", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_pip {
        bail!(
            "{python} has no pip: install it (Debian: apt-get install python3-pip) or name a \
             Python that has one with --python"
        );
    }
    let staging = target.with_extension("new");
    let _ = std::fs::remove_dir_all(&staging);
    step(
        &format!("boto3 for Python ({})", PYTHON_PACKAGES[0]),
        Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--no-compile",
                "--target",
            ])
            .arg(&staging)
            .args(PYTHON_PACKAGES),
    )?;
    // Compiled now, once: the sandbox's /var/runtime is read-only, and an
    // import of boto3 should not compile hundreds of modules on every cold start.
    step(
        "compiling boto3",
        Command::new(python)
            .args(["-m", "compileall", "-q", "-j", "0"])
            .arg(&staging),
    )?;
    replace(&staging, target)
}

fn install_node(target: &Path) -> Result<()> {
    let staging = target.with_extension("new");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    std::fs::write(
        staging.join("package.json"),
        "{\"name\": \"gust-sdk\", \"private\": true}\n",
    )?;
    step(
        &format!("the AWS SDK for JavaScript v3 ({})", NODE_PACKAGES[0]),
        Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--omit=dev",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(&staging)
            .args(NODE_PACKAGES),
    )
    .context("installing with npm (is Node.js's npm installed?)")?;
    replace(&staging, target)
}

/// Moves `staging` over `target` (what was there goes).
fn replace(staging: &Path, target: &Path) -> Result<()> {
    if target.exists() {
        std::fs::remove_dir_all(target)
            .with_context(|| format!("removing {}", target.display()))?;
    }
    std::fs::rename(staging, target)
        .with_context(|| format!("moving the SDK into {}", target.display()))
}

/// Files 0644 and directories 0755: the sandbox's unprivileged user reads them.
fn make_readable(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = if meta.is_dir() {
        0o755
    } else {
        0o644 | (meta.permissions().mode() & 0o111)
    };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir)? {
            make_readable(&entry?.path())?;
        }
    }
    Ok(())
}
