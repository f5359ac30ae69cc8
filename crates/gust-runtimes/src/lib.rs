//! The bootstraps of gust's managed runtimes.
//!
//! A managed runtime (`python3.11`, `nodejs20.x`) runs the host's interpreter on
//! a small script of gust's own: a client of the Lambda Runtime API that loads
//! the function's handler and serves its invocations the way AWS's runtimes do.
//! The scripts live in this crate as readable files, are embedded into the
//! binary, and [`install`] writes them into a runtime directory that the
//! sandbox mounts read-only.
//!
//! # Layout
//! - `python/bootstrap.py`: the Python runtime's entry ([`PYTHON_BOOTSTRAP`]), a stub
//!   that imports `python/_gust_bootstrap.py`, the runtime itself
//!   ([`PYTHON_RUNTIME`]), so that its compiled form can be cached: see
//!   [`PYTHON_RUNTIME_MODULE`].
//! - `node/bootstrap.js`: the Node.js runtime ([`NODE_BOOTSTRAP`]).
//! - `tests/`: a mock Runtime API and the scripts' behaviour tests (pytest).
//!
//! # Starting an instance
//! With `<dir>` the directory given to [`install`], cwd the task root, and the
//! Lambda environment (`AWS_LAMBDA_RUNTIME_API`, `_HANDLER`, `LAMBDA_TASK_ROOT`,
//! `AWS_LAMBDA_FUNCTION_NAME`, ...):
//! - `python3 <dir>/python/bootstrap.py`
//! - `node <dir>/node/bootstrap.js`
//!
//! Both print the function's log to stdout/stderr, flush it before every report
//! to the Runtime API, and exit non-zero after an init error or a fatal error.

#![forbid(unsafe_code)]

use std::fs;
use std::io;
use std::path::Path;

/// Path of the Python bootstrap, relative to the runtime directory.
pub const PYTHON_SCRIPT: &str = "python/bootstrap.py";

/// Path of the Node.js bootstrap, relative to the runtime directory.
pub const NODE_SCRIPT: &str = "node/bootstrap.js";

/// The Python bootstrap's source.
pub const PYTHON_BOOTSTRAP: &str = include_str!("../python/bootstrap.py");

/// Path of the Python runtime module the bootstrap imports, relative to the runtime
/// directory. Compile it into its `__pycache__` once the interpreter is known
/// (`python -m py_compile`): a cold start then skips compiling it (5–15 ms).
pub const PYTHON_RUNTIME_MODULE: &str = "python/_gust_bootstrap.py";

/// The Python runtime module's source.
pub const PYTHON_RUNTIME: &str = include_str!("../python/_gust_bootstrap.py");

/// The Node.js bootstrap's source.
pub const NODE_BOOTSTRAP: &str = include_str!("../node/bootstrap.js");

/// Marks `node/` as CommonJS, so `bootstrap.js` loads as a script even if the
/// runtime directory sits below a `package.json` declaring `"type": "module"`.
const NODE_PACKAGE_JSON_PATH: &str = "node/package.json";
const NODE_PACKAGE_JSON: &str = "{\"type\": \"commonjs\"}\n";

/// Every file [`install`] writes: (path relative to the runtime dir, content).
const FILES: [(&str, &str); 4] = [
    (PYTHON_SCRIPT, PYTHON_BOOTSTRAP),
    (PYTHON_RUNTIME_MODULE, PYTHON_RUNTIME),
    (NODE_SCRIPT, NODE_BOOTSTRAP),
    (NODE_PACKAGE_JSON_PATH, NODE_PACKAGE_JSON),
];

/// Writes the bootstraps into `dir` (created if missing): `dir/python/bootstrap.py`,
/// `dir/node/bootstrap.js` and `dir/node/package.json`, mode 0644 in 0755
/// directories so that the sandbox's unprivileged user can read them.
///
/// A file whose content is already right is left alone; one that differs is
/// replaced atomically (written beside it, then renamed over it), so that an
/// instance starting meanwhile sees either the old script or the new one.
pub fn install(dir: &Path) -> io::Result<()> {
    for (relative, content) in FILES {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
            set_mode(parent, 0o755)?;
        }
        write_if_changed(&path, content.as_bytes())?;
    }
    Ok(())
}

/// Where, under the runtime directory, the AWS SDKs are found: `sdk/python` (on
/// the Python runtime's `sys.path`, after the function's code and layers) and
/// `sdk/node/node_modules` (on the Node.js runtime's `NODE_PATH`).
pub const SDK_LINK: &str = "sdk";

/// Makes `runtime_dir/sdk` show the SDKs in `sdk_dir` (what `gust sdk install`
/// writes): a directory whose `python` and `node` link to `sdk_dir`'s, which a
/// process on the host follows, and on which the Linux sandbox mounts `sdk_dir`
/// itself (so no host path shows inside). Returns the SDK directory in use
/// (canonical), or `None` (and an empty `sdk`) when there is none.
pub fn link_sdk(runtime_dir: &Path, sdk_dir: &Path) -> io::Result<Option<std::path::PathBuf>> {
    let dir = runtime_dir.join(SDK_LINK);
    match fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(&dir)?,
        Ok(_) => fs::remove_file(&dir)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::create_dir_all(&dir)?;
    set_mode(&dir, 0o755)?;
    let present: Vec<&str> = ["python", "node"]
        .into_iter()
        .filter(|d| sdk_dir.join(d).is_dir())
        .collect();
    if present.is_empty() {
        return Ok(None);
    }
    let target = fs::canonicalize(sdk_dir)?;
    for d in present {
        std::os::unix::fs::symlink(target.join(d), dir.join(d))?;
    }
    Ok(Some(target))
}

fn write_if_changed(path: &Path, content: &[u8]) -> io::Result<()> {
    match fs::read(path) {
        Ok(existing) if existing == content => return set_mode(path, 0o644),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("bootstrap");
    let temporary = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let written = fs::write(&temporary, content)
        .and_then(|()| set_mode(&temporary, 0o644))
        .and_then(|()| fs::rename(&temporary, path));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = fs::metadata(path)?.permissions();
    if current.mode() & 0o7777 == mode {
        return Ok(());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::PathBuf;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let path = std::env::temp_dir().join(format!(
                "gust-runtimes-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn install_writes_both_bootstraps_readable_by_everyone() {
        let tmp = TempDir::new("fresh");
        let dir = tmp.0.join("runtimes");
        install(&dir).unwrap();

        let python = dir.join(PYTHON_SCRIPT);
        let node = dir.join(NODE_SCRIPT);
        assert_eq!(fs::read_to_string(&python).unwrap(), PYTHON_BOOTSTRAP);
        assert_eq!(fs::read_to_string(&node).unwrap(), NODE_BOOTSTRAP);
        assert_eq!(
            fs::read_to_string(dir.join("node/package.json")).unwrap(),
            NODE_PACKAGE_JSON
        );
        assert_eq!(mode(&python), 0o644);
        assert_eq!(mode(&node), 0o644);
        assert_eq!(mode(&dir.join("python")), 0o755);
        assert_eq!(mode(&dir.join("node")), 0o755);
        // No temporary files left behind.
        assert_eq!(fs::read_dir(dir.join("node")).unwrap().count(), 2);
        assert_eq!(fs::read_dir(dir.join("python")).unwrap().count(), 2);
        assert_eq!(
            fs::read_to_string(dir.join(PYTHON_RUNTIME_MODULE)).unwrap(),
            PYTHON_RUNTIME
        );
    }

    #[test]
    fn install_rewrites_only_what_differs() {
        let tmp = TempDir::new("again");
        install(&tmp.0).unwrap();
        let python = tmp.0.join(PYTHON_SCRIPT);
        let node = tmp.0.join(NODE_SCRIPT);
        let python_inode = fs::metadata(&python).unwrap().ino();

        fs::write(&node, "stale").unwrap();
        fs::set_permissions(&node, fs::Permissions::from_mode(0o600)).unwrap();
        let node_inode = fs::metadata(&node).unwrap().ino();
        install(&tmp.0).unwrap();

        assert_eq!(fs::metadata(&python).unwrap().ino(), python_inode);
        assert_ne!(fs::metadata(&node).unwrap().ino(), node_inode);
        assert_eq!(fs::read_to_string(&node).unwrap(), NODE_BOOTSTRAP);
        assert_eq!(mode(&node), 0o644);
    }

    #[test]
    fn install_fixes_permissions_of_an_unchanged_file() {
        let tmp = TempDir::new("mode");
        install(&tmp.0).unwrap();
        let python = tmp.0.join(PYTHON_SCRIPT);
        fs::set_permissions(&python, fs::Permissions::from_mode(0o600)).unwrap();
        install(&tmp.0).unwrap();
        assert_eq!(mode(&python), 0o644);
    }

    #[test]
    fn script_paths_are_relative_and_name_the_embedded_files() {
        assert!(Path::new(PYTHON_SCRIPT).is_relative());
        assert!(Path::new(NODE_SCRIPT).is_relative());
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(
            fs::read_to_string(crate_dir.join(PYTHON_SCRIPT)).unwrap(),
            PYTHON_BOOTSTRAP
        );
        assert_eq!(
            fs::read_to_string(crate_dir.join(NODE_SCRIPT)).unwrap(),
            NODE_BOOTSTRAP
        );
        assert_eq!(
            fs::read_to_string(crate_dir.join(PYTHON_RUNTIME_MODULE)).unwrap(),
            PYTHON_RUNTIME
        );
        assert!(PYTHON_BOOTSTRAP.contains("import _gust_bootstrap"));
        assert!(PYTHON_RUNTIME.contains("/2018-06-01/runtime/invocation/next"));
        assert!(NODE_BOOTSTRAP.contains("/2018-06-01/runtime/invocation/next"));
    }
}
