//! Unit tests of the seccomp filter: the compiled program is run by a small classic
//! BPF interpreter, the way the kernel runs it, on syscall numbers and arguments.

use super::*;

/// What the filter answered.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Allow,
    Errno(u32),
}

const EPERM: Verdict = Verdict::Errno(libc::EPERM as u32);
const ENOSYS: Verdict = Verdict::Errno(libc::ENOSYS as u32);

/// Runs the program on one `struct seccomp_data`, for the classic BPF subset
/// seccompiler and the prefix emit; panics on anything else (a kill included).
fn run(prog: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> Verdict {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_le_bytes());
    data[4..8].copy_from_slice(&arch.to_le_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let ins = prog[pc];
        pc += 1;
        match ins.code {
            0x20 => {
                // BPF_LD | BPF_W | BPF_ABS
                let k = ins.k as usize;
                acc = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
            }
            0x54 => acc &= ins.k,         // BPF_ALU | BPF_AND | BPF_K
            0x05 => pc += ins.k as usize, // BPF_JMP | BPF_JA
            0x15 | 0x25 | 0x35 | 0x45 => {
                let taken = match ins.code {
                    0x15 => acc == ins.k,
                    0x25 => acc > ins.k,
                    0x35 => acc >= ins.k,
                    _ => acc & ins.k != 0,
                };
                pc += if taken { ins.jt } else { ins.jf } as usize;
            }
            0x06 => {
                return match ins.k & libc::SECCOMP_RET_ACTION_FULL {
                    libc::SECCOMP_RET_ALLOW => Verdict::Allow,
                    libc::SECCOMP_RET_ERRNO => Verdict::Errno(ins.k & libc::SECCOMP_RET_DATA),
                    other => panic!("the filter returned {other:#x} (not ALLOW or ERRNO)"),
                }
            }
            other => panic!("unexpected opcode {other:#x}"),
        }
    }
}

fn filter() -> Vec<libc::sock_filter> {
    build().expect("the filter builds")
}

fn call(prog: &[libc::sock_filter], nr: libc::c_long, args: [u64; 6]) -> Verdict {
    run(prog, AUDIT_ARCH, nr as u32, args)
}

fn arg0(prog: &[libc::sock_filter], nr: libc::c_long, a: u64) -> Verdict {
    call(prog, nr, [a, 0, 0, 0, 0, 0])
}

#[test]
fn the_filter_builds_once_and_fits_the_kernel_limit() {
    let prog = filter();
    assert!(prog.len() < 4096, "{} instructions", prog.len());
    let first = runtime_filter().unwrap();
    assert_eq!(first.len(), prog.len());
    assert!(
        std::ptr::eq(first, runtime_filter().unwrap()),
        "built again"
    );
}

#[test]
fn every_listed_syscall_is_allowed_whatever_its_arguments() {
    let prog = filter();
    let mut names = std::collections::BTreeSet::new();
    let mut numbers = std::collections::BTreeSet::new();
    for (name, nr) in always_allowed() {
        assert!(names.insert(name), "{name} is listed twice");
        assert!(numbers.insert(nr), "{name}'s number {nr} is listed twice");
        assert!(
            (nr as u32) < FIRST_UNKNOWN,
            "{name} ({nr}) is past FIRST_UNKNOWN"
        );
        for args in [[0; 6], [u64::MAX; 6], [1, 2, 3, 4, 5, 6]] {
            assert_eq!(call(&prog, nr, args), Verdict::Allow, "{name}");
        }
    }
    for (nr, _) in conditional().unwrap() {
        assert!(
            !numbers.contains(&nr),
            "{nr} is both conditional and always allowed"
        );
    }
}

#[test]
fn what_the_list_leaves_out_fails_with_eperm() {
    let prog = filter();
    #[allow(unused_mut)] // Extended on x86_64 only.
    let mut refused = vec![
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_fsopen,
        libc::SYS_fsmount,
        libc::SYS_open_tree,
        libc::SYS_move_mount,
        libc::SYS_setns,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_pidfd_getfd,
        libc::SYS_kcmp,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_syslog,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_userfaultfd,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_reboot,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
        libc::SYS_sethostname,
        libc::SYS_setdomainname,
        libc::SYS_swapon,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_migrate_pages,
        libc::SYS_move_pages,
        libc::SYS_vhangup,
    ];
    #[cfg(target_arch = "x86_64")]
    refused.extend([
        libc::SYS_iopl,
        libc::SYS_ioperm,
        libc::SYS_modify_ldt,
        libc::SYS_uselib,
        libc::SYS_ustat,
        libc::SYS_sysfs,
    ]);
    for nr in refused {
        for args in [[0; 6], [u64::MAX; 6]] {
            assert_eq!(call(&prog, nr, args), EPERM, "syscall {nr}");
        }
    }
}

#[test]
fn clone3_foreign_abis_and_unknown_numbers_answer_enosys() {
    let prog = filter();
    // glibc falls back from clone3 to clone on ENOSYS only.
    assert_eq!(arg0(&prog, libc::SYS_clone3, 0), ENOSYS);
    // i386 mount (21) through int 0x80.
    assert_eq!(run(&prog, 0x4000_0003, 21, [0; 6]), ENOSYS);
    // Newer than the list: a newer libc falls back.
    for nr in [FIRST_UNKNOWN, FIRST_UNKNOWN + 7, 1000, u32::MAX] {
        assert_eq!(run(&prog, AUDIT_ARCH, nr, [0; 6]), ENOSYS, "{nr}");
    }
    #[cfg(target_arch = "x86_64")]
    for nr in [libc::SYS_read, libc::SYS_mount] {
        let x32 = 0x4000_0000 | nr as u32;
        assert_eq!(run(&prog, AUDIT_ARCH, x32, [0; 6]), ENOSYS, "x32 {nr}");
    }
    // The calls today's glibc, Go and Node probe are allowed outright.
    for nr in [
        libc::SYS_faccessat2,
        libc::SYS_statx,
        libc::SYS_rseq,
        libc::SYS_close_range,
        SYS_FCHMODAT2,
    ] {
        assert_eq!(arg0(&prog, nr, 0), Verdict::Allow, "{nr}");
    }
}

#[test]
fn clone_and_unshare_are_allowed_only_without_namespace_flags() {
    let prog = filter();
    let thread = (libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM
        | libc::CLONE_SETTLS
        | libc::CLONE_PARENT_SETTID
        | libc::CLONE_CHILD_CLEARTID) as u64;
    let fork = libc::SIGCHLD as u64;
    let vfork = (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD) as u64;
    for flags in [thread, fork, vfork] {
        assert_eq!(
            arg0(&prog, libc::SYS_clone, flags),
            Verdict::Allow,
            "{flags:#x}"
        );
    }
    for ns in [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWCGROUP,
        0x80,
    ] {
        assert_eq!(
            arg0(&prog, libc::SYS_clone, fork | ns as u64),
            EPERM,
            "{ns:#x}"
        );
        assert_eq!(arg0(&prog, libc::SYS_unshare, ns as u64), EPERM, "{ns:#x}");
    }
    assert_eq!(
        arg0(&prog, libc::SYS_unshare, libc::CLONE_FILES as u64),
        Verdict::Allow
    );
}

#[test]
fn sockets_are_allowed_for_unix_netlink_and_ip_streams_and_datagrams_only() {
    let prog = filter();
    let sock = |domain: i32, ty: i32| {
        call(
            &prog,
            libc::SYS_socket,
            [domain as u64, ty as u64, 0, 0, 0, 0],
        )
    };
    for (domain, ty) in [
        (libc::AF_INET, libc::SOCK_STREAM),
        (libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK),
        (libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC),
        (libc::AF_INET6, libc::SOCK_SEQPACKET),
        (libc::AF_UNIX, libc::SOCK_STREAM),
        (libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC),
        // Netlink is how libc lists interfaces and addresses.
        (libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC),
    ] {
        assert_eq!(sock(domain, ty), Verdict::Allow, "{domain} {ty:#x}");
    }
    for (domain, ty) in [
        (libc::AF_INET, libc::SOCK_RAW),
        (libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_CLOEXEC),
        (libc::AF_INET, libc::SOCK_RAW | libc::SOCK_NONBLOCK),
        (libc::AF_INET, 10), // SOCK_PACKET
        (libc::AF_PACKET, libc::SOCK_DGRAM),
        (libc::AF_PACKET, libc::SOCK_RAW),
        (libc::AF_ALG, libc::SOCK_SEQPACKET),
        (libc::AF_VSOCK, libc::SOCK_STREAM),
        (libc::AF_KEY, libc::SOCK_RAW),
        (libc::AF_BLUETOOTH, libc::SOCK_STREAM),
    ] {
        assert_eq!(sock(domain, ty), EPERM, "{domain} {ty:#x}");
    }
}

#[test]
fn device_nodes_are_refused_but_fifos_and_files_are_not() {
    let prog = filter();
    let at = |mode: u32| {
        call(
            &prog,
            libc::SYS_mknodat,
            [libc::AT_FDCWD as u64, 0, u64::from(mode), 0, 0, 0],
        )
    };
    assert_eq!(at(libc::S_IFCHR | 0o666), EPERM);
    assert_eq!(at(libc::S_IFBLK | 0o600), EPERM);
    assert_eq!(at(libc::S_IFIFO | 0o600), Verdict::Allow);
    assert_eq!(at(libc::S_IFSOCK | 0o600), Verdict::Allow);
    assert_eq!(at(libc::S_IFREG | 0o600), Verdict::Allow);
    assert_eq!(at(0o600), Verdict::Allow);
    #[cfg(target_arch = "x86_64")]
    {
        let plain = |mode: u32| call(&prog, libc::SYS_mknod, [0, u64::from(mode), 0, 0, 0, 0]);
        assert_eq!(plain(libc::S_IFCHR | 0o666), EPERM);
        assert_eq!(plain(libc::S_IFIFO | 0o666), Verdict::Allow);
    }
}

#[test]
fn personality_allows_only_the_benign_personas() {
    let prog = filter();
    for p in [0u64, 0x8, 0x20000, 0x20008, 0xffff_ffff] {
        assert_eq!(
            arg0(&prog, libc::SYS_personality, p),
            Verdict::Allow,
            "{p:#x}"
        );
    }
    const READ_IMPLIES_EXEC: u64 = 0x0040_0000;
    const ADDR_NO_RANDOMIZE: u64 = 0x0004_0000;
    const ADDR_COMPAT_LAYOUT: u64 = 0x0020_0000;
    for p in [
        READ_IMPLIES_EXEC,
        READ_IMPLIES_EXEC | 0x8,
        ADDR_NO_RANDOMIZE,
        ADDR_COMPAT_LAYOUT,
        0x0800_0000, // STICKY_TIMEOUTS
        0x0004,      // PER_SVR4 and the like: other execution domains
    ] {
        assert_eq!(arg0(&prog, libc::SYS_personality, p), EPERM, "{p:#x}");
    }
}

/// Every syscall of the recorded profile is allowed, conditionally allowed, or one
/// this file refuses on purpose. (Recorded on x86_64; names that do not exist on
/// another architecture cannot be checked there.)
#[cfg(target_arch = "x86_64")]
#[test]
fn the_recorded_profile_is_covered() {
    let recorded = include_str!("seccomp_profile/recorded.txt");
    let allowed: std::collections::BTreeSet<&str> =
        always_allowed().map(|(name, _)| name).collect();
    let conditional = [
        "clone",
        "unshare",
        "socket",
        "mknod",
        "mknodat",
        "personality",
    ];
    let refused: std::collections::BTreeSet<&str> = REFUSED.iter().map(|(n, _)| *n).collect();
    let mut names = 0;
    for line in recorded
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split_whitespace().next().unwrap();
        names += 1;
        assert!(
            allowed.contains(name) || conditional.contains(&name) || refused.contains(name),
            "the recorded profile has {name}, which the filter neither allows nor refuses \
             on purpose: add it to ALWAYS or REFUSED"
        );
    }
    assert!(
        names > 50,
        "the recorded profile looks truncated ({names} syscalls)"
    );
}
