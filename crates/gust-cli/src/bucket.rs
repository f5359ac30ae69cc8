//! `gust bucket list|ls|connect|disconnect`: buckets, their objects, and the
//! functions their writes invoke (gust's JSON view; `aws s3` and `aws s3api` speak
//! the S3 API on the same address).

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use reqwest::Method;

use gust_wire::buckets::{BucketList, ObjectList, Trigger, TriggerRequest};
use gust_wire::paths;

use crate::client::{json_body, segment, Client};
use crate::output::{self, Output};
use crate::Ctx;

/// Arguments of `gust bucket`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gust bucket list
  gust bucket ls photos --prefix 2026/
  gust bucket connect photos resize --suffix .jpg        # creates photos if needed
  gust bucket connect uploads audit --events s3:ObjectRemoved:*
  gust bucket disconnect photos resize
  gust deploy resize.py --bucket photos --bucket-suffix .jpg   # the same, at deploy time

Objects themselves are read and written with the S3 API on the same address:
  aws s3 cp cat.jpg s3://photos/ --endpoint-url http://127.0.0.1:9000")]
pub struct BucketArgs {
    #[command(subcommand)]
    command: BucketCommand,
}

#[derive(Debug, Subcommand)]
enum BucketCommand {
    /// List buckets and the functions they trigger.
    List,
    /// List a bucket's objects.
    Ls {
        /// The bucket.
        bucket: String,
        /// Only keys starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// Invoke a function (asynchronously, with S3's event record) when objects
    /// are written to a bucket, or removed from it.
    Connect {
        /// The bucket (created if it does not exist).
        bucket: String,
        /// The function (name or ARN).
        function: String,
        #[command(flatten)]
        filter: Filter,
    },
    /// Stop invoking a function for a bucket's writes.
    Disconnect {
        /// The bucket.
        bucket: String,
        /// The function (name or ARN).
        function: String,
    },
}

/// Which writes invoke the function.
#[derive(Debug, Clone, Default, Args)]
pub struct Filter {
    /// Only keys starting with this.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Only keys ending with this.
    #[arg(long)]
    pub suffix: Option<String>,
    /// S3 event types [default: s3:ObjectCreated:*]; repeat or separate with commas.
    #[arg(long, value_delimiter = ',')]
    pub events: Vec<String>,
}

/// Runs `gust bucket`.
pub fn run(ctx: &Ctx, args: BucketArgs) -> Result<ExitCode> {
    let client = ctx.client()?;
    match args.command {
        BucketCommand::List => {
            let response = client.send(client.request(Method::GET, &paths::buckets()))?;
            match ctx.output {
                Output::Json => output::print_raw(&response.body)?,
                Output::Table => {
                    let list: BucketList = response.json()?;
                    let rows: Vec<Vec<String>> = list
                        .buckets
                        .iter()
                        .map(|b| {
                            vec![
                                b.name.clone(),
                                b.created.clone(),
                                b.triggers
                                    .iter()
                                    .map(describe)
                                    .collect::<Vec<_>>()
                                    .join("; "),
                            ]
                        })
                        .collect();
                    print!("{}", output::table(&["NAME", "CREATED", "TRIGGERS"], &rows));
                }
            }
        }
        BucketCommand::Ls { bucket, prefix } => ls(ctx, &client, &bucket, &prefix)?,
        BucketCommand::Connect {
            bucket,
            function,
            filter,
        } => connect(&client, &bucket, &function, &filter, ctx.output)?,
        BucketCommand::Disconnect { bucket, function } => {
            let response = client.send(client.request(
                Method::DELETE,
                &paths::bucket_trigger(&segment(&bucket), &segment(&function)),
            ))?;
            match ctx.output {
                Output::Json => output::print_raw(&response.body)?,
                Output::Table => println!("{function} is no longer invoked by {bucket}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(t: &Trigger) -> String {
    let function = t.function_arn.rsplit(':').next().unwrap_or(&t.function_arn);
    let mut filter = Vec::new();
    if let Some(p) = &t.prefix {
        filter.push(format!("{p}*"));
    }
    if let Some(s) = &t.suffix {
        filter.push(format!("*{s}"));
    }
    let on = if filter.is_empty() {
        String::new()
    } else {
        format!(" on {}", filter.join(" "))
    };
    format!("{function} ({}){on}", t.events.join(","))
}

fn ls(ctx: &Ctx, client: &Client, bucket: &str, prefix: &str) -> Result<()> {
    let mut after = String::new();
    let mut rows = Vec::new();
    loop {
        let builder = client
            .request(Method::GET, &paths::bucket_objects(&segment(bucket)))
            .query(&[("prefix", prefix), ("after", after.as_str())]);
        let response = client.send(builder)?;
        if ctx.output == Output::Json {
            output::print_raw(&response.body)?;
        }
        let page: ObjectList = response.json()?;
        for o in &page.objects {
            rows.push(vec![
                o.last_modified.clone(),
                o.size.to_string(),
                o.key.clone(),
            ]);
        }
        match page.next_after {
            Some(next) => after = next,
            None => break,
        }
    }
    if ctx.output == Output::Table {
        print!(
            "{}",
            output::table(&["LAST MODIFIED", "SIZE", "KEY"], &rows)
        );
    }
    Ok(())
}

fn connect(
    client: &Client,
    bucket: &str,
    function: &str,
    filter: &Filter,
    out: Output,
) -> Result<()> {
    let request = TriggerRequest {
        events: filter.events.clone(),
        prefix: filter.prefix.clone(),
        suffix: filter.suffix.clone(),
    };
    let builder = client
        .request(
            Method::PUT,
            &paths::bucket_trigger(&segment(bucket), &segment(function)),
        )
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(json_body(&request));
    let response = client.send(builder)?;
    match out {
        Output::Json => output::print_raw(&response.body)?,
        Output::Table => {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "PascalCase")]
            struct Connected {
                trigger: Trigger,
                bucket_created: bool,
            }
            let c: Connected = response.json()?;
            if c.bucket_created {
                println!("created bucket {bucket}");
            }
            println!("{bucket} invokes {}", describe(&c.trigger));
        }
    }
    Ok(())
}

/// After a deploy with `--bucket`: connects the function, and says so.
pub fn after_deploy(
    client: &Client,
    function: &str,
    bucket: &str,
    filter: &Filter,
    out: Output,
) -> Result<()> {
    connect(client, bucket, function, filter, out).with_context(|| {
        format!(
            "{function} was deployed, but connecting it to bucket {bucket} failed; retry \
             with: gust bucket connect {bucket} {function}"
        )
    })
}
