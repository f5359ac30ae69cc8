//! A function's layers in the Linux sandbox: its merged layers read-only at `/opt`,
//! in sandboxes started for it and in prewarmed ones; an empty `/opt` without
//! layers. They need root, like the other Linux sandbox tests.

#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::*;
use gust_sandbox::linux::LinuxSandbox;
use gust_sandbox::{LaunchSpec, Sandbox};

/// Follows the prewarm protocol when asked to, then reports what it sees of `/opt`.
const OPT_PROGRAM: &str = r#"
import errno, json, os
fd = os.environ.pop("_GUST_PREWARM_FD", None)
if fd is not None:
    data = b""
    while True:
        chunk = os.read(int(fd), 4096)
        if not chunk:
            break
        data += chunk
    config = json.loads(data)
    os.environ.clear()
    os.environ.update(config["env"])
    os.chdir(config["cwd"])
def attempt(path):
    try:
        open(path, "w").close()
        return "wrote"
    except OSError as e:
        return errno.errorcode[e.errno]
def read(path):
    try:
        return open(path).read()
    except OSError as e:
        return errno.errorcode[e.errno]
print(json.dumps({
    "prewarmed": fd is not None,
    "opt": sorted(os.listdir("/opt")),
    "shared": read("/opt/python/shared.py"),
    "new_file": attempt("/opt/new.py"),
    "over_file": attempt("/opt/python/shared.py"),
    "ld": os.environ.get("LD_LIBRARY_PATH"),
    "path": os.environ.get("PATH"),
}))
"#;

/// A merged layers' directory as the archive store leaves it: world-readable,
/// world-writable even, so that only the mount can refuse writes.
fn layers(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    for entry in walk(dir.path()) {
        if entry.is_dir() {
            std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
    }
    dir
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if out[i].is_dir() {
            let children: Vec<_> = std::fs::read_dir(&out[i])
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            out.extend(children);
        }
        i += 1;
    }
    out
}

fn seen(run: &Run) -> serde_json::Value {
    assert_eq!(run.report.code, Some(0), "{}", run.output);
    serde_json::from_str(run.output.trim()).unwrap()
}

fn prewarmed_sandbox(f: &Fixture) -> LinuxSandbox {
    let sb = LinuxSandbox::probe_with(config()).unwrap().with_pool(1);
    let template = f.python_spec("template", OPT_PROGRAM);
    sb.prewarm(gust_sandbox::PrewarmTemplate {
        entrypoint: template.entrypoint.clone(),
        runtime_dir: template.runtime_dir.clone(),
        host_paths: template.host_paths.clone(),
        startup_env: vec![],
        startup_prefixes: vec!["PYTHON".into()],
        count: 1,
    });
    assert!(wait_for(Duration::from_secs(60), || sb
        .pool_ready_prewarmed()
        == 1));
    sb
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn layers_are_read_only_at_opt_and_opt_is_empty_without_them() {
    let f = Fixture::new();
    let opt = layers(&[("python/shared.py", "VALUE = 1\n")]);
    let spec = LaunchSpec {
        opt_dir: Some(opt.path().to_path_buf()),
        ..f.python_spec("layers", OPT_PROGRAM)
    };
    let with = seen(&f.run(sandbox(), spec));
    assert_eq!(with["opt"], serde_json::json!(["python"]));
    assert_eq!(with["shared"], "VALUE = 1\n");
    assert_eq!(with["new_file"], "EROFS");
    assert_eq!(with["over_file"], "EROFS");
    assert_eq!(with["ld"], "/opt/lib");
    assert!(
        with["path"].as_str().unwrap().ends_with(":/opt/bin"),
        "{with}"
    );

    let without = seen(&f.run(sandbox(), f.python_spec("no-layers", OPT_PROGRAM)));
    assert_eq!(without["opt"], serde_json::json!([]));
    assert_eq!(without["new_file"], "EROFS");
}

#[test]
#[cfg_attr(
    not(gust_root_tests),
    ignore = "needs root: namespaces, mounts, cgroups"
)]
fn a_prewarmed_runtime_gets_its_layers_with_its_code() {
    let f = Fixture::new();
    let sb = prewarmed_sandbox(&f);
    let opt = layers(&[("python/shared.py", "VALUE = 2\n")]);
    let spec = LaunchSpec {
        opt_dir: Some(opt.path().to_path_buf()),
        ..f.python_spec("prewarmed-layers", OPT_PROGRAM)
    };
    let (launched, timings) = sb.launch_timed(&spec).unwrap();
    assert_eq!(timings[0].0, "take prewarmed runtime", "{timings:?}");
    let got = seen(&finish(launched, Duration::from_secs(30)));
    assert_eq!(got["prewarmed"], true);
    assert_eq!(got["opt"], serde_json::json!(["python"]));
    assert_eq!(got["shared"], "VALUE = 2\n");
    assert_eq!(got["new_file"], "EROFS");
    assert_eq!(got["over_file"], "EROFS");

    // Layers with libraries need a loader that saw /opt/lib from the start.
    assert!(wait_for(Duration::from_secs(60), || sb
        .pool_ready_prewarmed()
        == 1));
    let with_lib = layers(&[("lib/libx.so", "not really"), ("python/shared.py", "")]);
    let spec = LaunchSpec {
        opt_dir: Some(with_lib.path().to_path_buf()),
        ..f.python_spec("lib-layers", OPT_PROGRAM)
    };
    let (launched, timings) = sb.launch_timed(&spec).unwrap();
    assert_ne!(timings[0].0, "take prewarmed runtime", "{timings:?}");
    let got = seen(&finish(launched, Duration::from_secs(30)));
    assert_eq!(got["prewarmed"], false);
    assert_eq!(got["opt"], serde_json::json!(["lib", "python"]));
    assert_eq!(sb.pool_ready_prewarmed(), 1);
}
