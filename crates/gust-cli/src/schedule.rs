//! `gust schedule add|list|remove`: rules that invoke a function on a schedule, with
//! EventBridge's expressions.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use reqwest::Method;

use gust_wire::schedules::{
    schedule_path, CreateScheduleRequest, ListSchedulesResponse, Schedule, SCHEDULES_PATH,
};

use crate::client::{json_body, segment};
use crate::output::{self, Output};
use crate::Ctx;

/// Arguments of `gust schedule`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gust schedule add every-5m --function report --expression 'rate(5 minutes)'
  gust schedule add weekday-noon --function report --expression 'cron(0 12 ? * MON-FRI *)'
  gust schedule add nightly --function cleanup --expression 'cron(30 2 * * ? *)' \\
      --input '{\"dryRun\": false}'
  gust schedule list
  gust schedule remove every-5m

Expressions are EventBridge's, in UTC: rate(N minute|minutes|hour|hours|day|days)
(singular only for 1) and cron(minutes hours day-of-month month day-of-week year) with
'?' in one of the two day fields. A rule invokes its function asynchronously with
EventBridge's scheduled-event payload ({\"detail-type\": \"Scheduled Event\", ...}), or
with --input instead.

Restarts: every firing is recorded before it is dispatched, so none runs twice. Firings
missed while gust was down are made up for once, at start-up, if the latest of them is
less than 15 minutes old; older ones are skipped and the rule goes on with its next
time.")]
pub struct ScheduleArgs {
    #[command(subcommand)]
    command: ScheduleCommand,
}

#[derive(Debug, Subcommand)]
enum ScheduleCommand {
    /// Create a rule.
    Add(AddArgs),
    /// List the rules with their last and next firing.
    List,
    /// Delete a rule.
    Remove {
        /// The rule's name.
        name: String,
    },
}

#[derive(Debug, Args)]
struct AddArgs {
    /// The rule's name: letters, digits, '.', '-' and '_'.
    name: String,
    /// The function to invoke (name, name:alias or ARN).
    #[arg(long)]
    function: String,
    /// rate(...) or cron(...), e.g. 'rate(5 minutes)'.
    #[arg(long)]
    expression: String,
    /// JSON to send instead of the scheduled event.
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
    /// Free text.
    #[arg(long)]
    description: Option<String>,
}

/// Runs `gust schedule`.
pub fn run(ctx: &Ctx, args: ScheduleArgs) -> Result<ExitCode> {
    let client = ctx.client()?;
    match args.command {
        ScheduleCommand::Add(a) => {
            let input = a
                .input
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .context("--input must be JSON, e.g. '{\"key\": \"value\"}'")?;
            let request = CreateScheduleRequest {
                name: a.name,
                function: a.function,
                expression: a.expression,
                input,
                description: a.description,
            };
            let builder = client
                .request(Method::POST, SCHEDULES_PATH)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json_body(&request));
            let response = client.send(builder)?;
            match ctx.output {
                Output::Json => output::print_raw(&response.body)?,
                Output::Table => {
                    let s: Schedule = response.json()?;
                    println!(
                        "created {} ({} → {}); next firing {}",
                        s.name,
                        s.expression,
                        s.function,
                        s.next_fire.as_deref().unwrap_or("never")
                    );
                }
            }
        }
        ScheduleCommand::List => {
            let response = client.send(client.request(Method::GET, SCHEDULES_PATH))?;
            match ctx.output {
                Output::Json => output::print_raw(&response.body)?,
                Output::Table => print!("{}", render(&response.json()?)),
            }
        }
        ScheduleCommand::Remove { name } => {
            client.send(client.request(Method::DELETE, &schedule_path(&segment(&name))))?;
            if ctx.output == Output::Table {
                println!("removed {name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn render(list: &ListSchedulesResponse) -> String {
    if list.schedules.is_empty() {
        return "no schedules; add one with: gust schedule add NAME --function F \
                --expression 'rate(5 minutes)'\n"
            .into();
    }
    let rows: Vec<Vec<String>> = list
        .schedules
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.expression.clone(),
                s.function.clone(),
                s.last_fired.clone().unwrap_or_else(|| "-".into()),
                s.next_fire.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    output::table(
        &["NAME", "EXPRESSION", "FUNCTION", "LAST FIRED", "NEXT"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_render_as_tables() {
        let list = ListSchedulesResponse {
            schedules: vec![Schedule {
                name: "nightly".into(),
                arn: "arn:aws:events:us-east-1:000000000000:rule/nightly".into(),
                function: "cleanup".into(),
                expression: "cron(30 2 * * ? *)".into(),
                input: None,
                description: String::new(),
                created: "2024-01-01T00:00:00Z".into(),
                last_fired: None,
                next_fire: Some("2024-01-02T02:30:00Z".into()),
            }],
        };
        let text = render(&list);
        assert!(text.starts_with("NAME"), "{text}");
        assert!(
            text.contains("nightly   cron(30 2 * * ? *)   cleanup"),
            "{text}"
        );
        assert!(render(&ListSchedulesResponse { schedules: vec![] }).contains("gust schedule add"));
    }
}
