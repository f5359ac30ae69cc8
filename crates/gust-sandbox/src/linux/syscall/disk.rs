//! Disk-backed `/tmp`: loop devices, a detached ext4 mount made with the new mount
//! API, sparse copies of a formatted image, and the free space of a filesystem.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::{cstr, cvt, cvt_long};

const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LO_FLAGS_AUTOCLEAR: u32 = 4;
const LO_FLAGS_DIRECT_IO: u32 = 16;
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;
const MOUNT_ATTR_NOATIME: libc::c_uint = 0x10;

/// `struct loop_info64`.
#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

/// `struct loop_config` of `LOOP_CONFIGURE`.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// Attaches `image` to a free loop device that detaches itself when its last user
/// (the mount) goes, with direct I/O (no second copy of the data in the host's page
/// cache). Returns the device's path, and the device open: it detaches as soon as
/// that is closed unless something (the mount) holds it by then.
pub(crate) fn loop_attach(image: &File) -> io::Result<(std::path::PathBuf, File)> {
    let control = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/loop-control")?;
    // Another thread or process may take the free device first: try again.
    for _ in 0..16 {
        // SAFETY: an ioctl without argument on a descriptor `control` keeps open.
        let n = cvt(unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE) })?;
        let path = std::path::PathBuf::from(format!("/dev/loop{n}"));
        let dev = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)?;
        // SAFETY: the all-zero bit pattern is a valid loop_config (plain integers).
        let mut config: LoopConfig = unsafe { std::mem::zeroed() };
        config.fd = image.as_raw_fd() as u32;
        config.block_size = 4096;
        config.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
        // SAFETY: LOOP_CONFIGURE reads a loop_config that lives for the call.
        let rc = unsafe {
            libc::ioctl(
                dev.as_raw_fd(),
                LOOP_CONFIGURE,
                &config as *const LoopConfig,
            )
        };
        match cvt(rc) {
            Ok(_) => return Ok((path, dev)),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free loop device after 16 tries"))
}

use std::os::unix::fs::OpenOptionsExt;

/// A detached nosuid, nodev, noatime ext4 mount of `device` (`fsopen`, `fsconfig`,
/// `fsmount`), to be attached with [`super::move_mount_onto`]. Its inode tables are
/// not zeroed in the background (`noinit_itable`): the image is a fresh copy whose
/// unused groups the filesystem already knows to be empty.
pub(crate) fn mount_ext4_detached(device: &Path) -> io::Result<OwnedFd> {
    let ext4 = cstr(OsStr::new("ext4"))?;
    // SAFETY: fsopen with a NUL-terminated filesystem name; returns a new descriptor.
    let fs = cvt_long(unsafe { libc::syscall(libc::SYS_fsopen, ext4.as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: a fresh descriptor that nothing else owns.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    let config = |cmd: libc::c_uint, key: Option<&str>, value: Option<&OsStr>| {
        let key = key.map(|k| cstr(OsStr::new(k))).transpose()?;
        let value = value.map(cstr).transpose()?;
        let ptr =
            |c: &Option<std::ffi::CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        // SAFETY: fsconfig on the context's descriptor with null or NUL-terminated
        // key and value that outlive the call.
        cvt_long(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                cmd,
                ptr(&key),
                ptr(&value),
                0,
            )
        })
        .map(drop)
    };
    config(
        FSCONFIG_SET_STRING,
        Some("source"),
        Some(device.as_os_str()),
    )?;
    config(FSCONFIG_SET_FLAG, Some("noinit_itable"), None)?;
    // Nothing on it outlives the instance: an fsync need not reach the disk.
    config(FSCONFIG_SET_FLAG, Some("nobarrier"), None)?;
    config(FSCONFIG_CMD_CREATE, None, None)?;
    // SAFETY: fsmount on a created context; returns a new descriptor.
    let mnt = cvt_long(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOATIME,
        )
    })?;
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(mnt as i32) })
}

/// Copies `from` into the empty file `to`, data extents only: holes stay holes, so
/// a mostly empty filesystem image costs what its metadata takes.
pub(crate) fn copy_sparse(from: &File, to: &File) -> io::Result<()> {
    let len = from.metadata()?.len();
    to.set_len(len)?;
    let mut pos: i64 = 0;
    while (pos as u64) < len {
        // SAFETY: lseek on a descriptor `from` keeps open.
        let data = unsafe { libc::lseek(from.as_raw_fd(), pos, libc::SEEK_DATA) };
        if data < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENXIO) {
                return Ok(()); // only a hole is left
            }
            return Err(e);
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(from.as_raw_fd(), data, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(io::Error::last_os_error());
        }
        let (mut off_in, mut off_out) = (data, data);
        while off_in < hole {
            // SAFETY: copy_file_range between two open descriptors with offsets
            // that live for the call.
            let n = unsafe {
                libc::copy_file_range(
                    from.as_raw_fd(),
                    &mut off_in,
                    to.as_raw_fd(),
                    &mut off_out,
                    (hole - off_in) as usize,
                    0,
                )
            };
            match n {
                n if n < 0 => return Err(io::Error::last_os_error()),
                0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                _ => {}
            }
        }
        pos = hole;
    }
    Ok(())
}

/// Bytes an unprivileged writer may still allocate on the filesystem of `path`.
pub(crate) fn free_bytes(path: &Path) -> io::Result<u64> {
    let path = cstr(path.as_os_str())?;
    // SAFETY: an all-zero statvfs is valid; statvfs fills it in.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid statvfs pointer.
    cvt(unsafe { libc::statvfs(path.as_ptr(), &mut st) })?;
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}
