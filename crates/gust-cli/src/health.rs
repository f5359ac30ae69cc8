//! `gust health`: whether the server answers, and how full it is.

use std::process::ExitCode;

use anyhow::Result;
use reqwest::Method;

use gust_wire::gust::Health;
use gust_wire::paths;

use crate::output::{self, Output};
use crate::Ctx;

/// Runs `gust health`.
pub fn run(ctx: &Ctx) -> Result<ExitCode> {
    let client = ctx.client()?;
    let response =
        client.send(client.request(Method::GET, &format!("{}/health", paths::GUST_PREFIX)))?;
    match ctx.output {
        Output::Json => output::print_raw(&response.body)?,
        Output::Table => {
            let health: Health = response.json()?;
            print!(
                "{}",
                output::key_values(&[
                    ("Status", health.status),
                    ("Version", health.version),
                    ("Isolation", health.isolation),
                    ("Instances", health.instances.to_string()),
                    (
                        "Memory",
                        format!(
                            "{} of {} MB reserved",
                            health.reserved_memory_mb, health.capacity_memory_mb
                        )
                    ),
                ])
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
