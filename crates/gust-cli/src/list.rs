//! `gust list`: every function, following ListFunctions' pages.

use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;
use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;

use gust_wire::lambda::{FunctionConfiguration, ListFunctionsResponse};
use gust_wire::paths;

use crate::output::{self, Output};
use crate::units::human_size;
use crate::Ctx;

/// The most functions the Lambda API returns per page.
const PAGE_SIZE: usize = 50;

/// Arguments of `gust list`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gust list
  gust list --max-items 10
  gust list --output json | jq -r '.Functions[].FunctionName'")]
pub struct ListArgs {
    /// Stop after this many functions [default: all].
    #[arg(long, value_name = "N")]
    max_items: Option<usize>,
}

/// One page with the functions kept as the server wrote them, for `--output json`.
#[derive(Deserialize)]
struct RawPage {
    #[serde(rename = "Functions")]
    functions: Vec<Box<RawValue>>,
}

/// Runs `gust list`.
pub fn run(ctx: &Ctx, args: ListArgs) -> Result<ExitCode> {
    let client = ctx.client()?;
    let limit = args.max_items.unwrap_or(usize::MAX);
    let mut functions: Vec<FunctionConfiguration> = Vec::new();
    let mut raw: Vec<Box<RawValue>> = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page_size = PAGE_SIZE.min(limit - functions.len());
        if page_size == 0 {
            break;
        }
        let mut query = vec![("MaxItems", page_size.to_string())];
        if let Some(m) = &marker {
            query.push(("Marker", m.clone()));
        }
        let response = client.send(
            client
                .request(Method::GET, &format!("{}/", paths::LAMBDA_PREFIX))
                .query(&query),
        )?;
        let page: ListFunctionsResponse = response.json()?;
        let raw_page: RawPage = response.json()?;
        let count = page.functions.len();
        functions.extend(page.functions.into_iter().take(page_size));
        raw.extend(raw_page.functions.into_iter().take(page_size));
        match page.next_marker {
            Some(next) if marker.as_deref() == Some(next.as_str()) => {
                bail!("the server returned the same NextMarker twice ({next}); stopping")
            }
            Some(next) if count > 0 => marker = Some(next),
            _ => {
                marker = None;
                break;
            }
        }
    }

    match ctx.output {
        Output::Json => {
            let items: Vec<&str> = raw.iter().map(|r| r.get()).collect();
            let mut json = format!("{{\"Functions\":[{}]", items.join(","));
            if let Some(m) = &marker {
                json.push_str(&format!(
                    ",\"NextMarker\":{}",
                    serde_json::Value::from(m.clone())
                ));
            }
            json.push('}');
            output::print_raw(json.as_bytes())?;
        }
        Output::Table => {
            if functions.is_empty() {
                eprintln!("no functions yet; deploy one with `gust deploy PATH`");
            } else {
                print!("{}", render(&functions));
            }
            if marker.is_some() {
                eprintln!("(more functions exist; raise --max-items to see them)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn render(functions: &[FunctionConfiguration]) -> String {
    let rows: Vec<Vec<String>> = functions
        .iter()
        .map(|f| {
            vec![
                f.function_name.clone(),
                f.runtime.clone(),
                format!("{} MB", f.memory_size),
                format!("{} s", f.timeout),
                human_size(f.code_size),
                short_time(&f.last_modified),
            ]
        })
        .collect();
    output::table(
        &[
            "NAME",
            "RUNTIME",
            "MEMORY",
            "TIMEOUT",
            "CODE SIZE",
            "LAST MODIFIED",
        ],
        &rows,
    )
}

/// `2019-09-24T18:20:35.054+0000` -> `2019-09-24 18:20:35 UTC`; anything else as is.
pub fn short_time(lambda_time: &str) -> String {
    let utc = lambda_time.ends_with("+0000") || lambda_time.ends_with('Z');
    match (lambda_time.get(..19), lambda_time.get(10..11)) {
        (Some(head), Some("T")) if utc => format!("{} UTC", head.replacen('T', " ", 1)),
        _ => lambda_time.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_timestamps_are_shortened() {
        assert_eq!(
            short_time("2019-09-24T18:20:35.054+0000"),
            "2019-09-24 18:20:35 UTC"
        );
        assert_eq!(short_time("yesterday"), "yesterday");
        assert_eq!(
            short_time("2019-09-24T18:20:35.054+0200"),
            "2019-09-24T18:20:35.054+0200"
        );
    }
}
