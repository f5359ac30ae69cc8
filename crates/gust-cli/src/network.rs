//! `gust network get|set NAME`: what a function's instances may reach beyond their
//! Runtime API (gust-only: Lambda's equivalent is a VPC configuration).

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;

use gust_wire::gust::NetworkConfig;
use gust_wire::paths;

use crate::client::{json_body, segment, Client, Response};
use crate::output::{self, Output};
use crate::Ctx;

/// Arguments of `gust network`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gust network get fetcher
  gust network set fetcher --outbound on
  gust network set fetcher --outbound off
  gust deploy fetcher.py --outbound on          # the same, at deploy time

In the Linux sandbox an instance reaches only its own Runtime API. With outbound
network on, the function's new instances get a link to the host with NAT beyond it:
they reach what the host reaches, except the host's loopback (the gust API included)
and other instances. Changing the setting retires the function's warm instances, so
none keeps the network it had. It applies to every version of the function.")]
pub struct NetworkArgs {
    #[command(subcommand)]
    command: NetworkCommand,
}

#[derive(Debug, Subcommand)]
enum NetworkCommand {
    /// Show a function's network setting.
    Get {
        /// Function name or ARN (not a version or alias: the setting is the
        /// function's).
        name: String,
    },
    /// Change a function's network setting.
    Set {
        /// Function name or ARN.
        name: String,
        /// on: its new instances reach the network through NAT from the host;
        /// off: only their own loopback.
        #[arg(long, value_enum, value_name = "on|off")]
        outbound: Switch,
    },
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    fn is_on(self) -> bool {
        self == Switch::On
    }
}

/// Runs `gust network`.
pub fn run(ctx: &Ctx, args: NetworkArgs) -> Result<ExitCode> {
    let client = ctx.client()?;
    match args.command {
        NetworkCommand::Get { name } => {
            let response =
                client.send(client.request(Method::GET, &paths::network(&segment(&name))))?;
            match ctx.output {
                Output::Json => output::print_raw(&response.body)?,
                Output::Table => print!("{}", render(&response.json()?)),
            }
        }
        NetworkCommand::Set { name, outbound } => {
            let response = put(&client, &name, outbound)?;
            match ctx.output {
                Output::Json => output::print_raw(&response.body)?,
                Output::Table => {
                    let config: NetworkConfig = response.json()?;
                    println!(
                        "outbound network {} for {name}; new instances start with it",
                        on_off(config.outbound)
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn put(client: &Client, name: &str, outbound: Switch) -> Result<Response> {
    let request = NetworkConfig {
        outbound: outbound.is_on(),
    };
    let builder = client
        .request(Method::PUT, &paths::network(&segment(name)))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(json_body(&request));
    Ok(client.send(builder)?)
}

/// After a deploy with `--outbound`: sets it, and says so in table output.
pub fn after_deploy(client: &Client, name: &str, outbound: Switch, out: Output) -> Result<()> {
    put(client, name, outbound).with_context(|| {
        format!(
            "{name} was deployed, but setting its outbound network failed; \
             retry with: gust network set {name} --outbound {}",
            on_off(outbound.is_on())
        )
    })?;
    if out == Output::Table {
        println!("outbound network: {}", on_off(outbound.is_on()));
    }
    Ok(())
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

fn render(config: &NetworkConfig) -> String {
    let outbound = match config.outbound {
        true => "on (NAT through the host; not its loopback, not other instances)",
        false => "off (the instance's own loopback only)",
    };
    output::key_values(&[("Outbound", outbound.to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_setting() {
        assert!(render(&NetworkConfig { outbound: true }).starts_with("Outbound   on (NAT"));
        assert!(render(&NetworkConfig { outbound: false }).starts_with("Outbound   off"));
    }
}
