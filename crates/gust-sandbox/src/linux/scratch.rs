//! Disk-backed `/tmp`, as Lambda's ephemeral storage: each instance gets a fresh
//! ext4 filesystem of exactly its function's `EphemeralStorage` size, in a sparse
//! image file under gust's data directory, attached to a loop device and mounted
//! nosuid, nodev at `/tmp`. Its pages are page cache, which the kernel writes back
//! and reclaims (they do not pin the function's memory as a tmpfs does), and the
//! filesystem's size is a hard limit (`ENOSPC`).
//!
//! # Life of an image
//! 1. Once per size, a template is formatted (`mkfs.ext4` without a journal, inode
//!    tables left for the kernel to know as unused, root `1777`, no `lost+found`).
//! 2. Per instance, the template's data extents are copied into a new sparse file
//!    (a few hundred KiB for 512 MB), which is attached to a loop device that
//!    detaches itself when unmounted, mounted detached (`fsmount`), and unlinked:
//!    from then on only the mount holds it, so nothing remains on disk once the
//!    instance's mount namespace is gone, whoever ends it. A thread of its own keeps
//!    two of the default 512 MB made ahead, which the pool's sandboxes and prewarmed
//!    runtimes take (see `pool`); other sizes pay it at launch.
//! 3. The init attaches the mount at `/tmp` (`move_mount`), in its own mount
//!    namespace: no other instance, and nothing on the host, can reach it.
//! 4. Nothing is ever reused: a pooled sandbox or a new instance gets a new image.
//!
//! # Admission
//! Images are sparse, so the disk is admitted like memory: an instance gets its
//! image only if the space still promised to every other instance's image (its size
//! minus what it has already allocated) plus its own size fits in the free space of
//! the data directory's filesystem (or in the capacity the operator set instead,
//! which may be more: images are sparse, so promising more than is free
//! overcommits, as `--memory` can). Otherwise the launch fails with
//! [`SandboxError::Exhausted`], on which the scheduler ends the longest-idle
//! instance (whose image goes with it) and tries again, as it does for memory;
//! only when no idle instance is left does the launch fail, saying so. Images
//! made ahead of demand promise nothing until a launch claims one (nothing writes to
//! them before, and unwritten they take a few hundred KiB): they are made where a
//! claimed one could be, and a launch that takes one claims it under the same
//! check.
//!
//! Needs root (loop devices, mounting ext4). Rootless, `/tmp` stays a size-limited
//! tmpfs, counted against the function's memory (see `rootless`).

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};

use super::syscall as sys;
use crate::SandboxError;

/// The size every function gets unless it sets `EphemeralStorage`, which the pool
/// prepares ahead of demand.
pub(crate) const DEFAULT_MB: u32 = 512;

/// How many default-size images a thread of their own keeps made ahead of demand
/// (for the pool to take: making one waits on the block layer and the mount for
/// milliseconds, which would otherwise slow the pool's refilling down).
const SPARES: usize = 2;

/// Where the images of one gust live, what they have been promised, and the spare
/// images made ahead.
pub(crate) struct ScratchDisk {
    core: Arc<Core>,
    spares: Arc<(Mutex<Spares>, Condvar)>,
    maker: Option<std::thread::JoinHandle<()>>,
}

/// The spare images and the maker thread's stop flag.
struct Spares {
    ready: VecDeque<Scratch>,
    stopping: bool,
}

/// Where the images live and what they have been promised.
struct Core {
    dir: PathBuf,
    /// One formatted image per size, made on first use.
    templates: Mutex<HashMap<u32, Arc<File>>>,
    /// Every image handed out and not yet dropped, and whether an instance has
    /// claimed it (also the admission lock).
    live: Mutex<Live>,
    seq: AtomicU64,
    /// Bytes all images together may be promised; `None`: the filesystem's free
    /// space.
    capacity: Option<u64>,
}

/// The images handed out, for admission.
#[derive(Default)]
struct Live {
    /// Every image not yet dropped, and whether an instance has claimed it.
    images: Vec<(Weak<File>, Arc<AtomicBool>)>,
    /// Bytes admitted for launches whose image is being made (outside the lock).
    pending: u64,
}

/// One instance's `/tmp`: a detached mount of its own filesystem image.
pub(crate) struct Scratch {
    /// Its size in MB.
    pub mb: u32,
    /// The detached mount, for the init to attach at `/tmp`.
    pub mount: OwnedFd,
    /// The (already unlinked) image, kept open for admission to see its size and
    /// what it has allocated.
    _image: Arc<File>,
    /// Whether an instance has claimed it (see [`ScratchDisk::claim`]).
    claimed: Arc<AtomicBool>,
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch").field("mb", &self.mb).finish()
    }
}

impl ScratchDisk {
    /// Prepares `dir` (created 0700; whatever an earlier gust left there is removed)
    /// and checks that an image can be made and mounted here. `Err` says why not:
    /// `/tmp` then stays a tmpfs. `capacity_mb` replaces the filesystem's free
    /// space as what all images together may be promised.
    pub(crate) fn open(dir: &Path, capacity_mb: Option<u64>) -> Result<ScratchDisk, String> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let removed = remove_leftovers(dir);
        if removed > 0 {
            tracing::info!("removed {removed} /tmp images left by an earlier gust");
        }
        let core = Arc::new(Core {
            dir: dir.to_path_buf(),
            templates: Mutex::new(HashMap::new()),
            live: Mutex::new(Live::default()),
            seq: AtomicU64::new(0),
            capacity: capacity_mb.map(|mb| mb.saturating_mul(1 << 20)),
        });
        // The real test: one image, made, mounted and thrown away.
        core.make(DEFAULT_MB, false)
            .map_err(|e| format!("a test image could not be made and mounted: {e}"))?;
        let spares = Arc::new((
            Mutex::new(Spares {
                ready: VecDeque::new(),
                stopping: false,
            }),
            Condvar::new(),
        ));
        let maker = {
            let (core, spares) = (Arc::clone(&core), Arc::clone(&spares));
            std::thread::Builder::new()
                .name("gust-sandbox-tmp".into())
                .spawn(move || make_spares(&core, &spares))
                .map_err(|e| format!("starting the /tmp image thread: {e}"))?
        };
        Ok(ScratchDisk {
            core,
            spares,
            maker: Some(maker),
        })
    }

    /// A new, empty `/tmp` of `mb` MB for a launch, if the disk can promise it.
    pub(crate) fn make(&self, mb: u32) -> Result<Scratch, SandboxError> {
        self.core.make(mb, true)
    }

    /// A new, empty `/tmp` of the default size made ahead of demand (a spare, or
    /// made now), where a launch's could be; it promises nothing until
    /// [`claim`](Self::claim)ed.
    pub(crate) fn make_ahead(&self) -> Result<Scratch, SandboxError> {
        let (lock, cond) = &*self.spares;
        let spare = lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ready
            .pop_front();
        cond.notify_all();
        match spare {
            Some(s) => Ok(s),
            None => self.core.make(DEFAULT_MB, false),
        }
    }

    /// Lets an instance use `scratch`, made ahead, if the disk can promise it.
    pub(crate) fn claim(&self, scratch: &Scratch) -> Result<(), SandboxError> {
        self.core.claim(scratch)
    }
}

impl Drop for ScratchDisk {
    fn drop(&mut self) {
        let (lock, cond) = &*self.spares;
        let drained: Vec<Scratch> = {
            let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
            s.stopping = true;
            s.ready.drain(..).collect()
        };
        cond.notify_all();
        drop(drained);
        if let Some(maker) = self.maker.take() {
            let _ = maker.join();
        }
    }
}

/// The maker thread: keeps [`SPARES`] default-size images ready, at the lowest
/// priority (as the pool's filler), backing off while the disk cannot take one.
fn make_spares(core: &Core, spares: &(Mutex<Spares>, Condvar)) {
    let _ = sys::set_nice(0, 19);
    let (lock, cond) = spares;
    let mut backoff = std::time::Duration::from_millis(100);
    loop {
        {
            let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
            while !s.stopping && s.ready.len() >= SPARES {
                s = cond.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            if s.stopping {
                return;
            }
        }
        match core.make(DEFAULT_MB, false) {
            Ok(spare) => {
                backoff = std::time::Duration::from_millis(100);
                let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                if s.stopping {
                    return;
                }
                s.ready.push_back(spare);
            }
            Err(e) => {
                tracing::debug!(error = %e, "no spare /tmp image made");
                let s = lock.lock().unwrap_or_else(|p| p.into_inner());
                let _ = cond.wait_timeout(s, backoff);
                backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
            }
        }
    }
}

impl Core {
    /// Lets an instance use `scratch`, made ahead, if the disk can promise it.
    fn claim(&self, scratch: &Scratch) -> Result<(), SandboxError> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        self.admit_locked(&mut live, u64::from(scratch.mb) << 20)?;
        scratch.claimed.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Checks that `bytes` more fit beside what the claimed images may still take.
    fn admit_locked(&self, live: &mut Live, bytes: u64) -> Result<(), SandboxError> {
        live.images.retain(|(w, _)| w.strong_count() > 0);
        let promised: u64 = live
            .images
            .iter()
            .filter(|(_, c)| c.load(Ordering::Relaxed))
            .filter_map(|(w, _)| w.upgrade())
            .map(|f| outstanding(&f))
            .sum::<u64>()
            + live.pending;
        let free = match self.capacity {
            Some(capacity) => capacity,
            None => sys::free_bytes(&self.dir)
                .map_err(|e| SandboxError::io("reading the data directory's free space", e))?,
        };
        match admit(bytes, promised, free, self.capacity.is_some()) {
            Some(why) => Err(SandboxError::Exhausted(why)),
            None => Ok(()),
        }
    }

    /// A new, empty `/tmp` of `mb` MB, claimed (for a launch) or not (ahead of
    /// demand), if the disk can promise it.
    fn make(&self, mb: u32, claimed: bool) -> Result<Scratch, SandboxError> {
        let template = self.template(mb)?;
        let bytes = u64::from(mb) << 20;
        // Admitted under the lock; made outside it (it takes milliseconds, and a
        // launch claiming an image made ahead must not wait for it).
        {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            self.admit_locked(&mut live, bytes)?;
            if claimed {
                live.pending += bytes;
            }
        }
        let path = self.dir.join(format!(
            "tmp-{}-{}.img",
            std::process::id(),
            self.seq.fetch_add(1, Ordering::Relaxed)
        ));
        let made = (|| {
            let image = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| SandboxError::io("creating a /tmp image", e))?;
            sys::copy_sparse(&template, &image)
                .map_err(|e| SandboxError::io("copying a /tmp image", e))?;
            let (device, open_device) = sys::loop_attach(&image)
                .map_err(|e| SandboxError::io("attaching a /tmp image to a loop device", e))?;
            let mount = sys::mount_ext4_detached(&device)
                .map_err(|e| SandboxError::io(format!("mounting {}", device.display()), e))?;
            // Closed only now: the device clears itself once nothing holds it.
            drop(open_device);
            Ok((image, mount))
        })();
        // Unlinked at once: the loop device holds the file until it is unmounted.
        let _ = std::fs::remove_file(&path);
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if claimed {
            live.pending -= bytes;
        }
        let (image, mount) = made?;
        let image = Arc::new(image);
        let claimed = Arc::new(AtomicBool::new(claimed));
        live.images
            .push((Arc::downgrade(&image), Arc::clone(&claimed)));
        Ok(Scratch {
            mb,
            mount,
            _image: image,
            claimed,
        })
    }

    /// The formatted template of `mb` MB, made on first use.
    fn template(&self, mb: u32) -> Result<Arc<File>, SandboxError> {
        let mut templates = self.templates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = templates.get(&mb) {
            return Ok(Arc::clone(t));
        }
        let path = self
            .dir
            .join(format!("template-{}-{mb}.img", std::process::id()));
        let made = format_template(&path, mb).and_then(|()| File::open(&path));
        // Open, it outlives its name; a crash leaves nothing that `open` keeps.
        let _ = std::fs::remove_file(&path);
        let file = Arc::new(
            made.map_err(|e| SandboxError::io(format!("formatting a {mb} MB /tmp image"), e))?,
        );
        templates.insert(mb, Arc::clone(&file));
        Ok(file)
    }
}

/// What an image may still allocate: its size minus the blocks it has.
fn outstanding(image: &File) -> u64 {
    image
        .metadata()
        .map(|m| m.len().saturating_sub(m.blocks() * 512))
        .unwrap_or(0)
}

/// Why `bytes` more cannot be promised when `promised` bytes are and `free` are
/// free (or, `configured`, may be promised in all), or `None` if they can.
fn admit(bytes: u64, promised: u64, free: u64, configured: bool) -> Option<String> {
    const MB: u64 = 1 << 20;
    (promised.saturating_add(bytes) > free).then(|| {
        let (room, fix) = if configured {
            (
                format!("gust serve --tmp-disk allows {} MB", free / MB),
                "Raise --tmp-disk",
            )
        } else {
            (
                format!(
                    "the filesystem of gust's data directory has {} MB free",
                    free / MB
                ),
                "Free disk space, overcommit with gust serve --tmp-disk,",
            )
        };
        format!(
            "not enough disk for this function's /tmp: its ephemeral storage is {} MB, and \
             {room}, of which {} MB are already promised to the /tmp of other instances, \
             none of them idle. {fix} or lower the function's EphemeralStorage",
            bytes / MB,
            promised.min(free) / MB
        )
    })
}

/// Formats an image of `mb` MB at `path` for `/tmp`: ext4 without a journal (a
/// crash throws it away anyway) and without room to grow, no reserved blocks, root
/// directory `1777`, no `lost+found`. Its inode tables and bitmaps take about 2% of
/// the size.
fn format_template(path: &Path, mb: u32) -> io::Result<()> {
    let file = File::create(path)?;
    file.set_len(u64::from(mb) << 20)?;
    drop(file);
    let run = |program: &str, args: &[&std::ffi::OsStr]| -> io::Result<()> {
        let out = Command::new(find_tool(program))
            .args(args)
            .env("MKE2FS_SYNC", "0")
            .output()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("running {program} (install e2fsprogs): {e}"),
                )
            })?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "{program} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    };
    let p = path.as_os_str();
    run(
        "mkfs.ext4",
        &[
            "-q".as_ref(),
            "-F".as_ref(),
            "-O".as_ref(),
            "^has_journal,^resize_inode".as_ref(),
            "-E".as_ref(),
            "lazy_itable_init=1,nodiscard".as_ref(),
            "-m".as_ref(),
            "0".as_ref(),
            "-b".as_ref(),
            "4096".as_ref(),
            p,
        ],
    )?;
    for cmd in ["set_inode_field / mode 041777", "rmdir lost+found"] {
        run("debugfs", &["-w".as_ref(), "-R".as_ref(), cmd.as_ref(), p])?;
    }
    Ok(())
}

/// `program` from the sbin directories, where gust's `PATH` may not look.
fn find_tool(program: &str) -> PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(program))
}

/// Removes every image file in `dir` (an earlier gust's, killed between making
/// one and unlinking it). Returns how many.
fn remove_leftovers(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".img"))
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disk_is_never_promised_beyond_its_free_space() {
        const MB: u64 = 1 << 20;
        assert_eq!(admit(512 * MB, 0, 1024 * MB, false), None);
        assert_eq!(admit(512 * MB, 512 * MB, 1024 * MB, false), None);
        let refused = admit(512 * MB, 600 * MB, 1024 * MB, false).unwrap();
        assert!(refused.contains("ephemeral storage is 512 MB"), "{refused}");
        assert!(refused.contains("1024 MB free"), "{refused}");
        assert!(refused.contains("600 MB are already promised"), "{refused}");
        assert!(refused.contains("--tmp-disk"), "{refused}");
        // A capacity the operator set is named as such.
        let refused = admit(512 * MB, 600 * MB, 1024 * MB, true).unwrap();
        assert!(refused.contains("--tmp-disk allows 1024 MB"), "{refused}");
    }

    #[test]
    fn an_image_promises_only_what_it_has_not_allocated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.img");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.set_len(8 << 20).unwrap();
        assert_eq!(outstanding(&f), 8 << 20);
        std::os::unix::fs::FileExt::write_all_at(&f, &vec![1u8; 1 << 20], 0).unwrap();
        f.sync_all().unwrap();
        assert!(outstanding(&f) <= 7 << 20);
    }

    #[test]
    fn leftover_images_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tmp-1-0.img"), b"").unwrap();
        std::fs::write(dir.path().join("template-1-512.img"), b"").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"").unwrap();
        assert_eq!(remove_leftovers(dir.path()), 2);
        assert!(dir.path().join("notes.txt").exists());
    }
}
