//! A background thread that samples the host while a protocol runs: CPU idle, memory
//! in use, and for each watched server its RSS, the PSS of its whole process tree and
//! how many processes it has (instances are processes below the server).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::procfs::{self, CpuTimes};

/// One server process tree to watch.
#[derive(Debug, Clone)]
pub struct Watched {
    /// Target name, e.g. `gust` or `direct/python`.
    pub name: String,
    /// Root process.
    pub pid: u32,
}

/// One sample of the host.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the sampler started.
    pub t_s: f64,
    /// What the protocol was doing (set by the driver).
    pub phase: String,
    /// CPU idle since the previous sample, in percent of all cores.
    pub cpu_idle_pct: f64,
    /// Host memory in use, in MB.
    pub mem_used_mb: f64,
    /// Per watched server.
    pub servers: Vec<ServerSample>,
}

/// One watched server in one sample.
#[derive(Debug, Clone, Serialize)]
pub struct ServerSample {
    /// Target name.
    pub name: String,
    /// RSS of the root process, in MB.
    pub rss_mb: f64,
    /// PSS of the root and all its descendants, in MB; only on every
    /// `pss_every`-th sample, because reading many `smaps_rollup` files costs CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree_pss_mb: Option<f64>,
    /// Processes below the root (on the same samples as the PSS: finding them
    /// reads every `/proc/PID/stat`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<usize>,
}

/// Shared state between the sampler thread and the driver.
#[derive(Debug, Default)]
struct Shared {
    watched: Mutex<Vec<Watched>>,
    phase: Mutex<String>,
    samples: Mutex<Vec<Sample>>,
    stop: AtomicBool,
}

/// The running sampler; [`Sampler::finish`] stops it and returns the samples.
#[derive(Debug)]
pub struct Sampler {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling every `interval`, reading PSS and process counts on every
    /// `pss_every`-th sample (never with 0).
    pub fn start(interval: Duration, pss_every: u32) -> Sampler {
        let shared = Arc::new(Shared::default());
        let inner = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("bench-sampler".into())
            .spawn(move || sample_loop(&inner, interval, pss_every))
            .expect("spawning the sampler thread");
        Sampler {
            shared,
            thread: Some(thread),
        }
    }

    /// Adds a server tree to watch from the next sample on.
    pub fn watch(&self, name: &str, pid: u32) {
        self.shared.watched.lock().unwrap().push(Watched {
            name: name.to_string(),
            pid,
        });
    }

    /// Stops watching a server (it is about to stop).
    pub fn unwatch(&self, pid: u32) {
        self.shared.watched.lock().unwrap().retain(|w| w.pid != pid);
    }

    /// Labels the following samples.
    pub fn set_phase(&self, phase: &str) {
        *self.shared.phase.lock().unwrap() = phase.to_string();
    }

    /// Stops the thread and returns every sample taken.
    pub fn finish(mut self) -> Vec<Sample> {
        self.stop_thread();
        std::mem::take(&mut *self.shared.samples.lock().unwrap())
    }

    fn stop_thread(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn sample_loop(shared: &Shared, interval: Duration, pss_every: u32) {
    let start = Instant::now();
    let mut prev = CpuTimes::now();
    let mut n: u32 = 0;
    let mut next = start + interval;
    while !shared.stop.load(Ordering::Relaxed) {
        // Sleep in short slices so that finish() returns promptly.
        let now = Instant::now();
        if now < next {
            std::thread::sleep((next - now).min(Duration::from_millis(50)));
            continue;
        }
        next += interval;
        let cpu = CpuTimes::now();
        let (mem_used_mb, _) = procfs::memory_mb();
        let with_pss = pss_every > 0 && n.is_multiple_of(pss_every);
        n = n.wrapping_add(1);
        let watched = shared.watched.lock().unwrap().clone();
        let servers = watched
            .iter()
            .map(|w| {
                let (pss, processes) = if with_pss {
                    let (pss, count) = procfs::tree_pss_mb(w.pid);
                    (Some(pss), Some(count))
                } else {
                    (None, None)
                };
                ServerSample {
                    name: w.name.clone(),
                    rss_mb: procfs::rss_mb(w.pid).unwrap_or(0.0),
                    tree_pss_mb: pss,
                    processes,
                }
            })
            .collect();
        let sample = Sample {
            t_s: start.elapsed().as_secs_f64(),
            phase: shared.phase.lock().unwrap().clone(),
            cpu_idle_pct: cpu.idle_percent_since(&prev),
            mem_used_mb,
            servers,
        };
        prev = cpu;
        shared.samples.lock().unwrap().push(sample);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_the_host_and_a_watched_process() {
        let sampler = Sampler::start(Duration::from_millis(10), 2);
        sampler.watch("me", std::process::id());
        sampler.set_phase("testing");
        // Until two samples, one with the watched tree's PSS, are taken: on a busy
        // machine the sampler thread may run late, so no fixed sleep is enough.
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let done = {
                let taken = sampler.shared.samples.lock().unwrap();
                taken.len() >= 2
                    && taken
                        .iter()
                        .any(|s| s.servers.iter().any(|w| w.tree_pss_mb.is_some()))
            };
            if done {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let samples = sampler.finish();
        assert!(samples.len() >= 2, "{samples:?}");
        let last = samples.last().unwrap();
        assert!((0.0..=100.0).contains(&last.cpu_idle_pct));
        assert!(last.mem_used_mb > 0.0);
        assert!(samples
            .iter()
            .any(|s| s.servers.iter().any(|w| w.tree_pss_mb.is_some())));
    }
}
