//! `gust workflow`: state machines from `.asl.json` files, their executions
//! started, followed live and shown, and their pictures (the Step Functions API on
//! the same address; `aws stepfunctions` and boto3 work too).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{Client, ClientError};
use crate::output::{self, Output};
use crate::Ctx;

const REGION_ACCOUNT: &str = "us-east-1:000000000000";
const ROLE: &str = "arn:aws:iam::000000000000:role/gust-workflow";

/// Arguments of `gust workflow`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gust workflow create booking booking.asl.json --monitor arn:aws:lambda:us-east-1:000000000000:function:monitor
  gust workflow start booking --input '{\"order\": 42}' --follow
  gust workflow executions booking
  gust workflow history booking/<execution-name>
  gust workflow graph booking/<execution-name> --out run.svg     # states coloured by status
  gust workflow delete booking

An execution is named by its ARN or as MACHINE/EXECUTION. boto3 and the AWS CLI use
the same endpoint: aws stepfunctions list-state-machines --endpoint-url http://127.0.0.1:9000")]
pub struct WorkflowArgs {
    #[command(subcommand)]
    command: WorkflowCommand,
}

#[derive(Debug, Subcommand)]
enum WorkflowCommand {
    /// Create a state machine from an Amazon States Language file, or update it.
    Create {
        /// The state machine's name.
        name: String,
        /// The definition (`.asl.json`).
        file: PathBuf,
        /// An Express machine (in memory, StartSyncExecution) instead of Standard.
        #[arg(long)]
        express: bool,
        /// A function that receives the executions' status changes (EventBridge's
        /// "Step Functions Execution Status Change" events), as the tag gust:monitor.
        #[arg(long, value_name = "FUNCTION_ARN")]
        monitor: Option<String>,
    },
    /// List state machines.
    List,
    /// Start an execution; print its ARN, or follow it to its end.
    Start {
        /// The state machine.
        name: String,
        /// The input (JSON).
        #[arg(long, default_value = "{}")]
        input: String,
        /// The execution's name (default: a UUID).
        #[arg(long)]
        execution: Option<String>,
        /// Follow the execution live and exit with its outcome.
        #[arg(long)]
        follow: bool,
    },
    /// Follow an execution live: each event as it happens, then its outcome.
    Follow {
        /// The execution (ARN or MACHINE/EXECUTION).
        execution: String,
    },
    /// List a state machine's executions, newest first.
    Executions {
        /// The state machine.
        name: String,
    },
    /// Show an execution's history.
    History {
        /// The execution (ARN or MACHINE/EXECUTION).
        execution: String,
    },
    /// Draw a state machine, or an execution with each state's status, as SVG.
    Graph {
        /// A state machine's name, or an execution (ARN or MACHINE/EXECUTION).
        target: String,
        /// Where to write the SVG (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Stop a running execution.
    Stop {
        /// The execution (ARN or MACHINE/EXECUTION).
        execution: String,
    },
    /// Restart a failed, stopped or timed-out execution from the state that failed.
    Redrive {
        /// The execution (ARN or MACHINE/EXECUTION).
        execution: String,
    },
    /// Delete a state machine (its executions stay readable).
    Delete {
        /// The state machine.
        name: String,
    },
}

fn machine_arn(name: &str) -> String {
    if name.starts_with("arn:") {
        name.to_string()
    } else {
        format!("arn:aws:states:{REGION_ACCOUNT}:stateMachine:{name}")
    }
}

fn execution_arn(target: &str) -> Result<String> {
    if target.starts_with("arn:") {
        return Ok(target.to_string());
    }
    match target.split_once('/') {
        Some((m, e)) if !m.is_empty() && !e.is_empty() => {
            Ok(format!("arn:aws:states:{REGION_ACCOUNT}:execution:{m}:{e}"))
        }
        _ => bail!("name an execution by its ARN or as MACHINE/EXECUTION, not '{target}'"),
    }
}

fn print(ctx: &Ctx, value: &Value) -> Result<()> {
    output::print_raw(serde_json::to_string_pretty(value)?.as_bytes())?;
    let _ = ctx;
    Ok(())
}

/// Runs `gust workflow`.
pub fn run(ctx: &Ctx, args: WorkflowArgs) -> Result<ExitCode> {
    let client = ctx.client()?;
    match args.command {
        WorkflowCommand::Create {
            name,
            file,
            express,
            monitor,
        } => {
            let definition = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let mut input = json!({
                "name": name,
                "definition": definition,
                "roleArn": ROLE,
                "type": if express { "EXPRESS" } else { "STANDARD" },
            });
            if let Some(m) = &monitor {
                input["tags"] = json!([{ "key": "gust:monitor", "value": m }]);
            }
            let arn = machine_arn(&name);
            let exists = client
                .states("DescribeStateMachine", &json!({ "stateMachineArn": arn }))
                .is_ok();
            if exists {
                client.states(
                    "UpdateStateMachine",
                    &json!({ "stateMachineArn": arn, "definition": definition }),
                )?;
                if let Some(m) = &monitor {
                    client.states(
                        "TagResource",
                        &json!({ "resourceArn": arn, "tags": [{ "key": "gust:monitor", "value": m }] }),
                    )?;
                }
                eprintln!("updated {arn}");
            } else {
                client.states("CreateStateMachine", &input)?;
                eprintln!("created {arn}");
            }
            println!("{arn}");
        }
        WorkflowCommand::List => {
            let out = client.states("ListStateMachines", &json!({}))?;
            match ctx.output {
                Output::Json => print(ctx, &out)?,
                Output::Table => {
                    let rows: Vec<Vec<String>> = out["stateMachines"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|m| {
                            vec![
                                m["name"].as_str().unwrap_or("").to_string(),
                                m["type"].as_str().unwrap_or("").to_string(),
                                m["stateMachineArn"].as_str().unwrap_or("").to_string(),
                            ]
                        })
                        .collect();
                    print!("{}", output::table(&["NAME", "TYPE", "ARN"], &rows));
                }
            }
        }
        WorkflowCommand::Start {
            name,
            input,
            execution,
            follow,
        } => {
            serde_json::from_str::<Value>(&input).context("--input is not JSON")?;
            let mut req = json!({ "stateMachineArn": machine_arn(&name), "input": input });
            if let Some(e) = execution {
                req["name"] = json!(e);
            }
            let out = client.states("StartExecution", &req)?;
            let arn = out["executionArn"].as_str().unwrap_or("").to_string();
            println!("{arn}");
            if follow {
                return follow_execution(&client, &arn);
            }
        }
        WorkflowCommand::Follow { execution } => {
            return follow_execution(&client, &execution_arn(&execution)?)
        }
        WorkflowCommand::Executions { name } => {
            let out = client.states(
                "ListExecutions",
                &json!({ "stateMachineArn": machine_arn(&name), "maxResults": 1000 }),
            )?;
            match ctx.output {
                Output::Json => print(ctx, &out)?,
                Output::Table => {
                    let rows: Vec<Vec<String>> = out["executions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| {
                            vec![
                                e["name"].as_str().unwrap_or("").to_string(),
                                e["status"].as_str().unwrap_or("").to_string(),
                                time_of(&e["startDate"]),
                                time_of(&e["stopDate"]),
                            ]
                        })
                        .collect();
                    print!(
                        "{}",
                        output::table(&["NAME", "STATUS", "STARTED", "STOPPED"], &rows)
                    );
                }
            }
        }
        WorkflowCommand::History { execution } => {
            let arn = execution_arn(&execution)?;
            let events = all_events(&client, &arn)?;
            match ctx.output {
                Output::Json => print(ctx, &json!({ "events": events }))?,
                Output::Table => {
                    for e in &events {
                        println!("{}", describe_event(e));
                    }
                }
            }
        }
        WorkflowCommand::Graph { target, out } => {
            let arn = if target.contains('/') || target.contains(":execution:") {
                execution_arn(&target)?
            } else {
                machine_arn(&target)
            };
            let resp = client.send(
                client
                    .request(Method::GET, "/gust/v1/workflows/graph")
                    .query(&[("arn", arn.as_str())]),
            )?;
            match out {
                Some(path) => {
                    std::fs::write(&path, &resp.body)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                None => output::print_raw(&resp.body)?,
            }
        }
        WorkflowCommand::Stop { execution } => {
            let out = client.states(
                "StopExecution",
                &json!({ "executionArn": execution_arn(&execution)? }),
            )?;
            print(ctx, &out)?;
        }
        WorkflowCommand::Redrive { execution } => {
            let out = client.states(
                "RedriveExecution",
                &json!({ "executionArn": execution_arn(&execution)? }),
            )?;
            print(ctx, &out)?;
        }
        WorkflowCommand::Delete { name } => {
            client.states(
                "DeleteStateMachine",
                &json!({ "stateMachineArn": machine_arn(&name) }),
            )?;
            eprintln!("deleted {}", machine_arn(&name));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn time_of(v: &Value) -> String {
    match v.as_f64() {
        Some(secs) => {
            let t = time::OffsetDateTime::from_unix_timestamp_nanos((secs * 1e9) as i128)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            format!(
                "{:02}:{:02}:{:02}.{:03}",
                t.hour(),
                t.minute(),
                t.second(),
                t.millisecond()
            )
        }
        None => "-".to_string(),
    }
}

fn all_events(client: &Client, arn: &str) -> Result<Vec<Value>, ClientError> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = json!({ "executionArn": arn, "maxResults": 1000 });
        if let Some(t) = &token {
            req["nextToken"] = json!(t);
        }
        let out = client.states("GetExecutionHistory", &req)?;
        events.extend(out["events"].as_array().cloned().unwrap_or_default());
        match out["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(events),
        }
    }
}

/// One line per event: id, time, type and what matters of its details.
fn describe_event(e: &Value) -> String {
    let kind = e["type"].as_str().unwrap_or("");
    let details = e.as_object().and_then(|o| {
        o.iter()
            .find(|(k, _)| k.ends_with("EventDetails"))
            .map(|(_, v)| v)
    });
    let mut what = String::new();
    if let Some(d) = details {
        for field in ["name", "resource", "error", "cause", "output", "index"] {
            if let Some(v) = d.get(field) {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let short: String = text.chars().take(120).collect();
                what.push_str(&format!(" {field}={short}"));
            }
        }
    }
    format!(
        "{:>5}  {}  {kind}{what}",
        e["id"].as_i64().unwrap_or(0),
        time_of(&e["timestamp"])
    )
}

/// Prints events as they come until the execution ends; the exit code says how.
fn follow_execution(client: &Client, arn: &str) -> Result<ExitCode> {
    let mut seen = 0usize;
    loop {
        let events = all_events(client, arn)?;
        for e in events.iter().skip(seen) {
            println!("{}", describe_event(e));
        }
        seen = events.len();
        let d = client.states("DescribeExecution", &json!({ "executionArn": arn }))?;
        let status = d["status"].as_str().unwrap_or("");
        if status != "RUNNING" {
            // Events of the end may have landed after the listing.
            let events = all_events(client, arn)?;
            for e in events.iter().skip(seen) {
                println!("{}", describe_event(e));
            }
            eprintln!("{status}");
            if let Some(o) = d["output"].as_str() {
                println!("{o}");
            }
            return Ok(if status == "SUCCEEDED" {
                ExitCode::SUCCESS
            } else {
                if let (Some(e), Some(c)) = (d["error"].as_str(), d["cause"].as_str()) {
                    eprintln!("{e}: {c}");
                }
                ExitCode::FAILURE
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
