//! `gust bench storage`: the object store's throughput, PUT and GET of 4 KB objects
//! (operations per second, several connections) and of 256 MB objects (MB/s, one
//! connection), against a direct baseline measured in the same run on the same
//! disk: a minimal HTTP server in this process that writes each PUT body to a file
//! (synced, as gust syncs every object) and serves GETs from it, driven by the same
//! client. With `--peer moto`, moto's S3 server (PyPI `moto[server]`) is measured
//! the same way.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde::Serialize;

use crate::args::CommonArgs;
use crate::progress;
use crate::session::{ClientCost, GustDefaults, Session};
use crate::table::{self, Table};

/// `gust bench storage`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  gust bench storage
  gust bench storage --small 5000 --large-mb 512 --connections 8
  gust bench storage --peer moto      # needs moto_server (pip install 'moto[server]')")]
pub struct StorageArgs {
    /// Small objects written, then read, per target [default: 3000; quick: 300].
    #[arg(long, value_name = "N")]
    pub small: Option<u32>,
    /// Size of a small object, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 4096)]
    pub small_bytes: usize,
    /// Size of the large object, in MB [default: 256; quick: 32].
    #[arg(long, value_name = "MB")]
    pub large_mb: Option<u64>,
    /// Times the large object is written and read.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub large_repeats: u32,
    /// Connections the small-object phase uses at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub connections: u32,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct Config {
    small: u32,
    small_bytes: usize,
    large_bytes: u64,
    large_repeats: u32,
    connections: u32,
}

#[derive(Debug, Serialize)]
struct TargetResult {
    target: String,
    small_put_per_s: f64,
    small_get_per_s: f64,
    small_failed: u64,
    large_put_mb_s: f64,
    large_get_mb_s: f64,
}

/// Where a target takes S3-shaped requests: `PUT/GET /<bucket>/<key>`.
struct Endpoint {
    name: String,
    addr: SocketAddr,
    bucket: String,
}

/// Runs the protocol.
pub fn run(args: StorageArgs) -> Result<()> {
    let quick = args.common.quick;
    let small = args.small.unwrap_or(if quick { 300 } else { 3000 });
    let large_bytes = args.large_mb.unwrap_or(if quick { 32 } else { 256 }) << 20;
    let mut s = Session::open(
        "storage",
        &args.common,
        GustDefaults {
            idle_ttl: Duration::from_secs(60),
            memory_mb: 1024,
            queue_timeout: Duration::from_secs(10),
            pss_every: 0,
        },
    )?;
    let bucket = format!("bench-{}", std::process::id());
    let gust = Endpoint {
        name: s.gust_label().to_string(),
        addr: s.gust_addr(),
        bucket: bucket.clone(),
    };
    create_bucket(&gust).context("creating the benchmark's bucket in gust")?;
    let direct_dir = s.work.path().join("direct");
    std::fs::create_dir_all(&direct_dir)?;
    let direct = DirectServer::start(&direct_dir)?;
    let mut endpoints = vec![
        gust,
        Endpoint {
            name: "direct".into(),
            addr: direct.addr,
            bucket: "b".into(),
        },
    ];
    let mut _peer = None;
    if let Some(peer) = args.common.peer {
        if peer != crate::peer::PeerKind::Moto {
            bail!("gust bench storage measures an S3 server: --peer moto");
        }
        match start_moto(&s) {
            Ok((process, addr)) => {
                let ep = Endpoint {
                    name: "moto".into(),
                    addr,
                    bucket: bucket.clone(),
                };
                create_bucket(&ep).context("creating the bucket in moto")?;
                endpoints.push(ep);
                _peer = Some(process);
            }
            Err(e) => s.note(format!("moto not measured: {e:#}")),
        }
    }
    let mut client = ClientCost::default();
    let mut results = Vec::new();
    for (i, ep) in endpoints.iter().enumerate() {
        s.phase(&format!("storage {}", ep.name));
        match measure(ep, &args, small, large_bytes, &mut client) {
            Ok(r) => results.push(r),
            // gust and the baseline must work; a peer that fails is noted.
            Err(e) if i >= 2 => s.note(format!("{} not measured: {e:#}", ep.name)),
            Err(e) => return Err(e),
        }
    }
    let samples = s.finish_sampling();
    let config = Config {
        small,
        small_bytes: args.small_bytes,
        large_bytes,
        large_repeats: args.large_repeats,
        connections: args.connections,
    };
    let path = s.write_result(&config, &results, &client, &samples)?;
    print_summary(&results, &config);
    println!("results: {}", path.display());
    s.close()
}

fn measure(
    ep: &Endpoint,
    args: &StorageArgs,
    small: u32,
    large_bytes: u64,
    client: &mut ClientCost,
) -> Result<TargetResult> {
    let body = vec![b's'; args.small_bytes];
    let conns = args.connections.max(1);
    let bar = progress::counter(u64::from(small) * 2, &format!("{} small objects", ep.name));
    let failed = Arc::new(AtomicU64::new(0));
    let mut rates = [0.0f64; 2];
    for (phase, method) in ["PUT", "GET"].iter().enumerate() {
        let next = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        let cpu0 = crate::procfs::thread_cpu_ns();
        std::thread::scope(|scope| {
            for _ in 0..conns {
                let (next, failed, body, bar) = (next.clone(), failed.clone(), &body, &bar);
                scope.spawn(move || {
                    let mut conn = Client::new(ep.addr);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= u64::from(small) {
                            return;
                        }
                        let path = format!("/{}/small-{i:06}", ep.bucket);
                        let ok = match *method {
                            "PUT" => conn.put(&path, body).is_ok(),
                            _ => conn.get(&path).is_ok_and(|n| n == body.len() as u64),
                        };
                        if !ok {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        bar.inc(1);
                    }
                });
            }
        });
        let elapsed = t0.elapsed();
        client.add(
            crate::procfs::thread_cpu_ns() - cpu0,
            elapsed,
            u64::from(small),
        );
        rates[phase] = f64::from(small) / elapsed.as_secs_f64();
    }
    bar.finish_and_clear();
    let big = vec![b'L'; 1 << 20];
    let (mut put_s, mut get_s) = (0.0, 0.0);
    let repeats = args.large_repeats.max(1);
    let bar = progress::counter(u64::from(repeats) * 2, &format!("{} large object", ep.name));
    for r in 0..repeats {
        let path = format!("/{}/large-{r}", ep.bucket);
        let mut conn = Client::new(ep.addr);
        let t0 = Instant::now();
        conn.put_stream(&path, &big, large_bytes)
            .with_context(|| format!("{}: PUT of the large object", ep.name))?;
        put_s += t0.elapsed().as_secs_f64();
        bar.inc(1);
        let t0 = Instant::now();
        let got = conn
            .get(&path)
            .with_context(|| format!("{}: GET of the large object", ep.name))?;
        get_s += t0.elapsed().as_secs_f64();
        bar.inc(1);
        if got != large_bytes {
            bail!(
                "{}: the large object came back with {got} of {large_bytes} bytes",
                ep.name
            );
        }
    }
    bar.finish_and_clear();
    let mb = (large_bytes as f64 / (1u64 << 20) as f64) * f64::from(repeats);
    Ok(TargetResult {
        target: ep.name.clone(),
        small_put_per_s: rates[0],
        small_get_per_s: rates[1],
        small_failed: failed.load(Ordering::Relaxed),
        large_put_mb_s: mb / put_s,
        large_get_mb_s: mb / get_s,
    })
}

fn print_summary(results: &[TargetResult], c: &Config) {
    let mut t = Table::new(&[
        "target",
        "small PUT/s",
        "small GET/s",
        "failed",
        "large PUT MB/s",
        "large GET MB/s",
    ]);
    for r in results {
        t.row(vec![
            r.target.clone(),
            table::f1(r.small_put_per_s),
            table::f1(r.small_get_per_s),
            r.small_failed.to_string(),
            table::f1(r.large_put_mb_s),
            table::f1(r.large_get_mb_s),
        ]);
    }
    println!(
        "\nObject storage ({} objects of {} B over {} connections; {} MB objects x{})\n{}",
        c.small,
        c.small_bytes,
        c.connections,
        c.large_bytes >> 20,
        c.large_repeats,
        t.render()
    );
    let base = results.iter().find(|r| r.target == "direct");
    let gust = results.iter().find(|r| r.target == "gust");
    if let (Some(g), Some(d)) = (gust, base) {
        println!(
            "gust / direct: small PUT {}, small GET {}, large PUT {}, large GET {}",
            table::ratio(crate::stats::ratio(g.small_put_per_s, d.small_put_per_s)),
            table::ratio(crate::stats::ratio(g.small_get_per_s, d.small_get_per_s)),
            table::ratio(crate::stats::ratio(g.large_put_mb_s, d.large_put_mb_s)),
            table::ratio(crate::stats::ratio(g.large_get_mb_s, d.large_get_mb_s)),
        );
    }
    if let (Some(g), Some(m)) = (gust, results.iter().find(|r| r.target == "moto")) {
        println!(
            "gust / moto: small PUT {}, small GET {}",
            table::ratio(crate::stats::ratio(g.small_put_per_s, m.small_put_per_s)),
            table::ratio(crate::stats::ratio(g.small_get_per_s, m.small_get_per_s)),
        );
    }
}

fn create_bucket(ep: &Endpoint) -> Result<()> {
    let mut c = Client::new(ep.addr);
    let status = c.request("PUT", &format!("/{}", ep.bucket), &[])?;
    // 409: it exists already (a rerun against --endpoint).
    if status != 200 && status != 409 {
        bail!("creating bucket {} answered {status}", ep.bucket);
    }
    Ok(())
}

fn start_moto(s: &Session) -> Result<(crate::child::Managed, SocketAddr)> {
    let port = crate::child::free_port()?;
    let mut cmd = std::process::Command::new("moto_server");
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let process = crate::child::Managed::spawn("moto", cmd, &s.log_dir.join("moto.log"))
        .context("starting moto_server (pip install 'moto[server]')")?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    crate::child::wait_listening(addr, Duration::from_secs(30))?;
    Ok((process, addr))
}

/// A keep-alive HTTP/1.1 client for S3-shaped requests, unsigned (gust without
/// `--access-key`, the baseline and moto take them), reading bodies as they come
/// (a 256 MB GET is never held in memory).
struct Client {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        Client { addr, stream: None }
    }

    fn stream(&mut self) -> Result<&mut BufReader<TcpStream>> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(120)))?;
            self.stream = Some(BufReader::with_capacity(256 << 10, s));
        }
        Ok(self.stream.as_mut().expect("connected above"))
    }

    fn put(&mut self, path: &str, body: &[u8]) -> Result<()> {
        match self.request("PUT", path, body)? {
            200 => Ok(()),
            s => Err(anyhow!("PUT {path}: {s}")),
        }
    }

    /// A PUT of `total` bytes made of `chunk` repeated, streamed.
    fn put_stream(&mut self, path: &str, chunk: &[u8], total: u64) -> Result<()> {
        let addr = self.addr;
        let stream = self.stream()?;
        write!(
            stream.get_mut(),
            "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nx-amz-acl: public-read\r\n\
             Content-Length: {total}\r\n\r\n"
        )?;
        let mut left = total;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            stream.get_mut().write_all(&chunk[..n])?;
            left -= n as u64;
        }
        match self.read_response()? {
            (200, _) => Ok(()),
            (s, _) => Err(anyhow!("PUT {path}: {s}")),
        }
    }

    /// A GET; returns the body's length (read and thrown away).
    fn get(&mut self, path: &str) -> Result<u64> {
        let addr = self.addr;
        let stream = self.stream()?;
        write!(
            stream.get_mut(),
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n"
        )?;
        match self.read_response()? {
            (200, n) => Ok(n),
            (s, _) => Err(anyhow!("GET {path}: {s}")),
        }
    }

    fn request(&mut self, method: &str, path: &str, body: &[u8]) -> Result<u16> {
        let addr = self.addr;
        let stream = self.stream()?;
        // public-read: moto answers unsigned GETs of such objects (gust and the
        // baseline ignore it).
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nx-amz-acl: public-read\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        stream.get_mut().write_all(&req)?;
        Ok(self.read_response()?.0)
    }

    /// Reads a response head and its body (Content-Length framed); returns the
    /// status and the body's length.
    fn read_response(&mut self) -> Result<(u16, u64)> {
        let result = (|| {
            let stream = self.stream()?;
            let mut line = String::new();
            stream.read_line(&mut line)?;
            let status: u16 = line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| anyhow!("bad status line {line:?}"))?;
            let (mut length, mut close) = (0u64, false);
            loop {
                line.clear();
                stream.read_line(&mut line)?;
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    } else if k.eq_ignore_ascii_case("connection") {
                        close = v.trim().eq_ignore_ascii_case("close");
                    }
                }
            }
            let copied = std::io::copy(&mut stream.by_ref().take(length), &mut std::io::sink())?;
            if copied != length {
                bail!("the body ended after {copied} of {length} bytes");
            }
            Ok((status, length, close))
        })();
        match result {
            Ok((status, length, close)) => {
                if close {
                    self.stream = None;
                }
                Ok((status, length))
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }
}

/// The baseline: an HTTP server that stores each PUT body in a file (written and
/// synced) and answers GETs from it, one thread per connection. Its threads live
/// until the bench process exits (its scratch directory goes with the session).
struct DirectServer {
    addr: SocketAddr,
}

impl DirectServer {
    fn start(dir: &Path) -> Result<DirectServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let dir = dir.to_path_buf();
        std::thread::Builder::new()
            .name("bench-direct-s3".into())
            .spawn(move || {
                for conn in listener.incoming().flatten() {
                    let dir = dir.clone();
                    let _ = std::thread::Builder::new().spawn(move || {
                        let _ = serve_direct(conn, &dir);
                    });
                }
            })?;
        Ok(DirectServer { addr })
    }
}

fn file_of(dir: &Path, path: &str) -> PathBuf {
    dir.join(path.trim_start_matches('/').replace('/', "_"))
}

fn serve_direct(conn: TcpStream, dir: &Path) -> Result<()> {
    conn.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(256 << 10, conn.try_clone()?);
    let mut out = conn;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("/").to_string(),
        );
        let mut length = 0u64;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        match method.as_str() {
            "PUT" => {
                let file = file_of(dir, &path);
                let mut f = std::fs::File::create(&file)?;
                let mut left = length;
                while left > 0 {
                    let want = left.min(buf.len() as u64) as usize;
                    let n = reader.read(&mut buf[..want])?;
                    if n == 0 {
                        return Ok(());
                    }
                    f.write_all(&buf[..n])?;
                    left -= n as u64;
                }
                f.sync_all()?;
                out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")?;
            }
            "GET" => match std::fs::File::open(file_of(dir, &path)) {
                Ok(mut f) => {
                    let size = f.metadata()?.len();
                    write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n")?;
                    std::io::copy(&mut f, &mut out)?;
                }
                Err(_) => out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?,
            },
            _ => out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")?,
        }
    }
}
