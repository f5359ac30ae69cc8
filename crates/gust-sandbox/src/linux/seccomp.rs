//! The runtime's seccomp filter: a deny list of what a function has no business doing
//! (changing mounts or namespaces, tracing other processes, loading kernel code, key
//! rings, clocks, raw sockets, device nodes...). Denied calls fail with `EPERM`, so a
//! runtime gets a clean error instead of being killed; `clone3` fails with `ENOSYS`
//! because its flags sit in memory a filter cannot read, and libc then falls back to
//! `clone`, whose flags it can.
//!
//! The filter is compiled to classic BPF here rather than through a library, because a
//! deny list needs two checks that allow lists do not: syscalls of a foreign ABI
//! (i386 through `int 0x80`) and x32 numbers (`nr | 0x40000000`) would otherwise pass
//! under other numbers. Both are answered `ENOSYS`.

/// `(arg & mask) == value` on one syscall argument (its low 32 bits).
#[derive(Debug, Clone, Copy)]
struct Cond {
    arg: u8,
    mask: u32,
    value: u32,
}

/// A condition under which a call is denied; a rule denies when any of its checks
/// matches.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// `arg & mask != 0`.
    AnyBit { arg: u8, mask: u32 },
    /// Every condition holds.
    All(&'static [Cond]),
}

const fn eq(arg: u8, mask: u32, value: u32) -> Cond {
    Cond { arg, mask, value }
}

/// When a syscall is denied.
#[derive(Debug, Clone, Copy)]
enum When {
    /// Always, with this errno.
    Always(u32),
    /// With `EPERM`, when any of these checks matches.
    Any(&'static [Check]),
}

#[derive(Debug, Clone, Copy)]
struct Rule {
    nr: libc::c_long,
    when: When,
}

const EPERM: u32 = libc::EPERM as u32;
const ENOSYS: u32 = libc::ENOSYS as u32;

/// Every namespace flag of `clone`/`unshare` (CLONE_NEWTIME is 0x80).
const NAMESPACE_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u32
    | 0x80;

const S_IFMT: u32 = libc::S_IFMT;
const DEVICE_NODE: [Check; 2] = [
    Check::All(&[eq(1, S_IFMT, libc::S_IFCHR)]),
    Check::All(&[eq(1, S_IFMT, libc::S_IFBLK)]),
];
const DEVICE_NODE_AT: [Check; 2] = [
    Check::All(&[eq(2, S_IFMT, libc::S_IFCHR)]),
    Check::All(&[eq(2, S_IFMT, libc::S_IFBLK)]),
];
const NEW_NAMESPACE: [Check; 1] = [Check::AnyBit {
    arg: 0,
    mask: NAMESPACE_FLAGS,
}];

/// The obsolete packet socket type (libc deprecates the constant).
const SOCK_PACKET: u32 = 10;
const AF_INET: u32 = libc::AF_INET as u32;
const AF_INET6: u32 = libc::AF_INET6 as u32;
const SOCK_RAW: u32 = libc::SOCK_RAW as u32;
/// Packet sockets, and raw IP sockets (the type's low four bits; the rest are
/// SOCK_NONBLOCK/SOCK_CLOEXEC). Raw netlink sockets stay: libc and language
/// runtimes list interfaces and addresses through them.
const RAW_SOCKET: [Check; 5] = [
    Check::All(&[eq(0, u32::MAX, libc::AF_PACKET as u32)]),
    Check::All(&[eq(0, u32::MAX, AF_INET), eq(1, 0xf, SOCK_RAW)]),
    Check::All(&[eq(0, u32::MAX, AF_INET6), eq(1, 0xf, SOCK_RAW)]),
    Check::All(&[eq(0, u32::MAX, AF_INET), eq(1, 0xf, SOCK_PACKET)]),
    Check::All(&[eq(0, u32::MAX, AF_INET6), eq(1, 0xf, SOCK_PACKET)]),
];

/// The deny list.
fn rules() -> Vec<Rule> {
    let always = [
        // Filesystems and mounts.
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_mount_setattr,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_quotactl,
        libc::SYS_quotactl_fd,
        libc::SYS_open_by_handle_at,
        libc::SYS_acct,
        // Namespaces.
        libc::SYS_setns,
        // Other processes.
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_process_madvise,
        libc::SYS_pidfd_getfd,
        libc::SYS_kcmp,
        // Kernel code, tracing and the kernel log.
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_syslog,
        libc::SYS_lookup_dcookie,
        // Key rings.
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        // The machine: power, clocks, names.
        libc::SYS_reboot,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
        libc::SYS_sethostname,
        libc::SYS_setdomainname,
        libc::SYS_vhangup,
        // Large kernel attack surface a function does not need.
        libc::SYS_userfaultfd,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ];
    let mut rules: Vec<Rule> = always
        .iter()
        .map(|&nr| Rule {
            nr,
            when: When::Always(EPERM),
        })
        .collect();
    #[cfg(target_arch = "x86_64")]
    rules.extend(
        [libc::SYS_iopl, libc::SYS_ioperm, libc::SYS_uselib]
            .iter()
            .map(|&nr| Rule {
                nr,
                when: When::Always(EPERM),
            }),
    );
    #[cfg(target_arch = "x86_64")]
    rules.push(Rule {
        nr: libc::SYS_mknod,
        when: When::Any(&DEVICE_NODE),
    });
    rules.extend([
        Rule {
            nr: libc::SYS_mknodat,
            when: When::Any(&DEVICE_NODE_AT),
        },
        Rule {
            nr: libc::SYS_clone,
            when: When::Any(&NEW_NAMESPACE),
        },
        Rule {
            nr: libc::SYS_unshare,
            when: When::Any(&NEW_NAMESPACE),
        },
        Rule {
            nr: libc::SYS_clone3,
            when: When::Always(ENOSYS),
        },
        Rule {
            nr: libc::SYS_socket,
            when: When::Any(&RAW_SOCKET),
        },
    ]);
    rules
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64

/// x32 syscalls are x86_64 numbers with this bit set.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Classic BPF opcodes (linux/bpf_common.h) and seccomp return values.
const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_ALU_AND_K: u16 = 0x04 | 0x50;
const BPF_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JGE_K: u16 = 0x05 | 0x30;
const BPF_JSET_K: u16 = 0x05 | 0x40;
const BPF_RET_K: u16 = 0x06;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;

// Offsets in struct seccomp_data.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
fn off_arg_low(arg: u8) -> u32 {
    // Little-endian: the low half of args[i] comes first.
    16 + 8 * arg as u32
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The compiled filter for the runtime process.
pub(crate) fn runtime_filter() -> Vec<libc::sock_filter> {
    let mut prog = vec![
        stmt(BPF_LD_W_ABS, OFF_ARCH),
        jump(BPF_JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(BPF_RET_K, RET_ERRNO | ENOSYS),
        stmt(BPF_LD_W_ABS, OFF_NR),
    ];
    #[cfg(target_arch = "x86_64")]
    prog.extend([
        jump(BPF_JGE_K, X32_SYSCALL_BIT, 0, 1),
        stmt(BPF_RET_K, RET_ERRNO | ENOSYS),
    ]);
    for rule in rules() {
        let block = match rule.when {
            When::Always(errno) => vec![stmt(BPF_RET_K, RET_ERRNO | errno)],
            When::Any(checks) => conditional_block(checks),
        };
        let skip = u8::try_from(block.len()).expect("a rule's block fits a BPF jump");
        prog.push(jump(BPF_JEQ_K, rule.nr as u32, 0, skip));
        prog.extend(block);
        // A conditional block loads arguments into the accumulator; the next rule
        // needs the syscall number again. (Each block ends in a return, so only the
        // JEQ's not-taken jump, which skips exactly the block, lands here.)
        if matches!(rule.when, When::Any(_)) {
            prog.push(stmt(BPF_LD_W_ABS, OFF_NR));
        }
    }
    prog.push(stmt(BPF_RET_K, RET_ALLOW));
    prog
}

/// The instructions after a matching syscall number: run the checks, deny if any
/// matches, else allow. Ends with ALLOW then the EPERM return the checks jump to.
fn conditional_block(checks: &[Check]) -> Vec<libc::sock_filter> {
    let mut block = Vec::new();
    // Jumps patched once the layout is known: to the deny return when true, and to
    // the end of their check (the next check, or ALLOW) when false.
    let mut to_deny = Vec::new();
    let mut to_check_end = Vec::new();
    let mut check_ends = Vec::new();
    for (n, check) in checks.iter().enumerate() {
        match *check {
            Check::AnyBit { arg, mask } => {
                block.push(stmt(BPF_LD_W_ABS, off_arg_low(arg)));
                to_deny.push(block.len());
                block.push(jump(BPF_JSET_K, mask, 0, 0));
            }
            Check::All(conds) => {
                for (i, c) in conds.iter().enumerate() {
                    block.push(stmt(BPF_LD_W_ABS, off_arg_low(c.arg)));
                    if c.mask != u32::MAX {
                        block.push(stmt(BPF_ALU_AND_K, c.mask));
                    }
                    // Equal: fall through to the next condition, or deny after the
                    // last one. Not equal: this check fails.
                    if i + 1 == conds.len() {
                        to_deny.push(block.len());
                    }
                    to_check_end.push((block.len(), n));
                    block.push(jump(BPF_JEQ_K, c.value, 0, 0));
                }
            }
        }
        check_ends.push(block.len());
    }
    block.push(stmt(BPF_RET_K, RET_ALLOW));
    block.push(stmt(BPF_RET_K, RET_ERRNO | EPERM));
    let deny = block.len() - 1;
    let offset = |from: usize, to: usize| u8::try_from(to - (from + 1)).expect("short block");
    for i in to_deny {
        block[i].jt = offset(i, deny);
    }
    for (i, n) in to_check_end {
        block[i].jf = offset(i, check_ends[n]);
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the filter answered.
    #[derive(Debug, PartialEq, Eq)]
    enum Verdict {
        Allow,
        Errno(u32),
    }

    /// Runs the program the way the kernel does, for the subset of classic BPF the
    /// compiler emits.
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
                BPF_LD_W_ABS => {
                    let k = ins.k as usize;
                    acc = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                }
                BPF_ALU_AND_K => acc &= ins.k,
                BPF_JEQ_K | BPF_JGE_K | BPF_JSET_K => {
                    let taken = match ins.code {
                        BPF_JEQ_K => acc == ins.k,
                        BPF_JGE_K => acc >= ins.k,
                        _ => acc & ins.k != 0,
                    };
                    pc += if taken { ins.jt } else { ins.jf } as usize;
                }
                BPF_RET_K => {
                    return match ins.k & 0xffff_0000 {
                        RET_ALLOW => Verdict::Allow,
                        RET_ERRNO => Verdict::Errno(ins.k & 0xffff),
                        other => panic!("unexpected return {other:#x}"),
                    }
                }
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn call(nr: libc::c_long, args: [u64; 6]) -> Verdict {
        run(&runtime_filter(), AUDIT_ARCH, nr as u32, args)
    }

    const EPERM_V: Verdict = Verdict::Errno(EPERM);

    #[test]
    fn denies_the_listed_syscalls_with_eperm_and_allows_the_rest() {
        for nr in [
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_pivot_root,
            libc::SYS_ptrace,
            libc::SYS_bpf,
            libc::SYS_keyctl,
            libc::SYS_setns,
            libc::SYS_init_module,
            libc::SYS_clock_settime,
        ] {
            assert_eq!(call(nr, [0; 6]), EPERM_V, "syscall {nr}");
        }
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_openat,
            libc::SYS_execve,
            libc::SYS_mmap,
            libc::SYS_seccomp,
            libc::SYS_wait4,
        ] {
            assert_eq!(call(nr, [0; 6]), Verdict::Allow, "syscall {nr}");
        }
        assert_eq!(call(libc::SYS_clone3, [0; 6]), Verdict::Errno(ENOSYS));
    }

    #[test]
    fn clone_and_unshare_are_denied_only_with_namespace_flags() {
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
        assert_eq!(
            call(libc::SYS_clone, [thread, 0, 0, 0, 0, 0]),
            Verdict::Allow
        );
        assert_eq!(call(libc::SYS_clone, [fork, 0, 0, 0, 0, 0]), Verdict::Allow);
        for ns in [
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWNET,
            libc::CLONE_NEWNS,
            libc::CLONE_NEWPID,
            0x80,
        ] {
            let flags = fork | ns as u64;
            assert_eq!(call(libc::SYS_clone, [flags, 0, 0, 0, 0, 0]), EPERM_V);
            assert_eq!(call(libc::SYS_unshare, [ns as u64, 0, 0, 0, 0, 0]), EPERM_V);
        }
        assert_eq!(
            call(libc::SYS_unshare, [libc::CLONE_FILES as u64, 0, 0, 0, 0, 0]),
            Verdict::Allow
        );
    }

    #[test]
    fn raw_and_packet_sockets_are_denied() {
        let sock =
            |domain: i32, ty: i32| call(libc::SYS_socket, [domain as u64, ty as u64, 0, 0, 0, 0]);
        assert_eq!(sock(libc::AF_INET, libc::SOCK_STREAM), Verdict::Allow);
        assert_eq!(
            sock(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC),
            Verdict::Allow
        );
        assert_eq!(sock(libc::AF_UNIX, libc::SOCK_STREAM), Verdict::Allow);
        // Netlink is how libc lists interfaces and addresses.
        assert_eq!(sock(libc::AF_NETLINK, libc::SOCK_RAW), Verdict::Allow);
        assert_eq!(sock(libc::AF_INET6, libc::SOCK_RAW), EPERM_V);
        assert_eq!(sock(libc::AF_INET, SOCK_PACKET as i32), EPERM_V);
        assert_eq!(sock(libc::AF_PACKET, libc::SOCK_DGRAM), EPERM_V);
        assert_eq!(
            sock(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_NONBLOCK),
            EPERM_V
        );
    }

    #[test]
    fn device_nodes_are_denied_but_fifos_are_not() {
        let mode = |m: u32| {
            call(
                libc::SYS_mknodat,
                [libc::AT_FDCWD as u64, 0, m as u64, 0, 0, 0],
            )
        };
        assert_eq!(mode(libc::S_IFCHR | 0o666), EPERM_V);
        assert_eq!(mode(libc::S_IFBLK | 0o600), EPERM_V);
        assert_eq!(mode(libc::S_IFIFO | 0o600), Verdict::Allow);
        assert_eq!(mode(libc::S_IFREG | 0o600), Verdict::Allow);
    }

    #[test]
    fn foreign_abis_cannot_bypass_the_list() {
        let prog = runtime_filter();
        // i386 mount (number 21) through int 0x80.
        assert_eq!(run(&prog, 0x4000_0003, 21, [0; 6]), Verdict::Errno(ENOSYS));
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            run(
                &prog,
                AUDIT_ARCH,
                X32_SYSCALL_BIT | libc::SYS_mount as u32,
                [0; 6]
            ),
            Verdict::Errno(ENOSYS)
        );
    }

    #[test]
    fn the_program_fits_the_kernel_limit() {
        assert!(runtime_filter().len() < 4096);
    }
}
