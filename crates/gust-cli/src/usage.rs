//! `gust usage`: what each function used since the server started, in Lambda's
//! billing terms (Billed Duration × memory = GB-seconds).

use std::process::ExitCode;

use anyhow::Result;
use reqwest::Method;

use gust_wire::gust::UsageList;
use gust_wire::paths;

use crate::output::{self, Output};
use crate::Ctx;

/// Runs `gust usage`.
pub fn run(ctx: &Ctx) -> Result<ExitCode> {
    let client = ctx.client()?;
    let response =
        client.send(client.request(Method::GET, &format!("{}/usage", paths::GUST_PREFIX)))?;
    match ctx.output {
        Output::Json => output::print_raw(&response.body)?,
        Output::Table => {
            let usage: UsageList = response.json()?;
            let mut rows: Vec<Vec<String>> = usage
                .functions
                .iter()
                .map(|f| {
                    vec![
                        f.name.clone(),
                        f.invocations.to_string(),
                        format!("{:.3}", f.billed_ms as f64 / 1000.0),
                        format!("{:.6}", f.gb_seconds),
                    ]
                })
                .collect();
            let total: f64 = usage.functions.iter().map(|f| f.gb_seconds).sum();
            let calls: u64 = usage.functions.iter().map(|f| f.invocations).sum();
            rows.push(vec![
                "(all)".into(),
                calls.to_string(),
                String::new(),
                format!("{total:.6}"),
            ]);
            print!(
                "{}",
                output::table(
                    &["FUNCTION", "INVOCATIONS", "BILLED S", "GB-SECONDS"],
                    &rows
                )
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
