//! Outbound network for the instances of functions that opt in
//! ([`crate::LaunchSpec::outbound`]). Every other instance has only its loopback.
//!
//! # What an opted-in instance gets
//! A veth pair: `gv<N>` on the host, `eth0` in the instance's network namespace, on
//! the `N`th /30 of [`super::LinuxSandboxConfig::outbound_subnet`] (the host end
//! `.1`, the instance `.2`, its default route through the host end). Traffic leaving
//! the host through any other interface is masqueraded; traffic between two
//! instances' links is dropped, and so is any connection opened towards an
//! instance from outside. So an instance reaches the outside, but not
//! - link-local addresses (169.254.0.0/16: a cloud's instance metadata service and
//!   the credentials it hands out), which are never forwarded for it;
//! - the host itself: nothing from an instance's link is accepted by the host's
//!   own addresses (its services listening on all addresses, the gust API), nor its
//!   loopback (a packet from a veth to 127.0.0.1 is a martian);
//! - another instance;
//! - anything over IPv6: neither end of the link has an IPv6 address (not even
//!   link-local: `addrgenmode none`), and the instance cannot add one.
//!
//! Its name resolution uses the host's `/etc/resolv.conf`, so the resolvers named
//! there must be beyond the host (a resolver on the host's loopback or own address
//! is not reachable).
//!
//! # How
//! - At a sandbox's first opted-in launch, it joins the host-wide set-up (`host`):
//!   IPv4 forwarding on, and the nftables table `ip gust_outbound`, re-declared
//!   whole (naming links rather than addresses, so every gust on the host declares
//!   the same one). The last gust of the host to leave removes the table and turns
//!   forwarding back off if gust turned it on; while gust has it on, the table
//!   forwards for instances' links only.
//! - Per launch: one `ip -batch` on the host creates the pair (its peer directly in
//!   the init's namespace) and sets the host end up; one `ip -batch` entered into
//!   that namespace (`nsenter --net`) configures `eth0`. Both happen before the
//!   function's runtime starts: at launch, or earlier, in the pool's thread, which
//!   keeps a few linked sandboxes once outbound network is in use (a link takes the
//!   kernel's network configuration lock, which namespace teardowns on the host hold
//!   for a while: on the cold path that lock can cost hundreds of milliseconds).
//! - The pair goes away with the namespace when the instance ends; its [`Lease`]
//!   then frees `N`. Names are unique host-wide (`ip link add` refuses a name in
//!   use), so gusts sharing a host skip each other's indexes.
//!
//! It needs `ip` (iproute2), `nsenter` (util-linux) and `nft` (nftables); a launch
//! says which is missing otherwise.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use crate::SandboxError;

mod host;

pub(crate) use host::clean_up_after_dead_users;

/// Prefix of the host ends' names (`gv0` .. `gv16383`).
const LINK_PREFIX: &str = "gv";
/// Name of the instance's end, inside its namespace.
const INSTANCE_LINK: &str = "eth0";
/// Length of the prefix of the subnet the /30s come from.
pub(crate) const SUBNET_PREFIX: u8 = 16;
/// How many /30s a /16 holds.
const SLOTS: u32 = 1 << (32 - SUBNET_PREFIX as u32 - 2);

/// The addresses of slot `index` of `subnet`: (host end, instance end).
fn slot_addresses(subnet: Ipv4Addr, index: u32) -> (Ipv4Addr, Ipv4Addr) {
    let base = u32::from(subnet) & !((1u32 << (32 - SUBNET_PREFIX)) - 1);
    let net = base + index * 4;
    (Ipv4Addr::from(net + 1), Ipv4Addr::from(net + 2))
}

/// The host's half: create the pair with its peer in the init's namespace, address
/// and raise the host end.
fn host_batch(index: u32, pid: u32, host: Ipv4Addr) -> String {
    let link = format!("{LINK_PREFIX}{index}");
    format!(
        "link add {link} type veth peer name {INSTANCE_LINK} netns {pid}\n\
         link set {link} addrgenmode none\n\
         addr add {host}/30 dev {link}\n\
         link set {link} up\n"
    )
}

/// The instance's half, run inside its namespace.
fn instance_batch(host: Ipv4Addr, instance: Ipv4Addr) -> String {
    format!(
        "link set {INSTANCE_LINK} addrgenmode none\n\
         addr add {instance}/30 dev {INSTANCE_LINK}\n\
         link set {INSTANCE_LINK} up\n\
         route add default via {host} dev {INSTANCE_LINK}\n"
    )
}

/// Runs `program args...` with `input` on its stdin; the error carries its stderr.
fn run(program: &str, args: &[&str], input: &str) -> Result<(), String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {program}: {e} (is it installed?)"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("writing to {program}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Outbound networking for one sandbox: the host set-up, done once, and the slots
/// in use.
pub(crate) struct Outbound {
    subnet: Ipv4Addr,
    /// This sandbox's part in the host-wide set-up, made at the first link;
    /// dropping it (with the sandbox) leaves it, undoing it if this was the last
    /// user.
    host_ready: OnceLock<Result<host::Membership, String>>,
    slots: Arc<Slots>,
}

/// The slots this process holds, and where the next search starts.
struct Slots {
    state: Mutex<(BTreeSet<u32>, u32)>,
}

impl Slots {
    /// A free slot, starting after the last one handed out (so a slot whose pair
    /// the kernel is still tearing down is not tried again at once).
    fn take(&self, skip: &BTreeSet<u32>) -> Option<u32> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (used, next) = &mut *state;
        let found = (0..SLOTS)
            .map(|i| (*next + i) % SLOTS)
            .find(|i| !used.contains(i) && !skip.contains(i))?;
        used.insert(found);
        *next = (found + 1) % SLOTS;
        Some(found)
    }

    fn put_back(&self, index: u32) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0.remove(&index);
    }
}

/// An instance's slot; dropping it frees the slot (drop it after the instance, whose
/// namespace takes the pair down).
pub(crate) struct Lease {
    slots: Arc<Slots>,
    index: u32,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.slots.put_back(self.index);
    }
}

impl Outbound {
    pub(crate) fn new(subnet: Ipv4Addr) -> Outbound {
        Outbound {
            subnet,
            host_ready: OnceLock::new(),
            slots: Arc::new(Slots {
                state: Mutex::new((BTreeSet::new(), 0)),
            }),
        }
    }

    /// Forwarding on and the nftables table in place; once per sandbox.
    fn prepare_host(&self) -> Result<(), SandboxError> {
        let ready = self.host_ready.get_or_init(|| {
            let joined = host::join()?;
            tracing::info!(subnet = %format!("{}/{SUBNET_PREFIX}", self.subnet),
                "outbound network for opted-in functions");
            Ok(joined)
        });
        match ready {
            Ok(_) => Ok(()),
            Err(m) => Err(SandboxError::Unavailable(format!(
                "outbound network is unavailable: {m}"
            ))),
        }
    }

    /// Gives the network namespace of the init `pid` a link to the host and a
    /// default route through it.
    pub(crate) fn attach(&self, pid: u32) -> Result<Lease, SandboxError> {
        self.prepare_host()?;
        let mut taken_elsewhere = BTreeSet::new();
        // A name in use (another gust's instance, or a pair still being torn down)
        // is skipped; anything else is a real failure.
        for _ in 0..64 {
            let index = self.slots.take(&taken_elsewhere).ok_or_else(|| {
                SandboxError::Unavailable(format!(
                    "outbound network: all {SLOTS} addresses of {}/{SUBNET_PREFIX} are in use",
                    self.subnet
                ))
            })?;
            let lease = Lease {
                slots: self.slots.clone(),
                index,
            };
            let (host, instance) = slot_addresses(self.subnet, index);
            match run("ip", &["-batch", "-"], &host_batch(index, pid, host)) {
                Ok(()) => {}
                Err(m) if m.contains("File exists") => {
                    taken_elsewhere.insert(index);
                    continue;
                }
                Err(m) => return Err(failed("linking the instance to the host", m)),
            }
            let netns = format!("--net=/proc/{pid}/ns/net");
            run(
                "nsenter",
                &[&netns, "ip", "-batch", "-"],
                &instance_batch(host, instance),
            )
            .map_err(|m| failed("configuring the instance's link", m))?;
            return Ok(lease);
        }
        Err(failed(
            "linking the instance to the host",
            "64 link names in a row were in use".into(),
        ))
    }
}

fn failed(step: &str, message: String) -> SandboxError {
    SandboxError::io(
        format!("outbound network: {step}"),
        std::io::Error::other(message),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_slash_30s_of_the_subnet() {
        let subnet = Ipv4Addr::new(10, 213, 0, 0);
        assert_eq!(
            slot_addresses(subnet, 0),
            (Ipv4Addr::new(10, 213, 0, 1), Ipv4Addr::new(10, 213, 0, 2))
        );
        assert_eq!(
            slot_addresses(subnet, 1),
            (Ipv4Addr::new(10, 213, 0, 5), Ipv4Addr::new(10, 213, 0, 6))
        );
        assert_eq!(
            slot_addresses(subnet, SLOTS - 1),
            (
                Ipv4Addr::new(10, 213, 255, 253),
                Ipv4Addr::new(10, 213, 255, 254)
            )
        );
        // Host bits in the configured subnet are ignored.
        assert_eq!(
            slot_addresses(Ipv4Addr::new(10, 213, 7, 9), 0).0,
            Ipv4Addr::new(10, 213, 0, 1)
        );
    }

    #[test]
    fn slots_rotate_and_skip_those_in_use() {
        let slots = Slots {
            state: Mutex::new((BTreeSet::new(), 0)),
        };
        let none = BTreeSet::new();
        assert_eq!(slots.take(&none), Some(0));
        assert_eq!(slots.take(&none), Some(1));
        slots.put_back(0);
        // Not 0 again at once: the search goes on from the last one handed out.
        assert_eq!(slots.take(&none), Some(2));
        assert_eq!(slots.take(&BTreeSet::from([3, 4])), Some(5));
    }

    #[test]
    fn the_commands_name_the_link_the_namespace_and_the_addresses() {
        let (host, instance) = slot_addresses(Ipv4Addr::new(10, 213, 0, 0), 3);
        assert_eq!(
            host_batch(3, 4242, host),
            "link add gv3 type veth peer name eth0 netns 4242\n\
             link set gv3 addrgenmode none\n\
             addr add 10.213.0.13/30 dev gv3\n\
             link set gv3 up\n"
        );
        assert_eq!(
            instance_batch(host, instance),
            "link set eth0 addrgenmode none\n\
             addr add 10.213.0.14/30 dev eth0\n\
             link set eth0 up\n\
             route add default via 10.213.0.13 dev eth0\n"
        );
    }
}
