/// What a feature of the image needs from the kernel, option by option, with the reason and the
/// module to load when the option may be a module. Sources: criu.org "Linux kernel" (the options
/// criu checks), CRIU's kerndat probes as met on Debian's 6.1 kernels (docs/migration.md), the
/// kernel's Documentation/admin-guide/nfs/nfsroot.rst, fs/ubifs and drivers/mtd/ubi Kconfig.
public struct KernelRequirement: Sendable, Equatable {
    public enum Level: String, Sendable { case required, recommended }

    public var option: String
    public var level: Level
    /// May be `m` (then `module` must be loaded before use); otherwise it must be `y`.
    public var module: String?
    public var why: String
    /// Only on these architectures (the option does not exist elsewhere); empty: everywhere.
    public var architectures: [String] = []
    /// What to do where the option does not exist.
    public var elsewhere: String?

    public init(_ option: String, _ level: Level, module: String? = nil, _ why: String, architectures: [String] = [], elsewhere: String? = nil) {
        self.option = option
        self.level = level
        self.module = module
        self.why = why
        self.architectures = architectures
        self.elsewhere = elsewhere
    }
}

public enum KernelFeature: String, Sendable, CaseIterable {
    case criu, ubifs, nfsroot, devtmpfs

    public var requirements: [KernelRequirement] {
        switch self {
        case .criu:
            return [
                .init("CONFIG_CHECKPOINT_RESTORE", .required, "the syscalls and /proc files CRIU dumps and restores with (kcmp, prctl PR_SET_MM, /proc/PID/map_files); needs CONFIG_EXPERT on older kernels"),
                .init("CONFIG_NAMESPACES", .required, "namespaces, which CRIU dumps and restores"),
                .init("CONFIG_UTS_NS", .required, "UTS namespace"),
                .init("CONFIG_IPC_NS", .required, "IPC namespace"),
                .init("CONFIG_SYSVIPC_SYSCTL", .required, "SysV IPC sysctls CRIU saves with the IPC namespace"),
                .init("CONFIG_PID_NS", .required, "PID namespace: restoring where the process's PIDs are taken (migrate restores into a new one)"),
                .init("CONFIG_NET_NS", .required, "network namespace"),
                .init("CONFIG_FHANDLE", .required, "name_to_handle_at: inotify and fanotify watches are dumped as file handles"),
                .init("CONFIG_EVENTFD", .required, "eventfd files"),
                .init("CONFIG_EPOLL", .required, "epoll files"),
                .init("CONFIG_INOTIFY_USER", .required, "inotify files"),
                .init("CONFIG_UNIX_DIAG", .required, module: "unix_diag", "sock_diag for UNIX sockets: how CRIU finds a socket's peer"),
                .init("CONFIG_INET_DIAG", .required, module: "inet_diag", "sock_diag for TCP/UDP sockets"),
                .init("CONFIG_INET_TCP_DIAG", .required, module: "tcp_diag", "sock_diag for TCP"),
                .init("CONFIG_INET_UDP_DIAG", .required, module: "udp_diag", "sock_diag for UDP"),
                .init("CONFIG_INET_RAW_DIAG", .recommended, module: "raw_diag", "sock_diag for raw sockets (criu check's net_diag_raw)"),
                .init("CONFIG_PACKET_DIAG", .required, module: "af_packet_diag", "sock_diag for packet sockets"),
                .init("CONFIG_NETLINK_DIAG", .required, module: "netlink_diag", "sock_diag for netlink sockets"),
                .init("CONFIG_NETFILTER_XT_MARK", .required, module: "xt_mark", "marking packets while TCP connections are locked"),
                .init("CONFIG_TUN", .required, module: "tun", "tun devices; CRIU 3.17 probes /dev/net/tun at start and aborts without it"),
                .init("CONFIG_VETH", .recommended, module: "veth", "CRIU 3.17 probes veth pairs at start (external veth links)"),
                .init("CONFIG_CRYPTO_CRC32C", .recommended, module: "crc32c_generic", "libcrc32c's soft dependency, for nf_tables"),
                .init("CONFIG_NF_TABLES", .recommended, module: "nf_tables", "CRIU 3.17 probes nftables at start (network locking); load crc32c_generic first (busybox modprobe ignores softdeps)"),
                .init("CONFIG_AUTOFS_FS", .recommended, module: "autofs4", "autofs mounts (criu check --all)"),
                .init("CONFIG_FANOTIFY", .recommended, "fanotify files"),
                .init("CONFIG_MEMCG", .recommended, "memory cgroup (cgroup dump and restore)"),
                .init("CONFIG_CGROUP_DEVICE", .recommended, "devices cgroup (cgroup dump and restore)"),
                .init("CONFIG_TIME_NS", .recommended, "time namespace: monotonic clocks continue across the migration"),
                .init(
                    "CONFIG_MEM_SOFT_DIRTY", .recommended,
                    "soft-dirty page tracking: iterative migration (pre-dump rounds) sends only pages changed since the last round",
                    architectures: ["x86_64", "x86", "powerpc64", "s390"],
                    elsewhere: "does not exist on this architecture (no soft-dirty bit): no pre-dump rounds; use lazy pages (post-copy) through CONFIG_USERFAULTFD"
                ),
                .init("CONFIG_USERFAULTFD", .recommended, "userfaultfd: lazy (post-copy) migration, criu --lazy-pages; the alternative to pre-dump where soft-dirty is missing"),
            ]
        case .ubifs:
            return [
                .init("CONFIG_MTD", .required, module: "mtd", "MTD devices (raw flash)"),
                .init("CONFIG_MTD_UBI", .required, module: "ubi", "UBI on MTD (ubiattach, ubi.mtd=)"),
                .init("CONFIG_UBIFS_FS", .required, module: "ubifs", "the UBIFS file system"),
                .init("CONFIG_CRYPTO_LZO", .recommended, module: "lzo", "UBIFS lzo compression (mkfs.ubifs -x lzo, the default)"),
                .init("CONFIG_CRYPTO_ZSTD", .recommended, module: "zstd", "UBIFS zstd compression; UBIFS asks for it when it mounts (request_module crypto-zstd)"),
                .init("CONFIG_CRYPTO_DEFLATE", .recommended, module: "deflate", "UBIFS zlib compression"),
                .init("CONFIG_MTD_CMDLINE_PARTS", .recommended, module: "cmdlinepart", "mtdparts= on the kernel command line (else partitions come from the device tree)"),
            ]
        case .nfsroot:
            return [
                .init("CONFIG_NFS_FS", .required, "the NFS client, built in: the kernel mounts the root before any module can load"),
                .init("CONFIG_NFS_V3", .required, "NFSv3 (nfsroot=…,v3; U-Boot's nfs command and many servers speak v3)"),
                .init("CONFIG_ROOT_NFS", .required, "root=/dev/nfs"),
                .init("CONFIG_IP_PNP", .required, "ip= on the kernel command line (the address before the root is mounted)"),
                .init("CONFIG_IP_PNP_DHCP", .recommended, "ip=dhcp"),
                .init("CONFIG_DEVTMPFS", .required, "/dev on a root without device nodes"),
                .init("CONFIG_DEVTMPFS_MOUNT", .recommended, "the kernel mounts devtmpfs on /dev of an NFS root"),
            ]
        case .devtmpfs:
            return [
                .init("CONFIG_DEVTMPFS", .required, "device nodes made by the kernel (rcS mounts it unless the image has a static /dev)"),
                .init("CONFIG_DEVTMPFS_MOUNT", .recommended, "mounted on /dev by the kernel for disk and NFS roots (never for an initramfs)"),
            ]
        }
    }
}

/// The state of each requirement in one configuration.
public struct KernelCheck: Sendable {
    public enum State: String, Sendable {
        /// `y`, or `m` where a module is fine (see `module`).
        case ok
        case module
        case missing
        /// `m` where it must be built in.
        case mustBeBuiltIn = "must-be-built-in"
        case notOnArchitecture = "not-on-architecture"
    }

    public struct Row: Sendable {
        public var feature: KernelFeature
        public var requirement: KernelRequirement
        public var value: String
        public var state: State
    }

    public var config: KernelConfig
    public var rows: [Row]

    public init(_ config: KernelConfig, features: [KernelFeature]) {
        self.config = config
        let arch = config.architecture
        var rows: [Row] = []
        var seen = Set<String>()
        for f in features {
            for r in f.requirements where seen.insert(r.option).inserted {
                let v = config.state(r.option)
                let state: State
                if !r.architectures.isEmpty && !r.architectures.contains(arch) {
                    state = .notOnArchitecture
                } else if v == "y" {
                    state = .ok
                } else if v == "m" {
                    state = r.module == nil ? .mustBeBuiltIn : .module
                } else {
                    state = .missing
                }
                rows.append(Row(feature: f, requirement: r, value: v, state: state))
            }
        }
        self.rows = rows
    }

    /// Required options that are missing or must be built in.
    public var failures: [Row] { rows.filter { $0.requirement.level == .required && ($0.state == .missing || $0.state == .mustBeBuiltIn) } }
    /// Modules to load before use, in order.
    public var modules: [String] { rows.filter { $0.state == .module }.compactMap { $0.requirement.module } }

    /// `CONFIG_X=y` for what is missing (required, and recommended when asked).
    public func fragment(recommended: Bool) -> String {
        var out = "# Flashsmith kconfig fragment for \(Set(rows.map(\.feature.rawValue)).sorted().joined(separator: ",")) (\(config.architecture))\n"
        for r in rows where (r.state == .missing || r.state == .mustBeBuiltIn) && (recommended || r.requirement.level == .required) {
            out += "\(r.requirement.option)=\(r.state == .missing && r.requirement.module != nil ? "m" : "y")\n"
        }
        if rows.contains(where: { $0.requirement.option == "CONFIG_CHECKPOINT_RESTORE" && $0.state == .missing }) { out += "CONFIG_EXPERT=y\n" }
        return out
    }
}
