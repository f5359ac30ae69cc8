//! `gust url create|get|delete NAME`: a function's URL, the HTTP endpoint that serves
//! it to browsers and any HTTP client (Lambda's function URLs).

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;

use gust_wire::urls::{
    url_path, Cors, CreateFunctionUrlConfigRequest, FunctionUrlConfig, AUTH_IAM, AUTH_NONE,
};

use crate::client::{json_body, segment, Client};
use crate::output::{self, Output};
use crate::Ctx;

/// Arguments of `gust url`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  gust url create hello                       # public: anyone can call it
  gust url create api --auth iam              # SigV4-signed requests only
  gust url create web --cors-origin https://app.example --cors-origin http://localhost:3000
  gust url get hello
  gust url delete hello

The URL printed is http://<id>.lambda-url.<region>.localhost:<port>/ when this machine
resolves *.localhost for every program, else http://<server>/gust/v1/urls/<id>/, which
any client can fetch (gust serve --url-style picks; both forms always work). Requests reach the function as
Lambda's payload format 2.0 events, so Mangum, serverless-http and lambda_http apps
work unchanged.")]
pub struct UrlArgs {
    #[command(subcommand)]
    command: UrlCommand,
}

#[derive(Debug, Subcommand)]
enum UrlCommand {
    /// Give a function a URL.
    Create(CreateArgs),
    /// Show a function's URL and its settings.
    Get(Target),
    /// Remove a function's URL.
    Delete(Target),
}

/// Which function's URL.
#[derive(Debug, Args)]
struct Target {
    /// Function name or ARN.
    name: String,
    /// The alias (or $LATEST) the URL belongs to.
    #[arg(long)]
    qualifier: Option<String>,
}

/// `--auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Auth {
    /// Anyone may call the URL.
    None,
    /// Only requests signed with SigV4 by one of the server's access keys
    /// (`gust serve --access-key`).
    Iam,
}

#[derive(Debug, Args)]
struct CreateArgs {
    #[command(flatten)]
    target: Target,
    /// Who may call the URL.
    #[arg(long, value_enum, default_value_t = Auth::None)]
    auth: Auth,
    /// Origin allowed to call the URL from a browser (CORS); repeat for more, `*`
    /// for any.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
}

/// Runs `gust url`.
pub fn run(ctx: &Ctx, args: UrlArgs) -> Result<ExitCode> {
    let client = ctx.client()?;
    match args.command {
        UrlCommand::Create(a) => {
            let request = CreateFunctionUrlConfigRequest {
                auth_type: match a.auth {
                    Auth::None => AUTH_NONE,
                    Auth::Iam => AUTH_IAM,
                }
                .to_string(),
                cors: (!a.cors_origins.is_empty()).then(|| Cors {
                    allow_origins: Some(a.cors_origins.clone()),
                    allow_methods: Some(vec!["*".into()]),
                    allow_headers: Some(vec!["*".into()]),
                    ..Default::default()
                }),
                invoke_mode: None,
            };
            let builder = target(&client, Method::POST, &a.target)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json_body(&request));
            let response = client.send(builder)?;
            match ctx.output {
                Output::Json => output::print_raw(&response.body)?,
                Output::Table => {
                    let url: FunctionUrlConfigCreated = response.json()?;
                    println!("{}", url.function_url);
                }
            }
        }
        UrlCommand::Get(t) => {
            let response = client.send(target(&client, Method::GET, &t))?;
            match ctx.output {
                Output::Json => output::print_raw(&response.body)?,
                Output::Table => print!("{}", render(&response.json()?)),
            }
        }
        UrlCommand::Delete(t) => {
            client.send(target(&client, Method::DELETE, &t))?;
            if ctx.output == Output::Table {
                println!("deleted the URL of {}", t.name);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The part of CreateFunctionUrlConfig's answer the table shows.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FunctionUrlConfigCreated {
    function_url: String,
}

fn target(client: &Client, method: Method, t: &Target) -> reqwest::blocking::RequestBuilder {
    let mut builder = client.request(method, &url_path(&segment(&t.name)));
    if let Some(q) = &t.qualifier {
        builder = builder.query(&[("Qualifier", q)]);
    }
    builder
}

fn render(u: &FunctionUrlConfig) -> String {
    let origins = u
        .cors
        .as_ref()
        .and_then(|c| c.allow_origins.as_ref())
        .map(|o| o.join(", "))
        .unwrap_or_else(|| "-".into());
    output::key_values(&[
        ("URL", u.function_url.clone()),
        ("Function", u.function_arn.clone()),
        ("Auth", u.auth_type.clone()),
        ("CORS origins", origins),
        ("Created", u.creation_time.clone()),
    ])
}

/// After a deploy: with `create`, gives the function a public URL if it has none;
/// then prints the URL, if any. Returns it.
pub fn after_deploy(
    client: &Client,
    name: &str,
    create: bool,
    out: Output,
) -> Result<Option<String>> {
    let path = url_path(&segment(name));
    let existing = match client.send(client.request(Method::GET, &path)) {
        Ok(r) => Some(r.json::<FunctionUrlConfig>()?.function_url),
        Err(e) if e.error_type() == Some("ResourceNotFoundException") => None,
        Err(e) => return Err(e.into()),
    };
    let url = match (existing, create) {
        (Some(u), _) => Some(u),
        (None, false) => None,
        (None, true) => {
            let request = CreateFunctionUrlConfigRequest {
                auth_type: AUTH_NONE.into(),
                ..Default::default()
            };
            let builder = client
                .request(Method::POST, &path)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json_body(&request));
            Some(
                client
                    .send(builder)?
                    .json::<FunctionUrlConfigCreated>()?
                    .function_url,
            )
        }
    };
    if let (Some(u), Output::Table) = (&url, out) {
        println!("URL: {u}");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_settings() {
        let u = FunctionUrlConfig {
            function_url: "http://x.lambda-url.us-east-1.localhost:9000/".into(),
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            auth_type: "NONE".into(),
            cors: None,
            creation_time: "2024-01-01T00:00:00.000000Z".into(),
            last_modified_time: "2024-01-01T00:00:00.000000Z".into(),
            invoke_mode: "BUFFERED".into(),
        };
        let text = render(&u);
        assert!(
            text.starts_with("URL            http://x.lambda-url"),
            "{text}"
        );
        assert!(text.contains("CORS origins   -"), "{text}");
    }
}
