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
            let instances = instances(&health);
            print!(
                "{}",
                output::key_values(&[
                    ("Status", health.status),
                    ("Version", health.version),
                    ("Isolation", health.isolation),
                    ("Instances", instances),
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

/// `5 (1 busy, 1 warm, 3 frozen)`: the states that have instances.
fn instances(health: &Health) -> String {
    let s = health.instance_states;
    let parts: Vec<String> = [
        ("busy", s.busy),
        ("warm", s.warm),
        ("frozen", s.frozen),
        ("starting", s.starting),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(state, n)| format!("{n} {state}"))
    .collect();
    if parts.is_empty() {
        health.instances.to_string()
    } else {
        format!("{} ({})", health.instances, parts.join(", "))
    }
}
