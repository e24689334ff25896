import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// Binaries with everything they need to run: their interpreter, shared libraries (closure as
/// ld.so searches: see ``SharedLibraryClosure``) and the symlinks met on the way, from a sysroot
/// (the host's `/`, or an unpacked target sysroot). Files keep their path and mode, owned by root.
///
/// When the image and the sysroot disagree on a directory (the sysroot has `/lib -> usr/lib`, the
/// image a real `/lib`), the sysroot's link is not forced in: instead every path the loader will
/// open is checked in the image and, where it does not lead to the bundled file, a symlink for that
/// one file is added. Anything that cannot be found is an error listing all of it.
public struct BundleLayer: Sendable {
    public var binaries: [String]
    public var sysroot: String

    public init(binaries: [String], sysroot: String = "/") {
        self.binaries = binaries
        self.sysroot = sysroot
    }

    public typealias Failure = RootFSError

    public func apply(to m: inout Manifest) throws {
        let root = Sysroot(sysroot)
        try checkArchitecture(of: binaries.map { root.host($0) }, in: &m)
        let closure = try SharedLibraryClosure.compute(binaries: binaries, sysroot: root)
        if !closure.missing.isEmpty {
            let list = closure.missing.map { "\($0.name) (needed by \($0.neededBy))" }.joined(separator: ", ")
            throw Failure(message: "bundle from \(sysroot): not found in the sysroot: \(list)")
        }
        let source = "bundle from \(sysroot)"
        try checkArchitecture(of: closure.files.map { root.host($0) }, in: &m)
        for f in closure.files {
            let host = root.host(f)
            var st = stat()
            guard lstat(host, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw FileError.notARegularFile(path: host, kind: "something else") }
            if let old = m[m.place(f)], old.kind != .directory {
                m.notes.append("bundle: \(m.place(f)) replaces \(old.kind == .file ? "the file" : "the \(old.kind.rawValue)") from \(old.source)")
            }
            var e = Manifest.Entry(path: f, kind: .file, mode: UInt32(st.st_mode & 0o7777), source: "\(source): \(f)")
            e.content = .host(path: host, size: Int(st.st_size), device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
            e.mtime = Int64(st.st_mtim.tv_sec)
            try m.add(e)
        }
        // The sysroot's links where the image has nothing in their place.
        for l in closure.symlinks where m[m.place(l.path)] == nil {
            var e = Manifest.Entry(path: l.path, kind: .symlink, mode: 0o777, source: "\(source): \(l.path)")
            e.target = l.target
            e.mtime = m.sourceDateEpoch
            try m.add(e)
        }
        // Every path the loader opens must lead to the bundled file: follow it through the image's
        // links and, where the chain breaks (a folder the image has and the sysroot links away),
        // add a link for that one file.
        var added = 0
        for r in closure.requests {
            let want = m.place(r.real)
            var p = r.path
            var hops = 0
            while true {
                let at = m.place(p)
                if at == want { break }
                guard let e = m[at] else {
                    var l = Manifest.Entry(path: at, kind: .symlink, mode: 0o777, source: "\(source): \(r.path)")
                    l.target = BusyboxLayer.relative(from: Manifest.parent(at), to: want)
                    l.mtime = m.sourceDateEpoch
                    try m.add(l)
                    added += 1
                    break
                }
                hops += 1
                guard e.kind == .symlink, hops < 40 else {
                    throw Failure(message: "bundle from \(sysroot): \(r.path) must lead to \(r.real), but leads to a \(e.kind.rawValue) at \(at) from \(e.source)")
                }
                p = Sysroot.normalise(e.target.hasPrefix("/") ? e.target : Manifest.parent(at) + "/" + e.target)
            }
        }
        m.notes.append(
            "bundle: \(binaries.joined(separator: " ")): \(closure.files.count) file(s)\(added > 0 ? ", \(added) link(s) added where the image's folders differ from the sysroot's" : "")"
        )
    }

    /// Every ELF file among `paths` must be of the root filesystem's architecture; the first one
    /// decides it when nothing has yet. Files that are not ELF (scripts) are not checked.
    func checkArchitecture(of paths: [String], in m: inout Manifest) throws {
        for path in paths {
            guard case let .regular(size) = FileIO.kind(of: path), size >= 4, ELFFile.isELF(try FileIO.read(path, offset: 0, count: 4)) else { continue }
            let elf = try ELFFile.read(path)
            if let arch = m.architecture {
                guard arch.accepts(elf) else { throw arch.mismatch(elf, what: "bundle from \(sysroot)") }
            } else {
                m.architecture = Architecture(of: elf, source: "bundle from \(sysroot): \(path)")
            }
        }
    }
}
