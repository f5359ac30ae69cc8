//! Reading the host and the server's processes from `/proc`: CPU idle, memory in use,
//! RSS, the process tree under a server, PSS per process, and CPU time.

use std::collections::HashMap;
use std::fs;

/// Clock ticks per second of `/proc/*/stat` times. `USER_HZ` is 100 on every Linux
/// ABI that gust runs on.
const TICKS_PER_SECOND: u64 = 100;

/// Aggregate CPU counters of `/proc/stat`, in ticks.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    /// Idle plus I/O wait.
    pub idle: u64,
    /// All states.
    pub total: u64,
}

impl CpuTimes {
    /// The host's counters now (zeroes when `/proc/stat` is unreadable).
    pub fn now() -> CpuTimes {
        fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| parse_cpu_line(&s))
            .unwrap_or_default()
    }

    /// Share of CPU time idle between `earlier` and `self`, in percent.
    pub fn idle_percent_since(&self, earlier: &CpuTimes) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        if total == 0 {
            return 100.0;
        }
        100.0 * self.idle.saturating_sub(earlier.idle) as f64 / total as f64
    }
}

fn parse_cpu_line(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest times are inside user).
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    let total = values.iter().take(8).sum();
    Some(CpuTimes { idle, total })
}

/// Host memory in use (`MemTotal - MemAvailable`) and `MemTotal`, in MB.
pub fn memory_mb() -> (f64, f64) {
    let text = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let total = meminfo_kb(&text, "MemTotal:").unwrap_or(0) as f64 / 1024.0;
    let available = meminfo_kb(&text, "MemAvailable:").unwrap_or(0) as f64 / 1024.0;
    (total - available, total)
}

fn meminfo_kb(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The 1, 5 and 15-minute load averages.
pub fn loadavg() -> Option<[f64; 3]> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// Resident set size of `pid`, in MB.
pub fn rss_mb(pid: u32) -> Option<f64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(meminfo_kb(&text, "VmRSS:")? as f64 / 1024.0)
}

/// Proportional set size of `pid` (shared pages divided among their users), in MB.
pub fn pss_mb(pid: u32) -> Option<f64> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    Some(meminfo_kb(&text, "Pss:")? as f64 / 1024.0)
}

/// Threads of `pid`.
pub fn threads(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    meminfo_kb(&text, "Threads:")
}

/// Open file descriptors of `pid`.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Every process below `root` (children, grandchildren, ...), not `root` itself.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some(ppid) = stat_fields(&stat).and_then(|f| f.get(1)?.parse::<u32>().ok()) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if let Some(kids) = children.get(&pid) {
            for &kid in kids {
                out.push(kid);
                stack.push(kid);
            }
        }
    }
    out
}

/// The fields of `/proc/PID/stat` after the command name: index 0 is the state
/// (field 3 in proc(5)), 1 the parent pid, 11 utime, 12 stime, 13 cutime, 14 cstime.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().collect())
}

/// CPU time of `pid` in seconds: its own user and system time, plus that of the
/// children it has waited for when `with_reaped` is set.
pub fn cpu_seconds(pid: u32, with_reaped: bool) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields = stat_fields(&stat)?;
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    let mut ticks = tick(11)? + tick(12)?;
    if with_reaped {
        ticks += tick(13)? + tick(14)?;
    }
    Some(ticks as f64 / TICKS_PER_SECOND as f64)
}

/// CPU seconds used by `root` and every process below it, including children they
/// already reaped.
pub fn tree_cpu_seconds(root: u32) -> f64 {
    let own = cpu_seconds(root, true).unwrap_or(0.0);
    own + descendants(root)
        .into_iter()
        .filter_map(|pid| cpu_seconds(pid, true))
        .sum::<f64>()
}

/// CPU time of the calling thread, in nanoseconds (`/proc/thread-self/schedstat`,
/// else the tick counters of `/proc/thread-self/stat`).
pub fn thread_cpu_ns() -> u64 {
    if let Some(ns) = fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
    {
        return ns;
    }
    fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| {
            let f = stat_fields(&s)?;
            let utime: u64 = f.get(11)?.parse().ok()?;
            let stime: u64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) * (1_000_000_000 / TICKS_PER_SECOND))
        })
        .unwrap_or(0)
}

/// PSS of `root` and every process below it, in MB, and how many processes below it.
pub fn tree_pss_mb(root: u32) -> (f64, usize) {
    let kids = descendants(root);
    let total = pss_mb(root).unwrap_or(0.0) + kids.iter().filter_map(|&p| pss_mb(p)).sum::<f64>();
    (total, kids.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_line_counts_idle_and_iowait() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        let t = parse_cpu_line(stat).unwrap();
        assert_eq!(t.idle, 850);
        assert_eq!(t.total, 1000);
        let later = CpuTimes {
            idle: 900,
            total: 1100,
        };
        assert!((later.idle_percent_since(&t) - 50.0).abs() < 1e-9);
    }

    #[test]
    fn stat_fields_survive_spaces_in_the_command_name() {
        let stat = "42 (my (odd) name) S 7 42 42 0 -1 0 0 0 0 0 15 5 2 1 20 0";
        let f = stat_fields(stat).unwrap();
        assert_eq!(f[0], "S");
        assert_eq!(f[1], "7");
        assert_eq!(f[11], "15");
        assert_eq!(f[14], "1");
    }

    #[test]
    fn this_process_is_visible() {
        let me = std::process::id();
        assert!(rss_mb(me).unwrap() > 0.0);
        assert!(cpu_seconds(me, false).is_some());
        assert!(memory_mb().1 > 0.0);
        assert!(loadavg().is_some());
    }
}
