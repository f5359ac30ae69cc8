//! The reference handlers and the few Lambda API calls the bench makes to deploy and
//! remove them (CreateFunction, DeleteFunction) and to read gust's health.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine;
use clap::ValueEnum;
use gust_wire::gust::Health;
use gust_wire::lambda::{CreateFunctionRequest, FunctionCode};
use serde::Serialize;

use crate::http::{Conn, Request};

/// The Python `noop` handler (bench/handlers/noop.py).
pub const NOOP_PY: &str = include_str!("../../../bench/handlers/noop.py");
/// The Node.js `noop` handler (bench/handlers/noop.js).
pub const NOOP_JS: &str = include_str!("../../../bench/handlers/noop.js");

/// How long one management call may take.
const MANAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// A managed runtime the reference handler exists for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// `python3.11`.
    Python,
    /// `nodejs20.x`.
    Node,
}

impl Runtime {
    /// Short name used in target names and file names.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Python => "python",
            Runtime::Node => "node",
        }
    }

    /// Lambda runtime identifier.
    pub fn lambda_id(self) -> &'static str {
        match self {
            Runtime::Python => "python3.11",
            Runtime::Node => "nodejs20.x",
        }
    }

    /// File name of the handler source.
    pub fn handler_file(self) -> &'static str {
        match self {
            Runtime::Python => "noop.py",
            Runtime::Node => "noop.js",
        }
    }

    /// Handler source.
    pub fn handler_source(self) -> &'static str {
        match self {
            Runtime::Python => NOOP_PY,
            Runtime::Node => NOOP_JS,
        }
    }
}

/// A zip archive holding the runtime's `noop` handler, base64-encoded.
pub fn noop_zip_base64(runtime: Runtime) -> Result<String> {
    zip_base64(runtime.handler_file(), runtime.handler_source())
}

/// A zip archive holding one file, base64-encoded.
pub fn zip_base64(file: &str, source: &str) -> Result<String> {
    let mut bytes = Vec::new();
    {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(&mut bytes));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o644);
        zip.start_file(file, options)?;
        zip.write_all(source.as_bytes())?;
        zip.finish()?;
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A client of one endpoint's management API.
#[derive(Debug)]
pub struct Manager {
    addr: SocketAddr,
    conn: Conn,
    /// MemorySize of the functions [`create`](Self::create) makes.
    function_memory_mb: u32,
}

impl Manager {
    /// A client of the Lambda API at `addr`; functions it creates get 128 MB.
    pub fn new(addr: SocketAddr) -> Manager {
        Manager {
            addr,
            conn: Conn::new(addr),
            function_memory_mb: 128,
        }
    }

    /// The same, creating functions of `mb` MB.
    pub fn with_function_memory(mut self, mb: u32) -> Manager {
        self.function_memory_mb = mb;
        self
    }

    /// One request of the management API: its status and body.
    pub fn call(&mut self, method: &str, path: &str, body: &[u8]) -> Result<(u16, String)> {
        let req = Request::new(method, self.addr, path, body);
        let reply = self
            .conn
            .call(&req, Some(Instant::now() + MANAGE_TIMEOUT))
            .with_context(|| format!("{method} {path} on {}", self.addr))?;
        Ok((
            reply.status,
            String::from_utf8_lossy(self.conn.body()).into_owned(),
        ))
    }

    /// Creates `name` with the runtime's `noop` handler (replacing any leftover of
    /// an earlier run with the same name).
    pub fn create_noop(&mut self, name: &str, runtime: Runtime, zip_b64: &str) -> Result<()> {
        self.create(name, runtime, "noop.handler", zip_b64)
    }

    /// Creates `name` from a zip archive with the given handler and this manager's
    /// memory size (replacing any leftover of an earlier run with the same name).
    pub fn create(
        &mut self,
        name: &str,
        runtime: Runtime,
        handler: &str,
        zip_b64: &str,
    ) -> Result<()> {
        let request = CreateFunctionRequest {
            function_name: name.to_string(),
            runtime: Some(runtime.lambda_id().to_string()),
            handler: Some(handler.to_string()),
            role: Some("arn:aws:iam::000000000000:role/gust-bench".to_string()),
            memory_size: Some(self.function_memory_mb),
            timeout: Some(10),
            code: FunctionCode {
                zip_file: Some(zip_b64.to_string()),
                ..FunctionCode::default()
            },
            ..CreateFunctionRequest::default()
        };
        let body = serde_json::to_vec(&request)?;
        let path = gust_wire::paths::LAMBDA_PREFIX;
        let (status, text) = self.call("POST", path, &body)?;
        if status == 409 {
            self.delete(name)?;
            let (status, text) = self.call("POST", path, &body)?;
            if status != 201 && status != 200 {
                bail!("creating function {name}: HTTP {status}: {text}");
            }
        } else if status != 201 && status != 200 {
            bail!("creating function {name}: HTTP {status}: {text}");
        }
        Ok(())
    }

    /// Deletes `name`; a function that is already gone is fine.
    pub fn delete(&mut self, name: &str) -> Result<()> {
        let (status, text) = self.call("DELETE", &gust_wire::paths::function(name), b"")?;
        if status != 204 && status != 200 && status != 404 {
            bail!("deleting function {name}: HTTP {status}: {text}");
        }
        Ok(())
    }

    /// gust's `/gust/v1/health`; `None` from an endpoint that is not gust.
    pub fn health(&mut self) -> Option<Health> {
        let path = format!("{}/health", gust_wire::paths::GUST_PREFIX);
        let (status, text) = self.call("GET", &path, b"").ok()?;
        if status != 200 {
            return None;
        }
        serde_json::from_str(&text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noop_archive_holds_the_handler() {
        let b64 = noop_zip_base64(Runtime::Python).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("noop.py").unwrap(), &mut text).unwrap();
        assert!(text.contains("def handler"));
        assert!(NOOP_JS.contains("exports.handler"));
    }
}
