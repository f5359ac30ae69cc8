//! `gust async`: what became of asynchronous (Event) invocations, and the built-in
//! queues that keep their records (destinations, dead letters, undeliverable).

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use reqwest::Method;

use gust_wire::events::{AsyncInvocationsResponse, QueueMessagesResponse, QueuesResponse};
use gust_wire::paths;

use crate::client::segment;
use crate::output::{self, Output};
use crate::Ctx;

/// Most characters of an error or destination shown in a table cell.
const CELL_MAX: usize = 60;

/// Arguments of `gust async`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gust async list hello                 # recent Event invocations of hello
  gust async queues                     # built-in queues and their sizes
  gust async queue failures             # records sent to arn:aws:sqs:REGION:ACCOUNT:failures
  gust async queue gust-undeliverable   # records gust could not deliver
  gust async purge failures

Invoke asynchronously with the AWS CLI or an SDK (InvocationType=Event); records go to
the destinations set with put-function-event-invoke-config. Any SQS queue ARN names a
gust built-in queue.")]
pub struct AsyncArgs {
    #[command(subcommand)]
    command: AsyncCommand,
}

#[derive(Debug, Subcommand)]
enum AsyncCommand {
    /// A function's recent asynchronous invocations: status, attempts, last error
    /// and where the record went.
    List {
        /// Function name.
        name: String,
        /// How many, most recent first.
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: usize,
    },
    /// The built-in queues that hold messages.
    Queues,
    /// The messages of a built-in queue, oldest first.
    Queue {
        /// Queue name (the last part of its SQS ARN).
        name: String,
        /// How many messages.
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
        /// Start after this position (the `seq` of a message already seen).
        #[arg(long, value_name = "SEQ", default_value_t = 0)]
        after: i64,
    },
    /// Deletes every message of a built-in queue.
    Purge {
        /// Queue name.
        name: String,
    },
}

/// Runs `gust async`.
pub fn run(ctx: &Ctx, args: AsyncArgs) -> Result<ExitCode> {
    let client = ctx.client()?;
    match args.command {
        AsyncCommand::List { name, limit } => {
            let path = format!("{}/functions/{}/async", paths::GUST_PREFIX, segment(&name));
            let response = client.send(
                client
                    .request(Method::GET, &path)
                    .query(&[("limit", limit)]),
            )?;
            if ctx.output == Output::Json {
                return print_raw(&response.body);
            }
            let listing: AsyncInvocationsResponse = response.json()?;
            if listing.invocations.is_empty() {
                println!("{name} has no recent asynchronous invocations");
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = listing
                .invocations
                .iter()
                .map(|i| {
                    vec![
                        i.request_id.clone(),
                        i.accepted_at.clone(),
                        i.status.clone(),
                        i.attempts.to_string(),
                        i.throttles.to_string(),
                        cell(i.last_error.as_deref()),
                        cell(i.destination.as_deref()),
                    ]
                })
                .collect();
            print!(
                "{}",
                output::table(
                    &[
                        "REQUEST ID",
                        "ACCEPTED",
                        "STATUS",
                        "ATTEMPTS",
                        "THROTTLES",
                        "LAST ERROR",
                        "RECORD SENT TO"
                    ],
                    &rows
                )
            );
        }
        AsyncCommand::Queues => {
            let path = format!("{}/queues", paths::GUST_PREFIX);
            let response = client.send(client.request(Method::GET, &path))?;
            if ctx.output == Output::Json {
                return print_raw(&response.body);
            }
            let queues: QueuesResponse = response.json()?;
            if queues.queues.is_empty() {
                println!("no built-in queue holds messages");
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = queues
                .queues
                .iter()
                .map(|q| vec![q.name.clone(), q.messages.to_string()])
                .collect();
            print!("{}", output::table(&["QUEUE", "MESSAGES"], &rows));
        }
        AsyncCommand::Queue { name, limit, after } => {
            let path = format!("{}/queues/{}/messages", paths::GUST_PREFIX, segment(&name));
            let response = client.send(
                client
                    .request(Method::GET, &path)
                    .query(&[("limit", limit.to_string()), ("after", after.to_string())]),
            )?;
            if ctx.output == Output::Json {
                return print_raw(&response.body);
            }
            let page: QueueMessagesResponse = response.json()?;
            if page.messages.is_empty() {
                println!("queue {name} has no messages after position {after}");
                return Ok(ExitCode::SUCCESS);
            }
            for m in &page.messages {
                println!("--- seq {}  sent {}  id {}", m.seq, m.sent_at, m.message_id);
                for (key, attr) in &m.message_attributes {
                    println!("{key}: {}", attr.string_value);
                }
                println!("{}", pretty(&m.body));
            }
        }
        AsyncCommand::Purge { name } => {
            let path = format!("{}/queues/{}/messages", paths::GUST_PREFIX, segment(&name));
            let response = client.send(client.request(Method::DELETE, &path))?;
            if ctx.output == Output::Json {
                return print_raw(&response.body);
            }
            let deleted = serde_json::from_slice::<serde_json::Value>(&response.body)
                .ok()
                .and_then(|v| v.get("deleted").and_then(serde_json::Value::as_u64))
                .unwrap_or(0);
            println!("deleted {deleted} messages from queue {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_raw(body: &[u8]) -> Result<ExitCode> {
    output::print_raw(body)?;
    Ok(ExitCode::SUCCESS)
}

/// A table cell: `-` when empty, shortened when long, on one line.
fn cell(value: Option<&str>) -> String {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return "-".into();
    };
    let one_line = v.replace(['\n', '\r'], " ");
    match one_line.char_indices().nth(CELL_MAX) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

/// A JSON body, indented; anything else as it is.
fn pretty(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_short_single_lines() {
        assert_eq!(cell(None), "-");
        assert_eq!(cell(Some("")), "-");
        assert_eq!(cell(Some("a\nb")), "a b");
        let long = "x".repeat(100);
        assert_eq!(cell(Some(&long)).chars().count(), CELL_MAX + 1);
    }

    #[test]
    fn bodies_are_indented_when_json() {
        assert_eq!(pretty("{\"a\":1}"), "{\n  \"a\": 1\n}");
        assert_eq!(pretty("not json"), "not json");
    }
}
