//! One benchmark run: the output directory, the servers under test (gust, the direct
//! baselines, a peer), the functions deployed for the run, the host sampler, and the
//! teardown of all of it.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use gust_wire::gust::Health;
use serde::Serialize;

use crate::args::CommonArgs;
use crate::http::Request;
use crate::lambda::{noop_zip_base64, Manager, Runtime};
use crate::peer::{self, Peer, PeerFunction, PeerKind};
use crate::progress;
use crate::sampler::{Sample, Sampler};
use crate::servers::{self, Direct, GustFlags, StartedGust};

/// What kind of server a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// gust (started here or at `--endpoint`).
    Gust,
    /// The handler in a plain HTTP server.
    Direct,
    /// Another platform.
    Peer,
}

/// One thing to send invocations to.
#[derive(Debug, Clone)]
pub struct Target {
    /// `gust/python`, `direct/node`, `serverless-offline/python`, ...
    pub name: String,
    /// Which kind of server.
    pub kind: Kind,
    /// Runtime of the handler.
    pub runtime: Runtime,
    /// Where the server listens.
    pub addr: SocketAddr,
    /// Functions to invoke (a direct server ignores the name).
    pub functions: Vec<String>,
    /// Root process of the server, when known.
    pub pid: Option<u32>,
}

impl Target {
    /// The Invoke request of function `i` (modulo the functions there are).
    pub fn request(&self, i: usize) -> Request {
        Request::invoke(self.addr, &self.functions[i % self.functions.len()])
    }
}

/// Defaults of the gust a protocol starts, before `--memory`/`--gust-arg`.
#[derive(Debug, Clone, Copy)]
pub struct GustDefaults {
    /// `--idle-ttl`.
    pub idle_ttl: Duration,
    /// `--memory` in MB.
    pub memory_mb: u64,
    /// `--queue-timeout`.
    pub queue_timeout: Duration,
    /// Default of `--pss-every` for this protocol.
    pub pss_every: u32,
}

/// The gust side of a run.
#[derive(Debug)]
struct GustSide {
    addr: SocketAddr,
    pid: Option<u32>,
    manager: Manager,
    /// Functions this run created, deleted at the end.
    created: Vec<String>,
    /// Dropped last: stops the server.
    started: Option<StartedGust>,
}

/// A benchmark run.
#[derive(Debug)]
pub struct Session {
    /// `overhead`, `concurrency`, ...
    pub protocol: &'static str,
    /// The shared flags.
    pub common: CommonArgs,
    /// Where result.json and the plots go.
    pub out_dir: PathBuf,
    /// Where server logs go.
    pub log_dir: PathBuf,
    /// Scratch files (direct servers, peer service), removed at the end.
    pub work: tempfile::TempDir,
    /// The host sampler (None once finished).
    sampler: Option<Sampler>,
    /// Things a reader of the results should know (peer missing, ...).
    pub notes: Vec<String>,
    /// UTC start time, RFC 3339.
    pub started_at: String,
    /// gust's health when the run started (None: not gust).
    pub health: Option<Health>,
    /// gust's idle TTL (when started here).
    pub idle_ttl: Option<Duration>,
    /// 1, 5 and 15-minute load averages when the run started.
    pub loadavg_at_start: Option<[f64; 3]>,
    gust: GustSide,
    direct: Vec<(Runtime, Direct)>,
    peer: Option<Peer>,
}

impl Session {
    /// Prepares the output directory, starts (or finds) gust and the sampler.
    pub fn open(
        protocol: &'static str,
        common: &CommonArgs,
        defaults: GustDefaults,
    ) -> Result<Session> {
        let now = time::OffsetDateTime::now_utc();
        let stamp = now
            .format(time::macros::format_description!(
                "[year][month][day]-[hour][minute][second]"
            ))
            .unwrap_or_default();
        let out_dir = common
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("bench-results").join(format!("{protocol}-{stamp}")));
        let log_dir = out_dir.join("logs");
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("creating {}", log_dir.display()))?;
        let work = tempfile::Builder::new()
            .prefix("gust-bench-")
            .tempdir()
            .context("creating a scratch directory")?;
        let sampler = Sampler::start(
            common.sample_interval,
            common.pss_every.unwrap_or(defaults.pss_every),
        );
        let (gust, idle_ttl) = match &common.endpoint {
            Some(url) => {
                let addr = parse_endpoint(url)?;
                let gust = GustSide {
                    addr,
                    pid: common.server_pid,
                    manager: Manager::new(addr).with_function_memory(common.function_memory),
                    created: Vec::new(),
                    started: None,
                };
                (gust, None)
            }
            None => {
                let bin = match &common.gust_bin {
                    Some(bin) => bin.clone(),
                    None => std::env::current_exe().context("finding the gust executable")?,
                };
                let flags = GustFlags {
                    bin,
                    isolation: common.isolation.as_str().to_string(),
                    idle_ttl: defaults.idle_ttl,
                    memory_mb: common.memory.unwrap_or(defaults.memory_mb),
                    queue_timeout: defaults.queue_timeout,
                    extra: common.gust_args.clone(),
                };
                let started = servers::start_gust(&flags, &log_dir)?;
                let gust = GustSide {
                    addr: started.addr,
                    pid: Some(started.process.pid()),
                    manager: Manager::new(started.addr)
                        .with_function_memory(common.function_memory),
                    created: Vec::new(),
                    started: Some(started),
                };
                (gust, Some(defaults.idle_ttl))
            }
        };
        let mut session = Session {
            protocol,
            common: common.clone(),
            out_dir,
            log_dir,
            work,
            sampler: Some(sampler),
            notes: Vec::new(),
            started_at: now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            health: None,
            idle_ttl,
            loadavg_at_start: crate::procfs::loadavg(),
            gust,
            direct: Vec::new(),
            peer: None,
        };
        session.health = session.gust.manager.health();
        if let Some(pid) = session.gust.pid {
            let name = session.gust_label().to_string();
            session.sampler().watch(&name, pid);
        }
        if let Some(h) = &session.health {
            if h.isolation == "none" {
                session.note("gust ran with isolation off (plain processes)");
            }
        }
        Ok(session)
    }

    /// `gust`, or `endpoint` for a server that is not gust.
    pub fn gust_label(&self) -> &'static str {
        if self.health.is_some() || self.gust.started.is_some() {
            "gust"
        } else {
            "endpoint"
        }
    }

    /// The sampler.
    pub fn sampler(&self) -> &Sampler {
        self.sampler
            .as_ref()
            .expect("sampler runs until finish_sampling")
    }

    /// Labels the following host samples.
    pub fn phase(&self, phase: &str) {
        if let Some(s) = &self.sampler {
            s.set_phase(phase);
        }
    }

    /// Stops the sampler and returns its samples.
    pub fn finish_sampling(&mut self) -> Vec<Sample> {
        self.sampler.take().map(Sampler::finish).unwrap_or_default()
    }

    /// Records a note for the results and prints it.
    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        progress::println(&format!("note: {note}"));
        self.notes.push(note);
    }

    /// gust's API address.
    pub fn gust_addr(&self) -> SocketAddr {
        self.gust.addr
    }

    /// gust's process id, when known.
    pub fn gust_pid(&self) -> Option<u32> {
        self.gust.pid
    }

    /// gust's health now.
    pub fn gust_health(&mut self) -> Option<Health> {
        self.gust.manager.health()
    }

    /// Name of this run's function `i` for `tag` and `runtime`.
    pub fn function_name(&self, tag: &str, runtime: Runtime, i: usize) -> String {
        match &self.common.function {
            Some(pattern) => pattern.replace("{i}", &i.to_string()),
            None => format!("gb{}-{tag}-{}-{i}", std::process::id(), runtime.name()),
        }
    }

    /// Deploys `count` noop functions (unless `--function` names existing ones) and
    /// returns the gust target invoking them.
    pub fn gust_target(&mut self, tag: &str, runtime: Runtime, count: usize) -> Result<Target> {
        let names: Vec<String> = (0..count)
            .map(|i| self.function_name(tag, runtime, i))
            .collect();
        if self.common.function.is_none() {
            let zip = noop_zip_base64(runtime)?;
            let bar = progress::counter(count as u64, &format!("deploy {}", runtime.name()));
            for name in &names {
                self.gust.manager.create_noop(name, runtime, &zip)?;
                self.gust.created.push(name.clone());
                bar.inc(1);
            }
            bar.finish_and_clear();
        }
        Ok(Target {
            name: format!("{}/{}", self.gust_label(), runtime.name()),
            kind: Kind::Gust,
            runtime,
            addr: self.gust.addr,
            functions: names,
            pid: self.gust.pid,
        })
    }

    /// Deletes functions this run created (others are left alone).
    pub fn delete_functions(&mut self, names: &[String]) -> Result<()> {
        for name in names {
            if let Some(pos) = self.gust.created.iter().position(|n| n == name) {
                self.gust.manager.delete(name)?;
                self.gust.created.swap_remove(pos);
            }
        }
        Ok(())
    }

    /// The direct baseline for `runtime`, started on first use; `None` with
    /// `--no-baseline` or when it cannot start (noted).
    pub fn direct_target(&mut self, runtime: Runtime) -> Option<Target> {
        if self.common.no_baseline {
            return None;
        }
        if !self.direct.iter().any(|(r, _)| *r == runtime) {
            match servers::start_direct(runtime, self.work.path(), &self.log_dir) {
                Ok(d) => {
                    self.sampler()
                        .watch(&format!("direct/{}", runtime.name()), d.process.pid());
                    self.direct.push((runtime, d));
                }
                Err(e) => {
                    self.note(format!(
                        "direct/{} baseline could not start: {e:#}",
                        runtime.name()
                    ));
                    return None;
                }
            }
        }
        let (_, d) = self.direct.iter().find(|(r, _)| *r == runtime)?;
        Some(Target {
            name: format!("direct/{}", runtime.name()),
            kind: Kind::Direct,
            runtime,
            addr: d.addr,
            functions: vec!["noop".into()],
            pid: Some(d.process.pid()),
        })
    }

    /// Starts the `--peer` (if any) serving `functions`; notes and returns false when it
    /// cannot be installed or started.
    pub fn start_peer(&mut self, functions: &[PeerFunction], idle_ttl: Option<Duration>) -> bool {
        let Some(kind) = self.common.peer else {
            return false;
        };
        let cache = self
            .common
            .peer_cache
            .clone()
            .unwrap_or_else(peer::default_cache_dir);
        let spinner = progress::spinner(&format!("starting {}", kind.name()));
        let started = peer::start(
            kind,
            &cache,
            self.work.path(),
            &self.log_dir,
            functions,
            idle_ttl,
        );
        spinner.finish_and_clear();
        match started {
            Ok(p) => {
                self.sampler().watch(kind.name(), p.process.pid());
                self.peer = Some(p);
                true
            }
            Err(e) => {
                self.note(format!("peer {} is not measured: {e:#}", kind.name()));
                false
            }
        }
    }

    /// The started peer's target for `functions` of `runtime`.
    pub fn peer_target(&self, runtime: Runtime, functions: &[PeerFunction]) -> Option<Target> {
        let p = self.peer.as_ref()?;
        let kind = self.common.peer.unwrap_or(PeerKind::ServerlessOffline);
        Some(Target {
            name: format!("{}/{}", kind.name(), runtime.name()),
            kind: Kind::Peer,
            runtime,
            addr: p.addr,
            functions: functions
                .iter()
                .filter(|f| f.runtime == runtime)
                .map(PeerFunction::lambda_name)
                .collect(),
            pid: Some(p.process.pid()),
        })
    }

    /// Stops the peer (frees its memory before the next phase).
    pub fn stop_peer(&mut self) {
        if let Some(mut p) = self.peer.take() {
            self.sampler().unwatch(p.process.pid());
            p.process.stop();
        }
    }

    /// Writes `result.json`: the run's envelope with `config`, `results` and `samples`.
    pub fn write_result(
        &self,
        config: &impl Serialize,
        results: &impl Serialize,
        client: &ClientCost,
        samples: &[Sample],
    ) -> Result<PathBuf> {
        let (_, mem_total_mb) = crate::procfs::memory_mb();
        let envelope = serde_json::json!({
            "protocol": self.protocol,
            "started_at": self.started_at,
            "quick": self.common.quick,
            "bench_version": env!("CARGO_PKG_VERSION"),
            "host": {
                "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
                "mem_total_mb": mem_total_mb,
                // Other work on the machine while this ran (it is shared and noisy).
                "loadavg_at_start": self.loadavg_at_start,
                "loadavg_at_end": crate::procfs::loadavg(),
            },
            "gust": {
                "endpoint": format!("http://{}", self.gust.addr),
                "started_by_bench": self.gust.started.is_some(),
                "health": self.health,
                "idle_ttl_ms": self.idle_ttl.map(|d| d.as_millis() as u64),
            },
            "config": config,
            "results": results,
            "client": client,
            "notes": self.notes,
            "samples": samples,
        });
        let path = self.out_dir.join("result.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&envelope)?)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Deletes what the run created and stops what it started.
    pub fn close(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        let created = std::mem::take(&mut self.gust.created);
        let mut first_err = None;
        for name in &created {
            if let Err(e) = self.gust.manager.delete(name) {
                first_err.get_or_insert(e);
            }
        }
        self.peer = None;
        self.direct.clear();
        self.gust.started = None;
        match first_err {
            Some(e) => Err(e.context("deleting the run's functions")),
            None => Ok(()),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}

/// CPU the load generator itself used, to show it was not the bottleneck.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ClientCost {
    /// CPU seconds of the client threads while measuring.
    pub cpu_s: f64,
    /// Wall seconds of the measured phases.
    pub wall_s: f64,
    /// Requests sent while measuring.
    pub requests: u64,
}

impl ClientCost {
    /// Adds another phase.
    pub fn add(&mut self, cpu_ns: u64, wall: Duration, requests: u64) {
        self.cpu_s += cpu_ns as f64 / 1e9;
        self.wall_s += wall.as_secs_f64();
        self.requests += requests;
    }

    /// Client CPU per request, in microseconds.
    pub fn us_per_request(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.cpu_s * 1e6 / self.requests as f64
        }
    }
}

/// `http://127.0.0.1:9000` (or without the scheme) → a socket address.
pub fn parse_endpoint(url: &str) -> Result<SocketAddr> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    if url.starts_with("https://") {
        bail!(
            "--endpoint {url}: https is not supported by the load generator; use http on loopback"
        );
    }
    let host_port = rest.split('/').next().unwrap_or(rest);
    host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| anyhow!("--endpoint {url}: expected http://HOST:PORT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_or_without_scheme() {
        let a = parse_endpoint("http://127.0.0.1:9000/").unwrap();
        assert_eq!(a, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(parse_endpoint("127.0.0.1:9").unwrap().port(), 9);
        assert!(parse_endpoint("https://x:1").is_err());
        assert!(parse_endpoint("http://nohost").is_err());
    }
}
