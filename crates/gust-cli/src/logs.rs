//! `gust logs NAME`: a function's recent log records, optionally followed live.

use std::collections::VecDeque;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use reqwest::Method;

use gust_wire::gust::{LogEvent, LogsResponse};
use gust_wire::paths;

use crate::client::{segment, Client};
use crate::output::Output;
use crate::Ctx;

/// Records asked for per request while catching up.
const PAGE: usize = 1000;
/// How long the server may hold a `--follow` request open.
const WAIT_SECS: u64 = 20;
/// Client-side limit on one long poll: the server's wait plus slack.
const POLL_TIMEOUT: Duration = Duration::from_secs(WAIT_SECS + 30);
/// Pause before asking again after a failed request while following for `gust dev`.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Arguments of `gust logs`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gust logs hello
  gust logs hello --limit 20
  gust logs hello --follow            # stop with Ctrl-C
  gust logs hello --output json | jq -r .requestId")]
pub struct LogsArgs {
    /// Function name.
    name: String,

    /// Keep printing new records as they arrive, until Ctrl-C.
    #[arg(short, long)]
    follow: bool,

    /// How many of the most recent records to print first.
    #[arg(long, value_name = "N", default_value_t = 100)]
    limit: usize,
}

/// Runs `gust logs`.
pub fn run(ctx: &Ctx, args: LogsArgs) -> Result<ExitCode> {
    let client = ctx.client()?;
    let path = paths::logs(&segment(&args.name));

    // Page through what is stored, keeping the last `limit` records: this works
    // whether or not the server starts from the oldest record.
    let mut tail: VecDeque<LogEvent> = VecDeque::with_capacity(args.limit.min(PAGE));
    let mut after: Option<u64> = None;
    loop {
        let page = fetch(&client, &path, after, None)?;
        let advanced = after.is_none_or(|a| page.next_seq > a);
        let empty = page.events.is_empty();
        for event in page.events {
            if args.limit == 0 {
                break;
            }
            if tail.len() == args.limit {
                tail.pop_front();
            }
            tail.push_back(event);
        }
        after = Some(page.next_seq);
        if empty || !advanced {
            break;
        }
    }
    print_events(ctx.output, tail.iter())?;

    if args.follow {
        loop {
            let page = fetch(&client, &path, after, Some(WAIT_SECS))?;
            print_events(ctx.output, page.events.iter())?;
            after = Some(page.next_seq);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the records a function writes from now on, until the process ends
/// (`gust dev` runs this on a thread of its own). Unlike `--follow`, it outlives
/// errors: the function may not exist yet (its first deploy failed) or the server
/// may restart, and the developer still wants the logs once it is back.
pub(crate) fn follow_from_now(client: &Client, name: &str, mode: Output) {
    let path = paths::logs(&segment(name));
    let mut after: Option<u64> = None;
    loop {
        let result = match after {
            // First skip what is already stored: only new records are news.
            None => skip_to_end(client, &path).map(Some),
            Some(seq) => fetch(client, &path, Some(seq), Some(WAIT_SECS)).and_then(|page| {
                print_events(mode, page.events.iter())?;
                Ok(Some(page.next_seq))
            }),
        };
        match result {
            Ok(next) => after = next,
            Err(_) => std::thread::sleep(RETRY_AFTER),
        }
    }
}

/// The sequence number after the last stored record.
fn skip_to_end(client: &Client, path: &str) -> Result<u64> {
    let mut after: Option<u64> = None;
    loop {
        let page = fetch(client, path, after, None)?;
        let advanced = after.is_none_or(|a| page.next_seq > a);
        if page.events.is_empty() || !advanced {
            return Ok(page.next_seq);
        }
        after = Some(page.next_seq);
    }
}

fn fetch(
    client: &Client,
    path: &str,
    after: Option<u64>,
    wait: Option<u64>,
) -> Result<LogsResponse> {
    let mut query = vec![("limit", PAGE.to_string())];
    if let Some(after) = after {
        query.push(("after", after.to_string()));
    }
    let mut builder = client.request(Method::GET, path).query(&query);
    if let Some(wait) = wait {
        builder = builder.query(&[("wait", wait)]).timeout(POLL_TIMEOUT);
    }
    Ok(client.send(builder)?.json()?)
}

fn print_events<'a>(mode: Output, events: impl Iterator<Item = &'a LogEvent>) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    for event in events {
        match mode {
            Output::Table => writeln!(stdout, "{}", event.message),
            Output::Json => writeln!(
                stdout,
                "{}",
                serde_json::to_string(event).context("formatting a log record")?
            ),
        }
        .context("writing to stdout")?;
    }
    stdout.flush().context("writing to stdout")
}
