//! The sandbox init as a program of its own. gust runs its own binary as
//! `gust __sandbox-init` instead; this one serves the integration tests and benches,
//! whose executables are not gust, and hosts that prefer a separate init binary
//! (`LinuxSandboxConfig::init_program`).

fn main() {
    gust_sandbox::linux::init_main()
}
