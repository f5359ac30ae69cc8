//! `gust bench` without the gust CLI: `cargo run -p gust-bench --example bench --
//! overhead --gust-bin target/release/gust`. `--gust-bin` (or `GUST_BIN`) is needed,
//! since this executable is not gust.

use clap::Parser;

#[derive(Parser)]
#[command(name = "gust-bench")]
struct Cli {
    /// A running server to measure instead of starting one.
    #[arg(long, global = true, value_name = "URL")]
    endpoint: Option<String>,

    #[command(flatten)]
    bench: gust_bench::BenchArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let mut bench = cli.bench;
    bench.set_endpoint(cli.endpoint);
    match gust_bench::run(bench) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
