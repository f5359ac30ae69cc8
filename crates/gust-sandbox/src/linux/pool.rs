//! Pre-forked generic sandboxes: inits already in their namespaces and cgroups, their
//! root assembled and Runtime API listener bound, waiting for a function. A launch
//! takes one, and a background thread starts the next. This removes namespace and
//! cgroup creation, the init's exec and the system mounts from the cold-start path.
//!
//! Once a function with outbound network has been launched, the pool also keeps a
//! few sandboxes with their outbound link already made (see `net`): creating a
//! link takes the kernel's network configuration lock, which every namespace torn
//! down on the host holds for a while, so it is kept off the cold path too. Until
//! then no sandbox gets a link: functions without outbound network pay nothing.
//!
//! Where `/tmp` is on disk (see `scratch`), every pooled sandbox also holds a fresh
//! `/tmp` image of the default 512 MB, copied and mounted ahead of demand; a
//! function of another size gets its own at launch.
//!
//! Given a [`PrewarmTemplate`], the pool also keeps sandboxes whose runtime is
//! already started and waits for its function: a matching launch skips the
//! interpreter's start-up too. Those come last: generic sandboxes first.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::spawn::{start_init, PreparedInit};
use super::Shared;
use crate::{LaunchSpec, PrewarmTemplate};

/// A sandbox whose runtime has started and waits for its function.
pub(crate) struct Prewarmed {
    pub init: PreparedInit,
    /// Read end of the runtime's merged output.
    pub output: OwnedFd,
}

/// The pool's state, shared with its filler thread.
struct State {
    ready: VecDeque<PreparedInit>,
    /// Sandboxes with an outbound link, for functions that have one.
    linked: VecDeque<PreparedInit>,
    /// How many linked sandboxes to keep: 0 until the first outbound launch.
    linked_target: usize,
    /// The runtimes to prewarm, each with the ones ready.
    prewarm: Vec<(Arc<PrewarmTemplate>, VecDeque<Prewarmed>)>,
    stopping: bool,
}

impl State {
    /// The first template with fewer runtimes ready than it wants.
    fn prewarm_wanted(&self) -> Option<Arc<PrewarmTemplate>> {
        self.prewarm
            .iter()
            .find(|(t, ready)| ready.len() < t.count)
            .map(|(t, _)| Arc::clone(t))
    }
}

pub(crate) struct Pool {
    state: Arc<(Mutex<State>, Condvar)>,
    filler: Option<JoinHandle<()>>,
    /// How many linked sandboxes to keep once outbound network is in use.
    linked_size: usize,
}

impl Pool {
    /// Starts a filler thread that keeps `size` prepared inits ready.
    pub(crate) fn start(shared: Arc<Shared>, size: usize) -> Pool {
        let state = Arc::new((
            Mutex::new(State {
                ready: VecDeque::with_capacity(size),
                linked: VecDeque::new(),
                linked_target: 0,
                prewarm: Vec::new(),
                stopping: false,
            }),
            Condvar::new(),
        ));
        let filler_state = Arc::clone(&state);
        let filler = std::thread::Builder::new()
            .name("gust-sandbox-pool".into())
            .spawn(move || fill(&shared, &filler_state, size))
            .expect("spawning the sandbox pool thread");
        Pool {
            state,
            filler: Some(filler),
            linked_size: size.div_ceil(2),
        }
    }

    /// Takes a prepared init, if one is ready. The filler starts the replacement
    /// only when told the launch is done ([`refill`](Self::refill)): creating
    /// namespaces and mounts takes kernel locks the launch needs too.
    pub(crate) fn take(&self) -> Option<PreparedInit> {
        let (lock, _) = &*self.state;
        lock.lock()
            .unwrap_or_else(|p| p.into_inner())
            .ready
            .pop_front()
    }

    /// Takes a sandbox whose outbound link is made, if one is ready, and from now on
    /// keeps some ready.
    pub(crate) fn take_linked(&self) -> Option<PreparedInit> {
        let (lock, _) = &*self.state;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        s.linked_target = self.linked_size;
        s.linked.pop_front()
    }

    /// From now on keeps `template.count` runtimes of `template` prewarmed,
    /// replacing the template of the same entrypoint if there was one.
    pub(crate) fn set_prewarm(&self, template: PrewarmTemplate) {
        let (lock, cond) = &*self.state;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        s.prewarm
            .retain(|(t, _)| t.entrypoint != template.entrypoint);
        s.prewarm.push((Arc::new(template), VecDeque::new()));
        cond.notify_all();
    }

    /// Takes a prewarmed runtime for `spec`, if one is ready and fits it.
    pub(crate) fn take_prewarmed(&self, spec: &LaunchSpec) -> Option<Prewarmed> {
        let (lock, _) = &*self.state;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        s.prewarm
            .iter_mut()
            .find(|(t, _)| t.matches(spec))
            .and_then(|(_, ready)| ready.pop_front())
    }

    /// How many prewarmed runtimes are waiting, of every template.
    pub(crate) fn ready_prewarmed(&self) -> usize {
        self.state
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .prewarm
            .iter()
            .map(|(_, ready)| ready.len())
            .sum()
    }

    /// How many linked sandboxes are waiting.
    pub(crate) fn ready_linked(&self) -> usize {
        self.state
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .linked
            .len()
    }

    /// Wakes the filler to replace what was taken.
    pub(crate) fn refill(&self) {
        self.state.1.notify_all();
    }

    /// How many prepared inits are waiting.
    pub(crate) fn ready(&self) -> usize {
        self.state
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ready
            .len()
    }
}

fn fill(shared: &Shared, state: &(Mutex<State>, Condvar), size: usize) {
    // Refilling must not compete with the runtime a launch just started (on small
    // hosts it would slow that cold start down): the thread, and the inits it
    // clones, run at the lowest priority until an init is handed a function.
    // (Not rootless: an init without the host's root could not raise it back.)
    if !shared.privilege.is_rootless() {
        let _ = super::syscall::set_nice(0, 19);
    }
    let (lock, cond) = state;
    let mut backoff = Duration::from_millis(100);
    loop {
        // Generic sandboxes first: every function needs those; then linked ones,
        // then prewarmed runtimes.
        let (link, prewarm) = {
            let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
            while !s.stopping
                && s.ready.len() >= size
                && s.linked.len() >= s.linked_target
                && s.prewarm_wanted().is_none()
            {
                s = cond.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            if s.stopping {
                return;
            }
            let generic_full = s.ready.len() >= size;
            let link = generic_full && s.linked.len() < s.linked_target;
            let prewarm = (generic_full && !link)
                .then(|| s.prewarm_wanted())
                .flatten();
            (link, prewarm)
        };
        if let Some(template) = prewarm {
            match shared.prewarm(&template) {
                Ok(p) => {
                    backoff = Duration::from_millis(100);
                    let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                    if s.stopping {
                        return;
                    }
                    // A template replaced meanwhile makes this one useless.
                    if let Some((_, ready)) = s
                        .prewarm
                        .iter_mut()
                        .find(|(t, _)| Arc::ptr_eq(t, &template))
                    {
                        ready.push_back(p);
                    }
                    cond.notify_all();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not prewarm a runtime");
                    let s = lock.lock().unwrap_or_else(|p| p.into_inner());
                    let _ = cond.wait_timeout(s, backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
            continue;
        }
        let prepared = start_init(shared, &shared.pool_cgroup_name()).and_then(|mut init| {
            if link {
                init.network = Some(shared.outbound.attach(init.instance.pid)?);
            }
            init.scratch = shared.scratch_ahead();
            Ok(init)
        });
        match prepared {
            Ok(init) => {
                backoff = Duration::from_millis(100);
                let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                if s.stopping {
                    return; // `init` is dropped: killed and cleaned up
                }
                if link {
                    s.linked.push_back(init);
                } else {
                    s.ready.push_back(init);
                }
                cond.notify_all();
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not pre-create a sandbox for the pool");
                let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                if link {
                    // Outbound network does not work here: stop linking until the
                    // next launch that wants it (which will say why it fails).
                    s.linked_target = 0;
                }
                let _ = cond.wait_timeout(s, backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let (lock, cond) = &*self.state;
        let drained: Vec<PreparedInit> = {
            let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
            s.stopping = true;
            let linked: Vec<PreparedInit> = s.linked.drain(..).collect();
            let prewarmed: Vec<PreparedInit> = s
                .prewarm
                .drain(..)
                .flat_map(|(_, ready)| ready.into_iter().map(|p| p.init))
                .collect();
            s.ready.drain(..).chain(linked).chain(prewarmed).collect()
        };
        cond.notify_all();
        drop(drained);
        if let Some(filler) = self.filler.take() {
            let _ = filler.join();
        }
    }
}
