import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// A path inside a sysroot (the host's `/`, or an unpacked target root): symlinks are followed
/// inside the root only (an absolute target starts again at the root, `..` stops at it), so no
/// link can lead outside.
public struct Sysroot: Sendable {
    public let root: String

    public init(_ root: String) { self.root = root == "/" ? "" : (root.hasSuffix("/") ? String(root.dropLast()) : root) }

    /// The host path of a sysroot path.
    public func host(_ path: String) -> String { root + path }

    /// Normalises `path` (absolute inside the sysroot) without following links.
    static func normalise(_ path: String) -> String {
        var parts: [Substring] = []
        for p in path.split(separator: "/") {
            if p == "." || p.isEmpty { continue }
            if p == ".." { _ = parts.popLast() } else { parts.append(p) }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Follows symlinks (every component) inside the sysroot; returns the final path and the links
    /// met on the way as (link path, target as written). nil when something does not exist.
    public func resolve(_ path: String) -> (path: String, links: [(String, String)])? {
        var links: [(String, String)] = []
        var pending = Self.normalise(path).split(separator: "/").map(String.init)
        var done: [String] = []
        var hops = 0
        while !pending.isEmpty {
            let name = pending.removeFirst()
            let candidate = "/" + (done + [name]).joined(separator: "/")
            var st = stat()
            guard lstat(host(candidate), &st) == 0 else { return nil }
            if st.st_mode & S_IFMT == S_IFLNK {
                hops += 1
                if hops > 40 { return nil }
                var buf = [CChar](repeating: 0, count: 4096)
                let n = readlink(host(candidate), &buf, buf.count - 1)
                guard n > 0 else { return nil }
                let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                links.append((candidate, target))
                let base = target.hasPrefix("/") ? [] : done
                pending = Self.normalise("/" + (base + target.split(separator: "/").map(String.init)).joined(separator: "/"))
                    .split(separator: "/").map(String.init) + pending
                done = []
            } else {
                done.append(name)
            }
        }
        return ("/" + done.joined(separator: "/"), links)
    }
}

/// What bundling a set of binaries into a root filesystem takes: every file with its shared
/// libraries and interpreter, found as glibc's ld.so finds them (DT_RPATH of the loader chain unless
/// DT_RUNPATH is set, DT_RUNPATH, /etc/ld.so.conf, the multiarch and default directories, `$ORIGIN`),
/// the symlinks on the way, and what could not be found.
public struct SharedLibraryClosure: Sendable {
    public struct Missing: Sendable, Equatable {
        public var name: String
        public var neededBy: String
    }

    /// Regular files to copy, sysroot paths, sorted.
    public var files: [String] = []
    /// Symlinks to recreate: (sysroot path, target as written), sorted by path.
    public var symlinks: [(path: String, target: String)] = []
    /// For each DT_NEEDED: (needing object, name, where it resolved).
    public var resolved: [(object: String, name: String, path: String)] = []
    public var missing: [Missing] = []
    /// Every path the loader will open (binaries, interpreters, and each library as found in its
    /// search directory) with the file it leads to: what a bundle must make work in the image.
    public var requests: [(path: String, real: String)] = []

    public static func compute(binaries: [String], sysroot: Sysroot) throws -> SharedLibraryClosure {
        var out = SharedLibraryClosure()
        var files = Set<String>()
        var links: [String: String] = [:]
        var queue: [(path: String, loaders: [ELFFile])] = []
        let confDirs = ldSoConfDirectories(sysroot)
        func add(_ path: String) -> String? {
            guard let r = sysroot.resolve(path) else { return nil }
            for (l, t) in r.links { links[l] = t }
            out.requests.append((Sysroot.normalise(path), r.path))
            return r.path
        }
        for b in binaries {
            guard let real = add(b) else {
                out.missing.append(Missing(name: b, neededBy: "(command line)"))
                continue
            }
            if files.insert(real).inserted { queue.append((real, [])) }
        }
        while !queue.isEmpty {
            let (path, loaders) = queue.removeFirst()
            let host = sysroot.host(path)
            guard ELFFile.isELF((try? FileIO.read(host, offset: 0, count: 4)) ?? []) else { continue }
            let elf = try ELFFile.read(host)
            let triplet = multiarchTriplet(elf)
            if let interp = elf.interpreter {
                if let real = add(interp) {
                    if files.insert(real).inserted { queue.append((real, [])) }
                } else {
                    out.missing.append(Missing(name: interp, neededBy: path))
                }
            }
            let origin = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
            func expand(_ dirs: [String]) -> [String] {
                dirs.map { $0.replacingOrigin(with: origin.isEmpty ? "/" : origin) }
            }
            // ld.so order: RPATH of this object and of its loaders (only when this object has no
            // RUNPATH), then RUNPATH, then ld.so.conf, then the system directories.
            var dirs: [String] = []
            if elf.runpath.isEmpty {
                dirs += expand(elf.rpath)
                for l in loaders.reversed() where l.runpath.isEmpty { dirs += l.rpath }
            }
            dirs += expand(elf.runpath)
            dirs += confDirs
            dirs += ["/lib/\(triplet)", "/usr/lib/\(triplet)"]
            dirs += elf.elfClass == .elf64 ? ["/lib64", "/usr/lib64"] : ["/lib32", "/usr/lib32"]
            dirs += ["/lib", "/usr/lib"]
            for name in elf.needed {
                var found: String?
                if name.contains("/") {
                    found = add(name.hasPrefix("/") ? name : "\(origin)/\(name)")
                } else {
                    for d in dirs {
                        let candidate = Sysroot.normalise("\(d)/\(name)")
                        guard let r = sysroot.resolve(candidate),
                              let lib = try? ELFFile.read(sysroot.host(r.path)),
                              lib.elfClass == elf.elfClass, lib.machine == elf.machine, lib.byteOrder == elf.byteOrder else { continue }
                        found = add(candidate)
                        break
                    }
                }
                guard let real = found else {
                    out.missing.append(Missing(name: name, neededBy: path))
                    continue
                }
                out.resolved.append((path, name, real))
                if files.insert(real).inserted { queue.append((real, loaders + [elf])) }
            }
        }
        out.files = files.sorted()
        out.symlinks = links.map { (path: $0.key, target: $0.value) }.sorted { $0.path < $1.path }
        return out
    }

    /// Debian's multiarch directory name for an ELF's machine.
    static func multiarchTriplet(_ e: ELFFile) -> String {
        switch (e.machine, e.elfClass, e.byteOrder) {
        case (62, .elf64, _): return "x86_64-linux-gnu"
        case (3, _, _): return "i386-linux-gnu"
        case (183, _, _): return "aarch64-linux-gnu"
        case (40, _, _): return "arm-linux-gnueabihf"
        case (243, .elf64, _): return "riscv64-linux-gnu"
        case (8, .elf32, .little): return "mipsel-linux-gnu"
        case (8, .elf32, .big): return "mips-linux-gnu"
        case (8, .elf64, .little): return "mips64el-linux-gnuabi64"
        case (21, .elf64, .little): return "powerpc64le-linux-gnu"
        case (20, _, _): return "powerpc-linux-gnu"
        default: return "\(e.machineName)-linux-gnu"
        }
    }

    /// Directories from the sysroot's /etc/ld.so.conf (and its `include` globs of *.conf files).
    static func ldSoConfDirectories(_ sysroot: Sysroot) -> [String] {
        var out: [String] = []
        func read(_ path: String, depth: Int) {
            guard depth < 8, let text = try? FileIO.readAll(sysroot.host(path)) else { return }
            for line in String(decoding: text, as: UTF8.self).split(separator: "\n") {
                let l = String(line.split(separator: "#", omittingEmptySubsequences: false).first ?? "").trimmingSpaces()
                if l.isEmpty { continue }
                if l.hasPrefix("include ") {
                    let pattern = String(l.dropFirst(8)).trimmingSpaces()
                    let dir = pattern.hasPrefix("/") ? String(pattern[..<(pattern.lastIndex(of: "/") ?? pattern.startIndex)]) : "/etc"
                    for f in listDirectory(sysroot.host(dir)).sorted() where f.hasSuffix(".conf") { read("\(dir)/\(f)", depth: depth + 1) }
                } else if l.hasPrefix("/") {
                    out.append(l)
                }
            }
        }
        read("/etc/ld.so.conf", depth: 0)
        return out
    }

    static func listDirectory(_ path: String) -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

extension String {
    /// `$ORIGIN` / `${ORIGIN}` replaced, as ld.so does in RPATH and RUNPATH.
    func replacingOrigin(with origin: String) -> String {
        var s = self
        for token in ["${ORIGIN}", "$ORIGIN"] {
            while let r = s.firstRange(of: token) { s.replaceSubrange(r, with: origin) }
        }
        return s
    }
}
