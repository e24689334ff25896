import Archive
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// What the small initramfs images that mount a root the kernel cannot mount alone share
/// (``NFSRootInitramfs``, ``BlockRootInitramfs``): a static busybox, a few folders and
/// /dev/console, their scripts, and the kernel's modules in load order (each checked against the
/// target's architecture), with times clamped to SOURCE_DATE_EPOCH.
enum ModulesInitramfs {
    typealias Failure = RootFSError

    /// The manifest: busybox, `folders`, /dev/console (5:1), `scripts` (mode 0755) and the modules
    /// `order` names in `tree`. `what` says what needs the modules, for errors.
    static func manifest(
        busybox: String, architecture: Architecture?, sourceDateEpoch: Int64, source: String, folders: [String], scripts: [(path: String, text: String)],
        tree: KernelModuleTree, order: [String], what: String
    ) throws -> Manifest {
        var m = Manifest(sourceDateEpoch: sourceDateEpoch)
        m.architecture = architecture
        try BusyboxLayer(binary: busybox).apply(to: &m)
        for d in folders {
            var e = Manifest.Entry(path: d, kind: .directory, mode: 0o755, source: source)
            e.mtime = sourceDateEpoch
            try m.add(e)
        }
        var console = Manifest.Entry(path: "/dev/console", kind: .charDevice, mode: 0o600, source: source)
        (console.major, console.minor, console.mtime) = (5, 1, sourceDateEpoch)
        try m.add(console)
        for (path, text) in scripts {
            var e = Manifest.Entry(path: path, kind: .file, mode: 0o755, source: source)
            e.content = .bytes(Array(text.utf8))
            e.mtime = sourceDateEpoch
            try m.add(e)
        }
        let modulesSource = "modules \(tree.dir)"
        for p in order {
            let host = "\(tree.dir)/\(p)"
            var st = stat()
            guard lstat(host, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw Failure(path: host, message: "a module \(what) needs: expected a regular file, found none") }
            if p.hasSuffix(".ko"), let arch = m.architecture {
                let elf = try NFSRootInitramfs.moduleHeader(host)
                guard arch.accepts(elf) else { throw arch.mismatch(elf, what: "kernel module") }
            }
            var e = Manifest.Entry(path: "/lib/modules/\(tree.release)/\(p)", kind: .file, mode: 0o644, source: modulesSource)
            e.content = .host(path: host, size: Int(st.st_size), device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
            e.mtime = Int64(st.st_mtim.tv_sec)
            try m.add(e)
        }
        return m
    }

    /// The report of a load order: the release, the modules, and notes for those built in or absent.
    static func report(_ tree: KernelModuleTree, order: [String], builtIn: [String], absent: [String]) -> NFSRootInitramfs.Report {
        var r = NFSRootInitramfs.Report()
        r.release = tree.release
        r.modules = order
        if !builtIn.isEmpty { r.notes.append("built into the kernel: \(builtIn.joined(separator: ", "))") }
        if !absent.isEmpty { r.notes.append("not in this kernel, left out: \(absent.joined(separator: ", "))") }
        return r
    }

    /// Writes `m` to `path` as a newc cpio (`compression`) and completes `r` with its size and notes.
    static func write(_ m: Manifest, report r: NFSRootInitramfs.Report, to path: String, compression: ArchiveCompression) throws -> NFSRootInitramfs.Report {
        var r = r
        let out = try ArchiveOutput.write(m, to: path, format: .cpio, compression: compression)
        r.entries = out.entries
        r.bytes = try FileIO.size(of: path)
        r.notes = m.notes + r.notes + out.notes
        return r
    }
}
