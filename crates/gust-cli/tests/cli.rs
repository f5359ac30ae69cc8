//! Runs the built `gust` binary the way a user does, without a server.

use std::net::TcpListener;
use std::process::{Command, Output};

fn gust(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gust"))
        .args(args)
        .env_remove("GUST_ENDPOINT")
        .output()
        .expect("running gust")
}

/// An endpoint on which nothing listens: bind a free port, then release it.
fn closed_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn unreachable_server_is_explained() {
    let endpoint = closed_endpoint();
    for args in [vec!["list"], vec!["health"], vec!["invoke", "hello"]] {
        let mut full = vec!["--endpoint", endpoint.as_str()];
        full.extend(args.iter().copied());
        let out = gust(&full);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "cannot reach gust at {endpoint} (connection refused). Is `gust serve` running? \
                 Set --endpoint or GUST_ENDPOINT to point elsewhere."
            )),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn endpoint_comes_from_the_environment() {
    let endpoint = closed_endpoint();
    let out = Command::new(env!("CARGO_BIN_EXE_gust"))
        .arg("health")
        .env("GUST_ENDPOINT", &endpoint)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot reach gust at {endpoint}")),
        "{stderr}"
    );
}

#[test]
fn invalid_payload_is_refused_before_connecting() {
    let out = gust(&["--endpoint", &closed_endpoint(), "invoke", "hello", "{oops"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the payload is not valid JSON"), "{stderr}");
}

#[test]
fn help_lists_commands_but_not_the_sandbox_entry() {
    let out = gust(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for command in [
        "serve", "deploy", "invoke", "list", "get", "delete", "logs", "health",
    ] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
    assert!(!help.contains("sandbox"), "{help}");
}

#[test]
fn every_command_has_help_with_an_example() {
    for command in [
        "serve", "deploy", "invoke", "list", "get", "delete", "logs", "health",
    ] {
        let out = gust(&[command, "--help"]);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command}: {help}");
        assert!(help.contains("Examples:"), "{command}:\n{help}");
        assert!(
            help.contains(&format!("gust {command}")),
            "{command}:\n{help}"
        );
    }
    let deploy = gust(&["deploy", "--help"]);
    let help = String::from_utf8_lossy(&deploy.stdout);
    for flag in [
        "--name",
        "--runtime",
        "--handler",
        "--memory",
        "--timeout",
        "--env",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn deploy_of_a_missing_path_says_what_to_pass() {
    let out = gust(&[
        "--endpoint",
        &closed_endpoint(),
        "deploy",
        "/nonexistent/app.py",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot read /nonexistent/app.py"),
        "{stderr}"
    );
}
