//! Draws a definition as SVG, for looking at the picture while working on it:
//!
//! ```text
//! cargo run -p gust-asl --example graph -- crates/gust-asl/examples/orders.asl.json \
//!     Validate=succeeded Prepare/1/Invoice=failed > /tmp/graph.svg
//! ```
//!
//! Each `PATH=STATUS` colours one state (`not-run`, `in-progress`, `succeeded`,
//! `failed`, `caught`, `cancelled`); the path's names are joined with `/`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use gust_asl::graph::{svg, Status};
use gust_asl::parse::{invalid_definition_message, parse};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(file) = args.next() else {
        eprintln!("usage: graph DEFINITION.json [PATH=STATUS]...");
        return ExitCode::FAILURE;
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let machine = match parse(&text) {
        Ok(machine) => machine,
        Err(diags) => {
            eprintln!("{file}: {}", invalid_definition_message(&diags));
            return ExitCode::FAILURE;
        }
    };
    let mut statuses = BTreeMap::new();
    for arg in args {
        let status = arg.split_once('=').and_then(|(path, key)| {
            Some((
                path.to_owned(),
                Status::ALL.into_iter().find(|s| s.key() == key)?,
            ))
        });
        match status {
            Some((path, status)) => statuses.insert(path, status),
            None => {
                eprintln!("not PATH=STATUS: {arg}");
                return ExitCode::FAILURE;
            }
        };
    }
    let status = |path: &[&str]| {
        statuses
            .get(&path.join("/"))
            .copied()
            .unwrap_or(Status::NotRun)
    };
    println!("{}", svg(&machine, &status));
    ExitCode::SUCCESS
}
