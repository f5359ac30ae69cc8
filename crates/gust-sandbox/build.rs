//! Tells the tests whether they can make sandboxes: the integration tests and the
//! unit tests that create namespaces, mounts and cgroups need root. Built as root, they
//! run; built as another user they are marked ignored, so the test runner lists them as
//! skipped (with the reason) instead of counting them as passed.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(gust_root_tests)");
    println!("cargo:rerun-if-changed=build.rs");
    if effective_uid() == Some(0) {
        println!("cargo:rustc-cfg=gust_root_tests");
    }
}

/// The effective uid, from the `Uid:` line of `/proc/self/status` (real, effective,
/// saved, filesystem).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}
