import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// The NFS server of the NFS-root loop: NFS-Ganesha (Debian's `nfs-ganesha`, `nfs-ganesha-vfs`;
/// these hosts have no kernel nfsd) exporting a folder over v3 and v4, and the namespace `boot --nfs`
/// runs it in.
///
/// `flashsmith boot OUT --nfs` wraps QEMU's command: `unshare --net --mount --pid --fork --kill-child
/// --mount-proc` runs ``namespaceScript``, which brings up `lo`, mounts a tmpfs over /run (rpcbind's
/// socket is not network-namespaced), starts `rpcbind -f` and `ganesha.nfsd -F` with a config
/// from ``ganeshaConfig(export:pseudo:recoveryRoot:)``, waits until NFS v3 is registered with
/// rpcbind, then runs QEMU there: QEMU's user network (`-nic user`) takes the guest's 10.0.2.2 to
/// this namespace's 127.0.0.1, where the server listens on the standard ports (2049, 111, 20048).
/// Nothing is visible on the host's network. QEMU, rpcbind and Ganesha live in the PID namespace,
/// whose first process dies with `unshare` (`--kill-child`): killing that one PID stops them all.
public enum NFSServer {
    public struct Failure: FlashsmithError, Equatable {
        public var message: String
        public var category: ErrorCategory
        public var description: String { message }
    }

    /// The programs the server needs, and the Debian packages that bring them.
    public static let programs = ["unshare", "ip", "rpcbind", "rpcinfo", "ganesha.nfsd"]
    public static let packages = "nfs-ganesha nfs-ganesha-vfs rpcbind"

    /// A config for `ganesha.nfsd -f`: one export of `export` (an absolute path) under `pseudo`, for
    /// NFS v3 and v4 over TCP, no root squash, numeric owners (v4 shows them as the tree has them:
    /// the guest runs no idmapd), no grace period (else 90 s of NFS4ERR_GRACE after each start), no
    /// attribute cache (a file changed on the host is seen by the guest at its next open), the same
    /// path for v3 and v4 (`mount_path_pseudo`), no NLM (the client mounts with nolock). No
    /// `Bind_addr`: in a namespace with only `lo` binding 127.0.0.1 fails. `recoveryRoot` nil: Ganesha's
    /// default (/var/lib/nfs/ganesha, which the package makes).
    public static func ganeshaConfig(export: String, pseudo: String, recoveryRoot: String?) -> String {
        func q(_ s: String) -> String { "\"" + s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\"" }
        var s = "# NFS-Ganesha config for the NFS root \(export) (flashsmith build; boot --nfs starts its own)\n"
        s += "# ganesha.nfsd -F -f THIS (needs rpcbind running, and root)\n"
        s += "NFS_CORE_PARAM {\n    NFS_Port = 2049;\n    MNT_Port = 20048;\n    Enable_NLM = false;\n    Enable_RQUOTA = false;\n"
        s += "    Enable_UDP = false;\n    Protocols = 3, 4;\n    mount_path_pseudo = true;\n}\n"
        s += "NFSv4 {\n    Graceless = true;\n    Only_Numeric_Owners = true;\n"
        if let recoveryRoot { s += "    RecoveryRoot = \(q(recoveryRoot));\n" }
        s += "}\n"
        s += "EXPORT {\n    Export_Id = 1;\n    Path = \(q(export));\n    Pseudo = \(q(pseudo));\n    Protocols = 3, 4;\n    Transports = TCP;\n"
        s += "    Access_Type = RW;\n    Squash = No_Root_Squash;\n    SecType = sys;\n    Attr_Expiration_Time = 0;\n    FSAL { Name = VFS; }\n}\n"
        s += "LOG {\n    Default_Log_Level = EVENT;\n}\n"
        return s
    }

    /// The /etc/exports line for a kernel NFS server (`exportfs -ra`): `client` an address, or `*`.
    public static func exportsLine(export: String, client: String) -> String {
        "\(export) \(client)(rw,sync,no_root_squash,no_subtree_check,insecure)"
    }

    /// Runs inside the namespaces: `sh -c SCRIPT flashsmith-nfs STATE COMMAND…`. Exits non-zero with
    /// one line when the server does not come up; otherwise runs COMMAND and exits with its status.
    static let namespaceScript = #"""
        state=$1
        shift
        fail() {
        	echo "flashsmith: NFS server: $*" >&2
        	exit 69
        }
        ip link set lo up || fail "cannot bring up lo in the private network namespace"
        mount -t tmpfs -o mode=0755 tmpfs /run || fail "cannot mount a private /run"
        mkdir -p /run/rpcbind /run/ganesha
        rpcbind -f >"$state/rpcbind.log" 2>&1 &
        i=0
        until [ -S /run/rpcbind.sock ]; do
        	i=$((i + 1))
        	[ $i -lt 200 ] || fail "rpcbind did not start within 10 s ($state/rpcbind.log)"
        	sleep 0.05
        done
        ganesha.nfsd -F -f "$state/ganesha.conf" -L "$state/ganesha.log" -p "$state/ganesha.pid" &
        ganesha=$!
        i=0
        until rpcinfo -T tcp 127.0.0.1 nfs 3 >/dev/null 2>&1; do
        	kill -0 "$ganesha" 2>/dev/null || fail "ganesha.nfsd exited: $(tail -n 1 "$state/ganesha.log" 2>/dev/null)"
        	i=$((i + 1))
        	[ $i -lt 400 ] || fail "ganesha.nfsd did not register with rpcbind within 20 s ($state/ganesha.log)"
        	sleep 0.05
        done
        "$@"
        """#

    /// What serving needs that this host lacks, as one line; nil when everything is there.
    public static func missing() -> String? {
        if geteuid() != 0 {
            return "serving the NFS root needs root: NFS-Ganesha's VFS export uses open_by_handle_at (CAP_DAC_READ_SEARCH in the host's user namespace, which a user namespace cannot give) and runs in a private network namespace; run as root (sudo)"
        }
        let absent = programs.filter { ExternalTool.which($0) == nil }
        if !absent.isEmpty { return "serving the NFS root needs \(absent.joined(separator: ", ")), not found on PATH (Debian: apt-get install \(packages))" }
        return nil
    }

    /// A fresh state folder (config, logs, recovery) in the temporary folder.
    public static func makeStateFolder() throws -> String {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(base)/flashsmith-nfs-XXXXXX".utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw Failure(message: "\(base): cannot create the NFS server's state folder: \(FileIO.errnoText())", category: .cannotCreate)
        }
        let state = String(cString: p)
        mkdir("\(state)/recovery", 0o700)
        return state
    }

    /// `command` (QEMU's argv, its program resolved) wrapped to run beside a server exporting `export`
    /// (absolute) under `pseudo`, with its config written into `state`.
    public static func wrap(_ command: [String], export: String, pseudo: String, state: String) throws -> [String] {
        if let m = missing() { throw Failure(message: "boot --nfs: \(m)", category: .unavailable) }
        guard FileIO.kind(of: export) == .directory else {
            throw Failure(message: "\(export): missing (expected the NFS root that flashsmith build writes for a board with boot: nfs)", category: .usage)
        }
        try AtomicFile.write(Array(ganeshaConfig(export: export, pseudo: pseudo, recoveryRoot: "\(state)/recovery").utf8), to: "\(state)/ganesha.conf")
        let unshare = ExternalTool.which("unshare") ?? "unshare"
        return [unshare, "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--", "/bin/sh", "-c", namespaceScript, "flashsmith-nfs", state] + command
    }
}
