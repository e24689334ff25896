import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// busybox: the binary at /bin/busybox and one link per applet, where busybox itself would
/// install it (`busybox --install` / `make install`), the list read from the binary without running
/// it. Links are relative symlinks by default (as busybox's `applets/install.sh --symlinks`),
/// hard links on request, or none. Like Buildroot's `install-noclobber`, an applet whose path is
/// already taken (a full tool from an earlier layer) is left alone; the report names each one.
/// The binary decides the root filesystem's architecture (``Architecture``) unless it is already
/// set, and must match it when it is.
public struct BusyboxLayer: Sendable {
    public enum Links: String, Sendable, CaseIterable { case symlink, hardlink, none }

    public var binary: String
    public var links: Links = .symlink
    public var path = "/bin/busybox"

    public init(binary: String, links: Links = .symlink) {
        self.binary = binary
        self.links = links
    }

    public func apply(to m: inout Manifest) throws {
        var st = stat()
        guard stat(binary, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw FileError.notARegularFile(path: binary, kind: "something else") }
        let source = "busybox \(binary)"
        let elf = try ELFFile.read(binary)
        if let arch = m.architecture {
            guard arch.accepts(elf) else { throw arch.mismatch(elf, what: "busybox") }
        } else {
            m.architecture = Architecture(of: elf, source: source)
        }
        let applets = try BusyboxApplets.read(binary)
        var e = Manifest.Entry(path: path, kind: .file, mode: 0o755, source: source)
        e.content = .host(path: binary, size: Int(st.st_size), device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        e.mtime = Int64(st.st_mtim.tv_sec)
        let placed = try m.add(e)
        var kept: [String] = []
        var made = 0
        for a in applets where links != .none {
            let p = m.place(a.path)
            // Debian's busybox lists itself (bin/busybox) among its applets.
            if p == placed { continue }
            if let other = m[p] {
                kept.append("\(p) (\(other.source))")
                continue
            }
            var l = Manifest.Entry(path: p, kind: links == .symlink ? .symlink : .hardlink, mode: links == .symlink ? 0o777 : 0o755, source: source)
            l.target = links == .symlink ? Self.relative(from: Manifest.parent(p), to: placed) : placed
            l.mtime = m.sourceDateEpoch
            try m.add(l)
            made += 1
        }
        let linkText = links == .none ? "no links" : "\(made) \(links.rawValue)s"
        m.notes.append("busybox: \(applets.count) applets, \(linkText)\(kept.isEmpty ? "" : ", \(kept.count) applet path(s) already taken and kept")")
        // Each applet that another layer's file stands in for, by name: the user sees which tools
        // are not busybox's.
        for k in kept { m.notes.append("busybox: applet not linked, kept \(k)") }
    }

    /// The relative path from folder `dir` to `file` (both absolute, normalised).
    static func relative(from dir: String, to file: String) -> String {
        let d = dir.split(separator: "/")
        let f = file.split(separator: "/")
        var common = 0
        while common < d.count, common < f.count - 1, d[common] == f[common] { common += 1 }
        let up = Array(repeating: "..", count: d.count - common)
        return (up + f[common...].map(String.init)).joined(separator: "/")
    }
}
