//! Real instances in the Linux sandbox. Each test fails if the isolation it names is
//! broken. They need root (namespaces, mounts, cgroups): as another user they print
//! why and pass without checking anything; CI runs them as root.

#![cfg(target_os = "linux")]

mod common;

use common::*;

#[test]
fn smoke() {
    let Some(sb) = sandbox() else { return };
    let f = Fixture::new();
    f.bootstrap("#!/bin/sh\necho hello from $(id -u) in $(pwd)\necho err >&2\nexit 3\n");
    let run = f.run(sb, f.spec("smoke"));
    assert_eq!(run.report.code, Some(3), "{}", run.output);
    assert!(
        run.output.contains("hello from 993 in /var/task"),
        "{}",
        run.output
    );
}
