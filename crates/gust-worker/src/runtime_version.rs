//! The runtime version an instance reports when it starts, in Lambda's `INIT_START`
//! shape: `INIT_START Runtime Version: python:3.11.v7\tRuntime Version ARN:
//! arn:aws:lambda:<region>::runtime:<64 hex digits>`.
//!
//! Lambda numbers the releases of each runtime and names each release by an ARN.
//! A gust managed runtime is the host's interpreter running gust's bootstrap, so its
//! number is the interpreter's release within its line (Python 3.11.*N*, Node.js
//! 20.*N*), and the ARN's hash covers the interpreter's version and path and the
//! bootstrap's source: it changes exactly when what runs the function changes. A
//! `provided` runtime runs the archive's own bootstrap; gust adds only its sandbox,
//! so its release is gust's.

use sha2::{Digest, Sha256};

use gust_types::Runtime;

use crate::host::Interpreter;

/// The `INIT_START` line of an instance of `runtime`; `interpreter` is the host's
/// interpreter for a managed runtime (`None` for `provided` ones).
pub fn init_start_line(
    runtime: Runtime,
    interpreter: Option<&Interpreter>,
    region: &str,
) -> String {
    let (name, arn) = runtime_version(runtime, interpreter, region);
    format!("INIT_START Runtime Version: {name}\tRuntime Version ARN: {arn}")
}

/// (version name, version ARN), e.g. (`python:3.11.v7`, `arn:aws:lambda:...`).
fn runtime_version(
    runtime: Runtime,
    interpreter: Option<&Interpreter>,
    region: &str,
) -> (String, String) {
    let mut hash = Sha256::new();
    hash.update(runtime.as_str());
    hash.update([0]);
    let (family, release) = match runtime {
        Runtime::Python311 => ("python:3.11", 2),
        Runtime::Nodejs20 => ("nodejs:20", 1),
        Runtime::Provided => ("provided", 0),
        Runtime::ProvidedAl2 => ("provided:al2", 0),
        Runtime::ProvidedAl2023 => ("provided:al2023", 0),
    };
    let number = match interpreter {
        Some(interp) => {
            hash.update(&interp.version);
            hash.update([0]);
            hash.update(interp.executable.as_os_str().as_encoded_bytes());
            hash.update([0]);
            hash.update(match runtime {
                Runtime::Nodejs20 => gust_runtimes::NODE_BOOTSTRAP,
                _ => gust_runtimes::PYTHON_RUNTIME,
            });
            // The component of the version that numbers releases within the line.
            interp
                .version
                .split('.')
                .nth(release)
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        }
        None => {
            let gust = env!("CARGO_PKG_VERSION");
            hash.update(gust);
            // major.minor as one number: 0.1.x is v1, 1.2.x is v102.
            gust.split('.')
                .take(2)
                .map(|n| n.parse::<u64>().unwrap_or(0))
                .fold(0, |acc, n| acc * 100 + n)
        }
    };
    let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    (
        format!("{family}.v{number}"),
        format!("arn:aws:lambda:{region}::runtime:{digest}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn python(version: &str) -> Interpreter {
        Interpreter {
            executable: PathBuf::from("/usr/bin/python3.11"),
            prefix: PathBuf::from("/usr"),
            version: version.into(),
        }
    }

    #[test]
    fn lambdas_shape() {
        let line = init_start_line(Runtime::Python311, Some(&python("3.11.7")), "eu-south-1");
        let (version, arn) = line
            .strip_prefix("INIT_START Runtime Version: ")
            .and_then(|rest| rest.split_once("\tRuntime Version ARN: "))
            .unwrap();
        assert_eq!(version, "python:3.11.v7");
        let hex = arn
            .strip_prefix("arn:aws:lambda:eu-south-1::runtime:")
            .unwrap();
        assert_eq!(hex.len(), 64);
        assert!(hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn the_arn_changes_with_the_interpreter_and_only_then() {
        let arn = |v: &str| runtime_version(Runtime::Python311, Some(&python(v)), "r").1;
        assert_eq!(arn("3.11.7"), arn("3.11.7"));
        assert_ne!(arn("3.11.7"), arn("3.11.8"));
        let node = Interpreter {
            version: "20.19.2".into(),
            ..python("")
        };
        assert_eq!(
            runtime_version(Runtime::Nodejs20, Some(&node), "r").0,
            "nodejs:20.v19"
        );
        let (name, _) = runtime_version(Runtime::ProvidedAl2023, None, "r");
        assert!(name.starts_with("provided:al2023.v"), "{name}");
    }
}
