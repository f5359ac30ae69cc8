//! Starts the real server on an ephemeral port and checks the Runtime API an instance
//! sees against AWS's runtime interface emulator: headers, environment, and the status
//! codes for wrong and repeated request ids.

use std::io::Write;
use std::time::Duration;

use base64::Engine;
use gust_server::{Isolation, ServeConfig, Server};

/// A custom runtime that probes the Runtime API and reports what it saw.
const BOOTSTRAP: &str = r#"#!/usr/bin/python3
import http.client, json, os
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
host, port = api.split(":")
c = http.client.HTTPConnection(host, int(port))
def call(method, path, body=None):
    c.request(method, "/2018-06-01/runtime" + path, body=body)
    r = c.getresponse()
    return r.status, r.getheaders(), r.read()
seen = {}
while True:
    status, headers, body = call("GET", "/invocation/next")
    h = {k.lower(): v for k, v in headers}
    rid = h["lambda-runtime-aws-request-id"]
    event = json.loads(body)
    if event.get("step") == 1:
        seen["wrong_id"] = call("POST", "/invocation/not-a-request/response", b"{}")[0]
        out = {"headers": h, "env": {k: v for k, v in os.environ.items()}, "cwd": os.getcwd()}
        seen["first"] = call("POST", "/invocation/%s/response" % rid, json.dumps(out).encode())[0]
        seen["repeat"] = call("POST", "/invocation/%s/response" % rid, b"{}")[0]
    elif event.get("step") == 2:
        call("POST", "/invocation/%s/response" % rid, json.dumps(seen).encode())
    elif event.get("step") == 3:
        call("POST", "/invocation/%s/error" % rid, b"not json",)
    else:
        call("POST", "/invocation/%s/response" % rid, body)
"#;

struct TestServer {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _data: tempfile::TempDir,
}

async fn start_server() -> TestServer {
    let data = tempfile::tempdir().unwrap();
    let server = Server::bind(ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().to_path_buf(),
        isolation: Isolation::None,
        memory_capacity_mb: 1024,
        idle_ttl: Duration::from_secs(60),
        freeze_idle_after: None,
        queue_timeout: Duration::from_secs(5),
        log_bytes_per_function: 1 << 20,
        region: "eu-west-1".into(),
        account_concurrency: 1000,
        access_keys: Default::default(),
        allow_second_rates: false,
        events: gust_server::EventsConfig::default(),
        connections: gust_api::ConnectionLimits::default(),
        url_style: gust_api::UrlStyleChoice::Auto,
        sdk_dir: None,
        cpu: Default::default(),
        tmp_disk_mb: None,
    })
    .await
    .unwrap();
    let url = format!("http://{}", server.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    TestServer {
        url,
        stop: Some(tx),
        task,
        _data: data,
    }
}

fn zip_with_bootstrap() -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
        z.start_file("bootstrap", opts).unwrap();
        z.write_all(BOOTSTRAP.as_bytes()).unwrap();
        z.finish().unwrap();
    }
    buf.into_inner()
}

async fn invoke(
    client: &reqwest::Client,
    url: &str,
    body: &str,
) -> (
    reqwest::StatusCode,
    reqwest::header::HeaderMap,
    serde_json::Value,
) {
    let resp = client
        .post(format!("{url}/2015-03-31/functions/probe/invocations"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let json = resp.json().await.unwrap();
    (status, headers, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_api_behaves_like_aws() {
    let mut server = start_server().await;
    let client = reqwest::Client::new();
    let zip = base64::engine::general_purpose::STANDARD.encode(zip_with_bootstrap());
    let create = client
        .post(format!("{}/2015-03-31/functions", server.url))
        .json(&serde_json::json!({
            "FunctionName": "probe",
            "Runtime": "provided.al2023",
            "Role": "arn:aws:iam::000000000000:role/x",
            "Code": {"ZipFile": zip},
            "MemorySize": 256,
            "Timeout": 7,
            "Environment": {"Variables": {"GREETING": "hi"}},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 201, "{}", create.text().await.unwrap());

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let (status, headers, first) = invoke(&client, &server.url, r#"{"step":1}"#).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-amz-executed-version"], "$LATEST");
    let h = &first["headers"];
    let arn = "arn:aws:lambda:eu-west-1:000000000000:function:probe";
    assert_eq!(h["lambda-runtime-invoked-function-arn"], arn);
    assert_eq!(
        h["lambda-runtime-aws-request-id"].as_str().unwrap(),
        headers["x-amzn-requestid"].to_str().unwrap()
    );
    let deadline: u64 = h["lambda-runtime-deadline-ms"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        deadline >= before + 6_000 && deadline <= before + 60_000,
        "deadline {deadline} vs {before}"
    );
    assert!(h["lambda-runtime-trace-id"]
        .as_str()
        .unwrap()
        .starts_with("Root=1-"));
    let env = &first["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "probe");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_REGION"], "eu-west-1");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/probe");
    assert_eq!(env["GREETING"], "hi");
    assert!(env["AWS_LAMBDA_LOG_STREAM_NAME"]
        .as_str()
        .unwrap()
        .contains("[$LATEST]"));
    assert_eq!(
        env["LAMBDA_TASK_ROOT"].as_str().unwrap(),
        first["cwd"].as_str().unwrap()
    );

    let (_, _, seen) = invoke(&client, &server.url, r#"{"step":2}"#).await;
    assert_eq!(seen["wrong_id"], 400, "unknown request id");
    assert_eq!(seen["first"], 202, "accepted response");
    assert_eq!(seen["repeat"], 403, "repeated response");

    // A non-JSON error body is wrapped in AWS's error shape.
    let (status, headers, err) = invoke(&client, &server.url, r#"{"step":3}"#).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-amz-function-error"], "Unhandled");
    assert_eq!(err["errorMessage"], "not json");

    // The instance survived all of it and still echoes.
    let (_, _, echo) = invoke(&client, &server.url, r#"{"step":4,"x":[1,2]}"#).await;
    assert_eq!(echo["x"], serde_json::json!([1, 2]));

    let _ = server.stop.take().unwrap().send(());
    server.task.await.unwrap();
}
