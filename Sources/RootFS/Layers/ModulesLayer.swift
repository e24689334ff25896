import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// Kernel modules: the named modules and every module they depend on (closure over `modules.dep`,
/// as `depmod` wrote it), copied to /lib/modules/RELEASE/, with the `modules.*` text files kept to
/// the modules taken (modules.dep, .alias, .symbols, .softdep, .devname, .order) and the kernel's
/// own lists copied (modules.builtin, modules.builtin.modinfo), so busybox `modprobe NAME` works.
/// kmod's binary indexes (`*.bin`) are left out: they would name modules that are not there
/// (`depmod` on the device rebuilds them).
///
/// The tree is `…/lib/modules/RELEASE` itself, or a root holding exactly one
/// `lib/modules/*` or `usr/lib/modules/*` (an unpacked kernel package).
public struct ModulesLayer: Sendable {
    public var tree: String
    public var names: [String]

    public init(tree: String, names: [String]) {
        self.tree = tree
        self.names = names
    }

    public typealias Failure = RootFSError

    /// `kernel/drivers/mtd/nand/raw/nandsim.ko.xz` → `nandsim`; `-` and `_` are the same.
    public static func moduleName(_ path: String) -> String {
        var base = Manifest.name(path)
        if let r = base.firstRange(of: ".ko") { base = String(base[..<r.lowerBound]) }
        return String(base.map { $0 == "-" ? "_" : $0 })
    }

    /// The modules folder (with modules.dep) and the release.
    func locate() throws -> (dir: String, release: String) {
        try KernelModuleTree.locate(tree, marks: ["modules.dep"], what: "modules.dep") { release in
            "expected a modules.dep, found none (Debian's kernel packages leave it to depmod: run 'depmod -b ROOT \(release)')"
        }
    }

    /// The named modules and everything they depend on, as paths relative to the modules folder,
    /// in dependency-closure order (each name, then what it needs).
    public func closure() throws -> (dir: String, release: String, modules: [String]) {
        let (dir, release) = try locate()
        let depText = String(decoding: try FileIO.readAll("\(dir)/modules.dep"), as: UTF8.self)
        var deps: [String: [String]] = [:]
        var byName: [String: String] = [:]
        for line in depText.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let path = String(line[..<colon])
            deps[path] = line[line.index(after: colon)...].split(separator: " ").map(String.init)
            byName[Self.moduleName(path)] = path
        }
        var taken: [String] = []
        var seen = Set<String>()
        func add(_ p: String) {
            guard seen.insert(p).inserted else { return }
            taken.append(p)
            for d in deps[p] ?? [] { add(d) }
        }
        for n in names {
            guard let p = byName[Self.moduleName(n)] else {
                throw Failure(path: "\(dir)/modules.dep", message: "module '\(n)': expected it among the \(deps.count) modules listed, found none of that name")
            }
            add(p)
        }
        for p in taken where p.hasPrefix("/") || p.split(separator: "/").contains("..") {
            throw Failure(path: "\(dir)/modules.dep", message: "entry '\(p)': expected a path inside the modules folder")
        }
        return (dir, release, taken)
    }

    public func apply(to m: inout Manifest) throws {
        let (dir, release, taken) = try closure()
        let source = "modules \(dir)"
        let dest = "/lib/modules/\(release)"
        for p in taken.sorted() {
            let host = "\(dir)/\(p)"
            var st = stat()
            guard lstat(host, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw Failure(path: host, message: "listed in modules.dep, expected a regular file, found none") }
            var e = Manifest.Entry(path: "\(dest)/\(p)", kind: .file, mode: 0o644, source: source)
            e.content = .host(path: host, size: Int(st.st_size), device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
            e.mtime = Int64(st.st_mtim.tv_sec)
            try m.add(e)
        }
        let takenNames = Set(taken.map(Self.moduleName))
        let takenPaths = Set(taken)
        // Text indexes, kept to the modules taken. The field naming the module differs per file.
        let filters: [(String, (Substring) -> Bool)] = [
            ("modules.dep", { l in l.firstIndex(of: ":").map { takenPaths.contains(String(l[..<$0])) } ?? false }),
            ("modules.order", { l in takenPaths.contains(String(l)) }),
            ("modules.alias", { l in l.split(separator: " ").last.map { takenNames.contains(Self.moduleName(String($0))) } ?? false }),
            ("modules.symbols", { l in l.split(separator: " ").last.map { takenNames.contains(Self.moduleName(String($0))) } ?? false }),
            ("modules.softdep", { l in l.split(separator: " ").dropFirst().first.map { takenNames.contains(Self.moduleName(String($0))) } ?? false }),
            ("modules.weakdep", { l in l.split(separator: " ").dropFirst().first.map { takenNames.contains(Self.moduleName(String($0))) } ?? false }),
            ("modules.devname", { l in l.split(separator: " ").first.map { takenNames.contains(Self.moduleName(String($0))) } ?? false }),
        ]
        for (file, keep) in filters where FileIO.kind(of: "\(dir)/\(file)") != .missing {
            let text = String(decoding: try FileIO.readAll("\(dir)/\(file)"), as: UTF8.self)
            var out = ""
            for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0) {
                if line.hasPrefix("#") || keep(line) { out += line + "\n" }
            }
            // A second modules layer for the same kernel adds to what the first one kept.
            if let existing = m[m.place("\(dest)/\(file)")], existing.kind == .file {
                let old = String(decoding: try m.contents(existing), as: UTF8.self)
                let have = Set(old.split(separator: "\n", omittingEmptySubsequences: false))
                out = old + out.split(separator: "\n").filter { !have.contains($0) }.map { $0 + "\n" }.joined()
            }
            var e = Manifest.Entry(path: "\(dest)/\(file)", kind: .file, mode: 0o644, source: source)
            e.content = .bytes(Array(out.utf8))
            e.mtime = m.sourceDateEpoch
            try m.add(e)
        }
        for file in ["modules.builtin", "modules.builtin.modinfo"] {
            let host = "\(dir)/\(file)"
            var st = stat()
            guard lstat(host, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            var e = Manifest.Entry(path: "\(dest)/\(file)", kind: .file, mode: 0o644, source: source)
            e.content = .host(path: host, size: Int(st.st_size), device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
            e.mtime = Int64(st.st_mtim.tv_sec)
            try m.add(e)
        }
        m.notes.append("modules: \(taken.count) module(s) for \(release) (\(names.joined(separator: ", ")) and dependencies)")
    }
}
