//! `gust bench` without the gust CLI: `cargo run -p gust-bench --example bench --
//! overhead --gust-bin target/release/gust`. `--gust-bin` (or `GUST_BIN`) is needed,
//! since this executable is not gust.

use clap::Parser;

#[derive(Parser)]
#[command(name = "gust-bench")]
struct Cli {
    #[command(flatten)]
    bench: gust_bench::BenchArgs,
}

fn main() -> std::process::ExitCode {
    match gust_bench::run(Cli::parse().bench) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
