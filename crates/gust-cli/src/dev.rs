//! `gust dev PATH`: deploys, then redeploys on every saved change while printing
//! the function's logs, until Ctrl-C.
//!
//! Changes are found by polling: every `--poll` the files `gust deploy` would zip
//! are listed with their size, mtime and mode, and a listing that differs from the
//! last one deployed, and stayed the same for one more poll (an editor's save, or a
//! `git checkout`, is several writes), is deployed. That works on every file system
//! (bind mounts, network shares, editors that replace files) without inotify's
//! watch limits. Before deploying, the changed sources are checked the way their
//! runtime will read them (`python3` compiles each .py, `node --check` each .js), so
//! a save with a syntax error is reported with its line and the function keeps its
//! last good code; what only fails at import time is deployed, as `gust deploy`
//! would, and shows up in the logs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use clap::Args;

use crate::deploy::{self, DeployArgs, Pass};
use crate::{archive, logs, units, Ctx};

/// Arguments of `gust dev`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gust dev app.py                        # deploy app.py, redeploy on every save
  gust dev ./my-service --name api --url # with gust deploy's flags
  gust dev ./handler --poll 500ms

The function's log lines are printed as they are written; gust dev's own messages
go to stderr, prefixed with [gust dev]. A save whose Python or JavaScript does not
parse is reported and not deployed: the function keeps serving its last good code.
Stop with Ctrl-C; the function stays deployed.")]
pub struct DevArgs {
    #[command(flatten)]
    deploy: DeployArgs,

    /// How often to look for changes.
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = units::parse_duration)]
    poll: Duration,
}

/// What a file looked like when listed: a change to any of these is a save.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    /// Where it is on disk (for the syntax check).
    path: PathBuf,
    size: u64,
    modified: Option<SystemTime>,
    mode: u32,
}

/// The files a deploy ships, by archive name.
type Snapshot = BTreeMap<String, Stamp>;

/// Runs `gust dev`.
pub fn run(ctx: &Ctx, args: DevArgs) -> Result<ExitCode> {
    if args.poll.is_zero() {
        anyhow::bail!("--poll must be longer than 0");
    }
    let name = deploy::function_name(&args.deploy)?;
    let source = args.deploy.path.clone();

    // What was last deployed successfully: the syntax check looks at every file that
    // changed since, so a broken file stays reported until it is fixed.
    let mut good: Option<Snapshot> = None;
    let mut runtime: Option<String> = None;
    let first = snapshot(&source)?;
    let problems = check_sources(&first, None, None);
    if problems.is_empty() {
        match deploy::deploy(ctx, &args.deploy, Pass::Full) {
            Ok(config) => {
                runtime = Some(config.runtime);
                good = Some(first.clone());
            }
            Err(e) => say(&format!("deploy failed: {e:#}")),
        }
    } else {
        say(&format!("not deployed:\n{}", problems.trim_end()));
    }

    let client = ctx.client()?;
    let output = ctx.output;
    let follower = name.clone();
    std::thread::Builder::new()
        .name("logs".into())
        .spawn(move || logs::follow_from_now(&client, &follower, output))
        .context("starting the log follower")?;
    say(&format!(
        "watching {} for changes; {name}'s logs follow (Ctrl-C to stop)",
        source.display()
    ));

    let mut tried = first.clone();
    let mut seen = first;
    let mut listing_failed = false;
    loop {
        std::thread::sleep(args.poll);
        let now = match snapshot(&source) {
            Ok(now) => {
                listing_failed = false;
                now
            }
            Err(e) => {
                // Mid-save (a file replaced by rename, a directory recreated): say
                // it once and look again.
                if !listing_failed {
                    say(&format!("cannot read the code: {e:#}"));
                    listing_failed = true;
                }
                continue;
            }
        };
        if now != seen {
            // Still being written: wait until one poll passes without change.
            seen = now;
            continue;
        }
        if now == tried {
            continue;
        }
        tried = now.clone();

        let problems = check_sources(&now, good.as_ref(), runtime.as_deref());
        if !problems.is_empty() {
            let keeps = if good.is_some() {
                format!("{name} keeps its last good version")
            } else {
                format!("{name} is not deployed yet")
            };
            say(&format!("not deployed ({keeps}):\n{}", problems.trim_end()));
            continue;
        }
        let started = Instant::now();
        let pass = if good.is_some() {
            Pass::Redeploy
        } else {
            Pass::Full
        };
        match deploy::deploy(ctx, &args.deploy, pass) {
            Ok(config) => {
                say(&format!(
                    "{} {name} in {} ms (CodeSha256 {})",
                    if good.is_some() {
                        "redeployed"
                    } else {
                        "deployed"
                    },
                    started.elapsed().as_millis(),
                    config.code_sha256
                ));
                runtime = Some(config.runtime);
                good = Some(now);
            }
            Err(e) => say(&format!(
                "deploy failed ({name} keeps its last good version): {e:#}"
            )),
        }
    }
}

/// One line (or block) of `gust dev`'s own, on stderr so stdout stays the logs.
fn say(message: &str) {
    eprintln!("[gust dev] {message}");
}

/// Lists what a deploy of `source` ships.
fn snapshot(source: &Path) -> Result<Snapshot> {
    let meta =
        std::fs::metadata(source).with_context(|| format!("reading {}", source.display()))?;
    let entries = if meta.is_dir() {
        // Skipped entries are warned about by the deploy itself, once.
        archive::collect_dir_with(source, &mut |_| {})?
    } else {
        vec![archive::single_file_entry(source)?]
    };
    let mut out = Snapshot::new();
    for entry in entries.into_iter().filter(|e| !e.is_dir) {
        let modified = std::fs::metadata(&entry.path)
            .and_then(|m| m.modified())
            .ok();
        out.insert(
            entry.name,
            Stamp {
                path: entry.path,
                size: entry.size,
                modified,
                mode: entry.mode,
            },
        );
    }
    Ok(out)
}

/// Which language checker a file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    Python,
    JavaScript,
}

fn language(archive_name: &str) -> Option<Language> {
    // Dependencies are not the developer's to fix, and there may be thousands.
    if archive_name.split('/').any(|part| part == "node_modules") {
        return None;
    }
    let extension = archive_name.rsplit_once('.')?.1;
    match extension {
        "py" => Some(Language::Python),
        "js" | "cjs" | "mjs" => Some(Language::JavaScript),
        _ => None,
    }
}

/// The sources in `now` that differ from `good` (all of them when nothing was
/// deployed yet) in the languages the runtime reads (both when it is not known).
fn changed_sources(
    now: &Snapshot,
    good: Option<&Snapshot>,
    runtime: Option<&str>,
    wanted: Language,
) -> Vec<PathBuf> {
    let reads = |lang: Language| match runtime {
        Some(r) if r.starts_with("python") => lang == Language::Python,
        Some(r) if r.starts_with("nodejs") => lang == Language::JavaScript,
        Some(_) => false,
        None => true,
    };
    if !reads(wanted) {
        return Vec::new();
    }
    now.iter()
        .filter(|(name, _)| language(name) == Some(wanted))
        .filter(|(name, stamp)| good.and_then(|g| g.get(*name)) != Some(*stamp))
        .map(|(_, stamp)| stamp.path.clone())
        .collect()
}

/// Syntax errors in the sources that changed, as the checkers print them; empty
/// when all parse (or when no checker is installed: the deploy then finds out).
fn check_sources(now: &Snapshot, good: Option<&Snapshot>, runtime: Option<&str>) -> String {
    let mut problems = String::new();
    let python = changed_sources(now, good, runtime, Language::Python);
    if !python.is_empty() {
        // The runtime's own version where the host has it; an older python3 says
        // nothing rather than refuse syntax it does not know (the script checks).
        let version = runtime
            .and_then(|r| r.strip_prefix("python"))
            .unwrap_or("3.11");
        let interpreter = format!("python{version}");
        let program = if Command::new(&interpreter)
            .args(["-c", ""])
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
        {
            interpreter
        } else {
            "python3".to_string()
        };
        problems += &run_checker(
            Command::new(program)
                .args(["-c", PYTHON_CHECK, version])
                .args(&python),
        );
    }
    for file in changed_sources(now, good, runtime, Language::JavaScript) {
        problems += &run_checker(Command::new("node").arg("--check").arg(&file));
    }
    problems
}

/// Compiles each file named after the runtime's version (`3.11`) without running or
/// caching it, printing `file:line:column: message` and the line for each syntax
/// error; an interpreter older than the runtime checks nothing.
const PYTHON_CHECK: &str = r#"
import sys
wanted = tuple(int(p) for p in sys.argv[1].split(".")[:2])
if sys.version_info[:2] < wanted:
    sys.exit(0)  # an older Python cannot judge newer syntax
failed = False
for path in sys.argv[2:]:
    try:
        with open(path, "rb") as f:
            compile(f.read(), path, "exec", dont_inherit=True)
    except SyntaxError as e:
        failed = True
        print(f"{e.filename}:{e.lineno}:{e.offset or 0}: {type(e).__name__}: {e.msg}")
        if e.text:
            print("    " + e.text.rstrip())
    except (OSError, ValueError) as e:
        failed = True
        print(f"{path}: {e}")
sys.exit(1 if failed else 0)
"#;

/// Runs one checker; what it printed when it failed, nothing when it passed or
/// could not run.
fn run_checker(command: &mut Command) -> String {
    let result = command
        .stdin(Stdio::null())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output();
    match result {
        Ok(out) if !out.status.success() => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text += &String::from_utf8_lossy(&out.stderr);
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(path: &str, size: u64) -> Stamp {
        Stamp {
            path: path.into(),
            size,
            modified: None,
            mode: 0o644,
        }
    }

    fn snap(files: &[(&str, u64)]) -> Snapshot {
        files
            .iter()
            .map(|(name, size)| (name.to_string(), stamp(name, *size)))
            .collect()
    }

    #[test]
    fn languages_come_from_extensions_outside_node_modules() {
        assert_eq!(language("app.py"), Some(Language::Python));
        assert_eq!(language("lib/util.mjs"), Some(Language::JavaScript));
        assert_eq!(language("index.cjs"), Some(Language::JavaScript));
        assert_eq!(language("node_modules/x/index.js"), None);
        assert_eq!(language("a/node_modules/x.js"), None);
        assert_eq!(language("README.md"), None);
        assert_eq!(language("Makefile"), None);
    }

    #[test]
    fn only_changed_sources_of_the_runtime_language_are_checked() {
        let good = snap(&[("app.py", 10), ("lib.py", 5), ("tool.js", 3)]);
        let now = snap(&[("app.py", 11), ("lib.py", 5), ("new.py", 1), ("tool.js", 4)]);
        let python = changed_sources(&now, Some(&good), Some("python3.11"), Language::Python);
        assert_eq!(
            python,
            vec![PathBuf::from("app.py"), PathBuf::from("new.py")]
        );
        // A Python function's stray JavaScript is not its runtime's business.
        assert!(
            changed_sources(&now, Some(&good), Some("python3.11"), Language::JavaScript).is_empty()
        );
        // Nothing deployed yet and no runtime known: everything, in both languages.
        assert_eq!(changed_sources(&now, None, None, Language::Python).len(), 3);
        assert_eq!(
            changed_sources(&now, None, None, Language::JavaScript).len(),
            1
        );
        // A custom runtime's sources are its own.
        assert!(changed_sources(&now, None, Some("provided.al2023"), Language::Python).is_empty());
    }

    #[test]
    fn python_syntax_errors_are_reported_with_their_line() {
        if Command::new("python3").arg("--version").output().is_err() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.py");
        let bad = dir.path().join("bad.py");
        std::fs::write(&good, "def handler(e, c):\n    return 1\n").unwrap();
        std::fs::write(&bad, "def handler(e, c):\n    return (\n").unwrap();
        let now: Snapshot = [("good.py", &good), ("bad.py", &bad)]
            .into_iter()
            .map(|(name, path)| {
                (
                    name.to_string(),
                    Stamp {
                        path: path.clone(),
                        size: 1,
                        modified: None,
                        mode: 0o644,
                    },
                )
            })
            .collect();
        let problems = check_sources(&now, None, Some("python3.11"));
        assert!(problems.contains("bad.py:2"), "{problems}");
        assert!(!problems.contains("good.py"), "{problems}");
        // Checking writes no bytecode next to the sources.
        assert!(!dir.path().join("__pycache__").exists());
        // A runtime newer than any interpreter here: nothing can judge its syntax,
        // so nothing is refused.
        assert_eq!(check_sources(&now, None, Some("python9.99")), "");
    }
}
