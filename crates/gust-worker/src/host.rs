//! Where the host's interpreters live. Found once at start-up: the managed runtimes
//! run the host's Python and Node.js, and the sandbox must show their installation
//! directories to the instance.

use std::path::{Path, PathBuf};
use std::process::Command;

use gust_types::Runtime;

/// Why a managed runtime is unavailable on this host.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeHostError {
    /// The interpreter is missing or is the wrong version.
    #[error("runtime {runtime} is not available on this host: {reason}")]
    Unavailable {
        /// Which runtime.
        runtime: Runtime,
        /// What is wrong.
        reason: String,
    },
}

/// One interpreter.
#[derive(Debug, Clone)]
pub struct Interpreter {
    /// The real executable (shims resolved).
    pub executable: PathBuf,
    /// Its installation prefix, shown read-only inside the sandbox when it is not
    /// under a system directory.
    pub prefix: PathBuf,
    /// Its full version (`3.11.7`, `20.19.2`).
    pub version: String,
}

/// The interpreters found on this host, by runtime.
#[derive(Debug, Clone)]
pub struct RuntimeHost {
    /// Python 3.11, or why not.
    pub python: Result<Interpreter, RuntimeHostError>,
    /// Node.js 20, or why not.
    pub node: Result<Interpreter, RuntimeHostError>,
    /// Where gust's bootstraps are installed.
    pub runtime_dir: PathBuf,
    /// The AWS SDKs the managed runtimes provide, if installed (linked from
    /// `runtime_dir/sdk`, see `gust_runtimes::link_sdk`; the Linux sandbox mounts
    /// it there, read-only).
    pub sdk_dir: Option<PathBuf>,
}

impl RuntimeHost {
    /// Finds the interpreters by asking them (which resolves shims such as pyenv's).
    pub fn discover(runtime_dir: PathBuf) -> RuntimeHost {
        RuntimeHost {
            python: probe(
                Runtime::Python311,
                &["python3.11", "python3"],
                &[
                    "-c",
                    "import sys;print(sys.executable);print(sys.base_prefix);print('%d.%d'%sys.version_info[:2]);print('%d.%d.%d'%sys.version_info[:3])",
                ],
                "3.11",
            ),
            node: probe(
                Runtime::Nodejs20,
                &["node"],
                &[
                    "-e",
                    "console.log(process.execPath);console.log(require('path').resolve(process.execPath,'../..'));console.log(process.versions.node.split('.')[0]);console.log(process.versions.node)",
                ],
                "20",
            ),
            runtime_dir,
            sdk_dir: None,
        }
    }

    /// Compiles the Python source `file` into its `__pycache__` with this host's
    /// Python, so instances load it compiled (they cannot write the cache: the
    /// runtime directory is read-only inside the sandbox). `Err` says why not.
    pub fn compile_python(&self, file: &Path) -> Result<(), String> {
        let python = self.python.as_ref().map_err(|e| e.to_string())?;
        let out = Command::new(&python.executable)
            .args(["-S", "-m", "py_compile"])
            .arg(file)
            .output()
            .map_err(|e| format!("running {}: {e}", python.executable.display()))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(())
    }

    /// The interpreter for a managed runtime.
    pub fn interpreter(&self, runtime: Runtime) -> Result<&Interpreter, RuntimeHostError> {
        let found = match runtime {
            Runtime::Python311 => &self.python,
            Runtime::Nodejs20 => &self.node,
            other => {
                return Err(RuntimeHostError::Unavailable {
                    runtime: other,
                    reason: "not a managed runtime".into(),
                })
            }
        };
        found.as_ref().map_err(Clone::clone)
    }
}

fn probe(
    runtime: Runtime,
    candidates: &[&str],
    args: &[&str],
    want: &str,
) -> Result<Interpreter, RuntimeHostError> {
    let mut last = String::from("not found on PATH");
    for cand in candidates {
        let out = match Command::new(cand).args(args).output() {
            Ok(o) if o.status.success() => o,
            Ok(o) => {
                last = format!(
                    "`{cand}` failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                continue;
            }
            Err(e) => {
                last = format!("`{cand}`: {e}");
                continue;
            }
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let (Some(exe), Some(prefix), Some(version)) = (lines.next(), lines.next(), lines.next())
        else {
            last = format!("`{cand}` printed unexpected output");
            continue;
        };
        if version.trim() != want {
            last = format!("`{cand}` is version {version}, need {want}");
            continue;
        }
        return Ok(Interpreter {
            executable: PathBuf::from(exe.trim()),
            prefix: PathBuf::from(prefix.trim()),
            version: lines.next().unwrap_or(version).trim().to_string(),
        });
    }
    Err(RuntimeHostError::Unavailable {
        runtime,
        reason: last,
    })
}

/// Whether a path lies under a directory every sandbox shows anyway.
pub fn is_system_path(p: &Path) -> bool {
    ["/usr", "/lib", "/lib64", "/bin", "/sbin"]
        .iter()
        .any(|sys| p.starts_with(sys))
}
