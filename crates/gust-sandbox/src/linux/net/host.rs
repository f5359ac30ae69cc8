//! The host-wide half of outbound network: IPv4 forwarding and the nftables table
//! `ip gust_outbound`, shared by every gust in the host's network namespace, set up
//! by the first one that needs it and undone by the last one to leave.
//!
//! # Who is using it
//! A registry file, `/run/gust-sandbox/outbound-<network namespace inode>`, locked
//! with `flock` while it is read and changed, lists the users (pid, start time,
//! and a sequence number for several sandboxes in one process) and what
//! `net.ipv4.ip_forward` was before the first of them. A user whose process is gone
//! (a gust that was killed) is dropped from it by the next one to look, and a gust
//! starting up undoes what such users left when nobody else is left
//! ([`clean_up_after_dead_users`]). The last user to leave removes the file (a
//! process that locked it meanwhile sees it is gone and opens a new one). `/run`
//! goes away with a reboot, as does the forwarding setting.
//!
//! # Forwarding
//! If forwarding was off, the first user turns it on and the last one turns it
//! off again. The table then allows forwarding only to and from instances' links
//! (its forward chain's policy is drop), so that turning it on does not make the
//! host route anyone else's traffic. If forwarding was already on, the host
//! forwards for someone else (containers, VMs, a router): it stays on, and the
//! table leaves traffic that is not gust's to the host's own rules. Either way,
//! nothing from outside may open a connection to an instance, and instances may
//! not reach each other.
//!
//! A service that turns forwarding on after gust did would find its traffic
//! dropped by that policy while a gust is running, and forwarding turned off when
//! the last gust leaves; start such services before gust.

use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{run, LINK_PREFIX};

/// The nftables table (family `ip`). Older gusts declared `ip gust` and left it;
/// this name is only ever used, and removed, by gusts that keep the registry.
pub(crate) const TABLE: &str = "gust_outbound";
/// IPv4 forwarding of the calling thread's network namespace.
const FORWARDING: &str = "/proc/sys/net/ipv4/ip_forward";
/// Where the registry lives (shared with the sandboxes' root directory).
const STATE_DIR: &str = "/run/gust-sandbox";

/// Tells the sandboxes of one process apart in the registry.
static SEQ: AtomicU64 = AtomicU64::new(0);

/// One user of the host set-up: a process (its start time tells it from a later
/// process with the same pid) and one of its sandboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct User {
    pid: u32,
    start: u64,
    seq: u64,
}

/// The registry's contents.
#[derive(Debug, Default, PartialEq, Eq)]
struct Registry {
    /// `net.ipv4.ip_forward` before the first user turned it on; `None` when
    /// there is nothing to undo.
    forwarding_before: Option<bool>,
    users: Vec<User>,
}

impl Registry {
    fn parse(text: &str) -> Registry {
        let mut reg = Registry::default();
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields[..] {
                ["forwarding_before", v] => reg.forwarding_before = Some(v == "1"),
                ["user", pid, start, seq] => {
                    if let (Ok(pid), Ok(start), Ok(seq)) = (pid.parse(), start.parse(), seq.parse())
                    {
                        reg.users.push(User { pid, start, seq });
                    }
                }
                _ => {}
            }
        }
        reg
    }

    fn render(&self) -> String {
        let mut text =
            String::from("# gust: users of outbound network in this network namespace\n");
        if let Some(before) = self.forwarding_before {
            text += &format!("forwarding_before {}\n", u8::from(before));
        }
        for u in &self.users {
            text += &format!("user {} {} {}\n", u.pid, u.start, u.seq);
        }
        text
    }

    /// Drops the users for which `alive` is false.
    fn prune(&mut self, alive: impl Fn(&User) -> bool) {
        self.users.retain(alive);
    }

    /// Adds `me`, given whether forwarding is on now. Returns whether the table
    /// must restrict forwarding to instances' links (gust turned forwarding on).
    fn join(&mut self, me: User, forwarding_now: bool) -> bool {
        // Kept from users that died without undoing their set-up: they turned
        // forwarding on, so what is on now says nothing of what was there before.
        let before = *self.forwarding_before.get_or_insert(forwarding_now);
        self.users.push(me);
        !before
    }

    /// Removes `me`. Returns true when nobody is left: the caller then tears the
    /// set-up down.
    fn leave(&mut self, me: User) -> bool {
        self.users.retain(|u| *u != me);
        self.users.is_empty()
    }
}

/// The table, declared whole (every user declares the same, for the mode the
/// registry says): masquerade what comes from an instance's link and leaves
/// through any other interface; forward what instances send out and the replies
/// to it, but nothing to link-local addresses (169.254.0.0/16: cloud instance
/// metadata and its credentials, the host's neighbours), nothing else to an
/// instance, nothing between instances; with `restrict`, nothing else at all. And
/// nothing from an instance's link to the host itself (its own addresses, whatever
/// listens on them): an instance needs nothing there, its Runtime API is on its own
/// loopback.
fn ruleset(restrict: bool) -> String {
    let policy = if restrict { "drop" } else { "accept" };
    format!(
        "table ip {TABLE} {{}}\n\
         flush table ip {TABLE}\n\
         table ip {TABLE} {{\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tiifname \"{LINK_PREFIX}*\" oifname != \"{LINK_PREFIX}*\" masquerade\n\
         \t}}\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy {policy};\n\
         \t\tiifname \"{LINK_PREFIX}*\" oifname \"{LINK_PREFIX}*\" drop\n\
         \t\tiifname \"{LINK_PREFIX}*\" ip daddr {LINK_LOCAL} drop\n\
         \t\tiifname \"{LINK_PREFIX}*\" accept\n\
         \t\toifname \"{LINK_PREFIX}*\" ct state established,related accept\n\
         \t\toifname \"{LINK_PREFIX}*\" drop\n\
         \t}}\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority filter; policy accept;\n\
         \t\tiifname \"{LINK_PREFIX}*\" drop\n\
         \t}}\n\
         }}\n"
    )
}

/// Link-local IPv4: never forwarded for an instance.
const LINK_LOCAL: &str = "169.254.0.0/16";

/// Removes the table whether or not it is there (declaring an empty one first).
fn delete_table() -> String {
    format!("table ip {TABLE} {{}}\ndelete table ip {TABLE}\n")
}

/// This sandbox's place in the registry; dropping it leaves, and the last user
/// to leave undoes the host set-up.
pub(crate) struct Membership {
    state: PathBuf,
    me: User,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let me = self.me;
        let result = with_registry(&self.state, |reg| {
            if reg.leave(me) {
                tear_down(reg)?;
                tracing::info!(
                    "outbound network: last user gone; nftables table `ip {TABLE}` removed"
                );
            }
            Ok(())
        });
        if let Err(e) = result {
            tracing::warn!("outbound network: leaving the host set-up: {e}");
        }
    }
}

/// Joins the users of the host set-up, making it if this is the first: forwarding
/// on and the table declared.
pub(crate) fn join() -> Result<Membership, String> {
    let state = state_path()?;
    let me = User {
        pid: std::process::id(),
        start: start_time(std::process::id())
            .ok_or("reading this process's start time from /proc/self/stat")?,
        seq: SEQ.fetch_add(1, Ordering::Relaxed),
    };
    with_registry(&state, |reg| {
        let forwarding_now = read_forwarding()?;
        let restrict = reg.join(me, forwarding_now);
        let set_up = if forwarding_now {
            Ok(())
        } else {
            std::fs::write(FORWARDING, "1").map_err(|e| format!("enabling IPv4 forwarding: {e}"))
        }
        .and_then(|()| run("nft", &["-f", "-"], &ruleset(restrict)));
        if let Err(m) = set_up {
            // Not a user after all; if it was the first, it undoes what it did.
            if reg.leave(me) {
                let _ = tear_down(reg);
            }
            return Err(m);
        }
        tracing::info!(
            restrict,
            "outbound network: IPv4 forwarding on, nftables table `ip {TABLE}`"
        );
        Ok(())
    })?;
    Ok(Membership { state, me })
}

/// At start-up: if every user in the registry is gone (gusts that were killed),
/// undoes what they set up. Returns whether there was something to undo.
pub(crate) fn clean_up_after_dead_users() -> Result<bool, String> {
    let state = state_path()?;
    if !state.exists() {
        return Ok(false);
    }
    with_registry(&state, |reg| {
        if !reg.users.is_empty() || reg.forwarding_before.is_none() {
            return Ok(false);
        }
        tear_down(reg)?;
        Ok(true)
    })
}

/// Removes the table and turns forwarding back off if the first user turned it
/// on; empties the registry.
/// Both steps are tried whatever the other's outcome.
fn tear_down(reg: &mut Registry) -> Result<(), String> {
    let table = run("nft", &["-f", "-"], &delete_table());
    let forwarding = match reg.forwarding_before {
        Some(false) => {
            std::fs::write(FORWARDING, "0").map_err(|e| format!("disabling IPv4 forwarding: {e}"))
        }
        _ => Ok(()),
    };
    *reg = Registry::default();
    table.and(forwarding)
}

/// Opens and locks the registry, drops the users that are gone, runs `f` and
/// writes the result back (even when `f` fails, as `f` undoes its own changes),
/// or removes the file when nothing is left in it.
fn with_registry<T>(
    path: &Path,
    f: impl FnOnce(&mut Registry) -> Result<T, String>,
) -> Result<T, String> {
    let describe = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let mut file = open_locked(path).map_err(|e| describe("locking", e))?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| describe("reading", e))?;
    let mut reg = Registry::parse(&text);
    reg.prune(|u| start_time(u.pid) == Some(u.start));
    let result = f(&mut reg);
    if reg == Registry::default() {
        std::fs::remove_file(path).map_err(|e| describe("removing", e))?;
    } else {
        let rendered = reg.render();
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(rendered.as_bytes()))
            .map_err(|e| describe("writing", e))?;
    }
    result
}

/// Opens `path` (creating it) and locks it. The holder of the lock may remove the
/// file, so a lock taken on a file that is no longer at `path` is dropped and the
/// file opened again.
fn open_locked(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::MetadataExt;
    loop {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        crate::linux::syscall::lock_exclusive(&file)?;
        let locked = file.metadata()?;
        match std::fs::metadata(path) {
            Ok(now) if (now.dev(), now.ino()) == (locked.dev(), locked.ino()) => return Ok(file),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The registry of the calling thread's network namespace (forwarding and
/// nftables are per namespace, so gusts in other namespaces do not count).
fn state_path() -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let netns = std::fs::metadata("/proc/thread-self/ns/net")
        .map_err(|e| format!("identifying the network namespace: {e}"))?
        .ino();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(STATE_DIR)
        .map_err(|e| format!("creating {STATE_DIR}: {e}"))?;
    Ok(Path::new(STATE_DIR).join(format!("outbound-{netns}")))
}

fn read_forwarding() -> Result<bool, String> {
    std::fs::read_to_string(FORWARDING)
        .map(|v| v.trim() == "1")
        .map_err(|e| format!("reading {FORWARDING}: {e}"))
}

/// A process's start time (clock ticks since boot), `None` if it is gone.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22; the fields after the command name (which may hold spaces and
    // parentheses) start at field 3.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: User = User {
        pid: 10,
        start: 100,
        seq: 0,
    };
    const B: User = User {
        pid: 20,
        start: 200,
        seq: 0,
    };

    #[test]
    fn the_first_user_records_forwarding_and_the_last_one_tears_down() {
        let mut reg = Registry::default();
        // Forwarding was off: gust turns it on and restricts it to its links.
        assert!(reg.join(A, false));
        // The second sees it on, but the record says gust turned it on.
        assert!(reg.join(B, true));
        assert_eq!(reg.forwarding_before, Some(false));
        assert!(!reg.leave(A), "B still uses it");
        assert!(reg.leave(B));
    }

    #[test]
    fn forwarding_already_on_is_left_to_the_host() {
        let mut reg = Registry::default();
        assert!(!reg.join(A, true));
        assert_eq!(reg.forwarding_before, Some(true));
    }

    #[test]
    fn dead_users_are_dropped_but_what_they_turned_on_is_remembered() {
        let mut reg = Registry::parse(
            &Registry {
                forwarding_before: Some(false),
                users: vec![A, B],
            }
            .render(),
        );
        assert_eq!(reg.users, [A, B]);
        reg.prune(|u| u.pid == B.pid && u.start == B.start);
        assert_eq!(reg.users, [B]);
        // A pid reused by another process is not the user.
        reg.prune(|u| u.pid == B.pid && u.start == 999);
        assert!(reg.users.is_empty());
        let c = User { seq: 1, ..A };
        assert!(
            reg.join(c, true),
            "forwarding was off before the dead users"
        );
    }

    #[test]
    fn the_registry_round_trips_and_ignores_what_it_does_not_know() {
        let reg = Registry {
            forwarding_before: Some(true),
            users: vec![A, User { seq: 3, ..A }],
        };
        let text = reg.render();
        assert_eq!(Registry::parse(&text), reg);
        assert_eq!(
            Registry::parse("user x y z\nsomething else\n"),
            Registry::default()
        );
    }

    #[test]
    fn this_process_has_a_start_time_and_pid_zero_none() {
        assert!(start_time(std::process::id()).is_some());
        assert_eq!(start_time(0), None);
    }

    #[test]
    fn the_ruleset_forwards_only_for_instances_when_gust_turned_forwarding_on() {
        let strict = ruleset(true);
        assert!(strict.starts_with("table ip gust_outbound {}\nflush table ip gust_outbound\n"));
        assert!(strict.contains("policy drop;"));
        assert!(strict.contains("iifname \"gv*\" oifname != \"gv*\" masquerade"));
        assert!(strict.contains("iifname \"gv*\" oifname \"gv*\" drop"));
        assert!(strict.contains("oifname \"gv*\" ct state established,related accept"));
        let open = ruleset(false);
        assert!(open.contains("type filter hook forward priority filter; policy accept;"));
        // Either way nothing opens a connection to an instance from outside,
        // nothing reaches link-local addresses, and nothing from an instance reaches
        // the host itself.
        for rules in [&strict, &open] {
            assert!(rules.contains("\t\toifname \"gv*\" drop\n"));
            let forward = rules.split("chain forward").nth(1).unwrap();
            let drop_link_local = forward
                .find("iifname \"gv*\" ip daddr 169.254.0.0/16 drop")
                .unwrap();
            // ...before what instances send is accepted.
            assert!(drop_link_local < forward.find("iifname \"gv*\" accept").unwrap());
            let input = rules.split("chain input").nth(1).unwrap();
            assert!(input.contains("type filter hook input priority filter; policy accept;"));
            assert!(input.contains("\t\tiifname \"gv*\" drop\n"));
        }
    }
}
