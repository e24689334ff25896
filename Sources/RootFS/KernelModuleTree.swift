import Archive
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// A kernel's modules folder as a dependency graph, for an initramfs that loads modules with
/// `insmod` in an order fixed at build time (no modprobe, no modules.dep on the target).
///
/// The graph comes from `modules.dep` when depmod wrote one (the same file ``ModulesLayer`` reads),
/// else from the modules themselves: every path of `modules.order` and the `depends=` entry of each
/// module's `.modinfo` section (an unpacked Debian kernel package ships no modules.dep: its postinst
/// runs depmod). Built-in modules come from `modules.builtin`.
public struct KernelModuleTree: Sendable {
    /// The `lib/modules/RELEASE` folder.
    public var dir: String
    public var release: String
    /// Module name (``ModulesLayer/moduleName(_:)``) → its path relative to `dir`.
    public var paths: [String: String]
    /// Path → the paths it depends on (direct only when read from `.modinfo`).
    public var dependencies: [String: [String]]
    /// Names of the modules built into the kernel.
    public var builtin: Set<String>
    /// Module name → the names its `softdep pre:` gives, from depmod's modules.softdep (read only
    /// with modules.dep; without them each module's `.modinfo` says).
    public var softDependencies: [String: [String]] = [:]

    public typealias Failure = RootFSError

    /// At most this many modules are read for their `.modinfo` (a kernel has a few thousand).
    static let maxModules = 1 << 16
    /// A module file larger than this is refused before it is read.
    static let maxModuleBytes = 256 << 20

    /// `tree`: `…/lib/modules/RELEASE` itself, or a root holding exactly one `lib/modules/*` or
    /// `usr/lib/modules/*` (an unpacked kernel package, a sysroot).
    public static func load(_ tree: String) throws -> KernelModuleTree {
        let (dir, release) = try locate(tree)
        var t = KernelModuleTree(dir: dir, release: release, paths: [:], dependencies: [:], builtin: [])
        if FileIO.kind(of: "\(dir)/modules.builtin") != .missing {
            for line in try lines("\(dir)/modules.builtin") { t.builtin.insert(ModulesLayer.moduleName(line)) }
        }
        if FileIO.kind(of: "\(dir)/modules.dep") != .missing {
            for line in try lines("\(dir)/modules.dep") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let path = String(line[..<colon])
                try checkInside(path, listed: "\(dir)/modules.dep")
                let deps = line[line.index(after: colon)...].split(separator: " ").map(String.init)
                for d in deps { try checkInside(d, listed: "\(dir)/modules.dep") }
                t.dependencies[path] = deps
                t.paths[ModulesLayer.moduleName(path)] = path
            }
            if FileIO.kind(of: "\(dir)/modules.softdep") != .missing {
                // `softdep NAME pre: A B post: C`
                for line in try lines("\(dir)/modules.softdep") where line.hasPrefix("softdep ") {
                    let words = line.split(separator: " ")
                    guard words.count > 2 else { continue }
                    t.softDependencies[ModulesLayer.moduleName(String(words[1])), default: []] += softPre(["softdep=" + words.dropFirst(2).joined(separator: " ")])
                }
            }
            return t
        }
        let order = try lines("\(dir)/modules.order")
        guard order.count <= maxModules else { throw Failure(path: "\(dir)/modules.order", message: "expected at most \(maxModules) modules, found \(order.count)") }
        for path in order {
            try checkInside(path, listed: "\(dir)/modules.order")
            t.paths[ModulesLayer.moduleName(path)] = path
        }
        return t
    }

    /// The modules folder and its release. Unlike ``ModulesLayer``'s, a folder without modules.dep
    /// is taken when it has modules.order (the load order then comes from `.modinfo`).
    static func locate(_ tree: String) throws -> (dir: String, release: String) {
        try locate(tree, marks: ["modules.dep", "modules.order"], what: "modules.dep or modules.order") { _ in
            "expected modules.dep or modules.order (a kernel's modules folder), found neither"
        }
    }

    /// `tree` itself when it holds one of `marks`, else the one release under `lib/modules` or
    /// `usr/lib/modules` of the root `tree` (which must hold one of them: `missing` says what then).
    static func locate(_ tree: String, marks: [String], what: String, missing: (String) -> String) throws -> (dir: String, release: String) {
        let t = tree.count > 1 && tree.hasSuffix("/") ? String(tree.dropLast()) : tree
        func isModules(_ d: String) -> Bool { marks.contains { FileIO.kind(of: "\(d)/\($0)") != .missing } }
        if isModules(t) { return (t, Manifest.name(t)) }
        for base in ["\(t)/lib/modules", "\(t)/usr/lib/modules"] {
            let releases = SharedLibraryClosure.listDirectory(base).sorted()
            guard !releases.isEmpty else { continue }
            guard releases.count == 1 else {
                throw Failure(path: base, message: "expected one kernel release, found \(releases.joined(separator: ", ")): name the folder of the one to use")
            }
            let dir = "\(base)/\(releases[0])"
            guard isModules(dir) else { throw Failure(path: dir, message: missing(releases[0])) }
            return (dir, releases[0])
        }
        throw Failure(path: t, message: "expected a kernel modules folder (\(what)), or a root with lib/modules/RELEASE, found neither")
    }

    static func lines(_ path: String) throws -> [String] {
        String(decoding: try FileIO.readAll(path), as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
    }

    static func checkInside(_ p: String, listed file: String) throws {
        if p.hasPrefix("/") || p.split(separator: "/").contains("..") {
            throw Failure(path: file, message: "entry '\(p)': expected a path inside the modules folder")
        }
    }

    /// What one module needs: its hard dependencies (modules.dep, else its `.modinfo`'s `depends=`),
    /// then the modules its `softdep=pre:` names, which the kernel loads through modprobe's
    /// configuration and modules.dep never lists (ext4's `pre: crypto-crc32c`: without
    /// crc32c_generic, "Cannot load crc32c driver"). A soft dependency no module provides is left
    /// out (it may be built in); each soft one found comes before the module.
    func needs(_ path: String) throws -> [String] {
        var out: [String]
        let soft: [String]
        if let d = dependencies[path] {
            // depmod wrote modules.dep: the soft ones are in its modules.softdep.
            out = d
            soft = softDependencies[ModulesLayer.moduleName(path)] ?? []
        } else {
            let fields = try Self.modinfo("\(dir)/\(path)")
            out = try Self.field("depends", of: fields).map { n in
                guard let p = paths[ModulesLayer.moduleName(n)] else {
                    throw Failure(path: "\(dir)/\(path)", message: "depends on module '\(n)', which modules.order does not list")
                }
                return p
            }
            soft = Self.softPre(fields)
        }
        for name in soft {
            if let p = try provider(of: name), p != path, !out.contains(p) { out.append(p) }
        }
        return out
    }

    /// The comma-separated values of `key=` in `.modinfo` fields.
    static func field(_ key: String, of fields: [String]) -> [String] {
        for f in fields where f.hasPrefix(key + "=") {
            return f.dropFirst(key.count + 1).split(separator: ",").map(String.init)
        }
        return []
    }

    /// The names after `pre:` in `softdep=pre: a b post: c` (modprobe.d(5)'s softdep syntax).
    static func softPre(_ fields: [String]) -> [String] {
        var out: [String] = []
        for f in fields where f.hasPrefix("softdep=") {
            var inPre = false
            for word in f.dropFirst("softdep=".count).split(separator: " ") {
                if word == "pre:" { inPre = true } else if word == "post:" { inPre = false } else if inPre { out.append(String(word)) }
            }
        }
        return out
    }

    /// The module a name or alias (`crypto-crc32c`) stands for: a module of that name, else one
    /// whose `.modinfo` has `alias=NAME`. Modules whose names start with the alias's stem (after
    /// `crypto-`) are looked at first; only when none has it are all the others read.
    func provider(of name: String) throws -> String? {
        let n = ModulesLayer.moduleName(name)
        if let p = paths[n] { return p }
        let stem = ModulesLayer.moduleName(name.hasPrefix("crypto-") ? String(name.dropFirst("crypto-".count)) : name)
        let sorted = paths.sorted { $0.key < $1.key }
        let likely = sorted.filter { $0.key.hasPrefix(stem) }
        for group in [likely, sorted.filter { !$0.key.hasPrefix(stem) }] {
            for (_, p) in group where try Self.field("alias", ofAll: Self.modinfo("\(dir)/\(p)")).contains(name) { return p }
        }
        return nil
    }

    /// Every `key=` value (aliases come one per field).
    static func field(_ key: String, ofAll fields: [String]) -> [String] {
        fields.filter { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }

    /// The load order for `names`: every module after the modules it needs (depth first, each once).
    /// Names built into the kernel are returned apart; a name that is neither a module nor built in
    /// is an error unless it is in `optional` (then it is returned as absent).
    public func loadOrder(_ names: [String], optional: Set<String> = []) throws -> (order: [String], builtIn: [String], absent: [String]) {
        var order: [String] = []
        var done = Set<String>()
        var visiting = Set<String>()
        var cache: [String: [String]] = [:]
        func visit(_ p: String) throws {
            if done.contains(p) { return }
            guard visiting.insert(p).inserted else { throw Failure(path: "\(dir)/\(p)", message: "its dependencies lead back to it (a cycle)") }
            let deps = try cache[p] ?? needs(p)
            cache[p] = deps
            for d in deps { try visit(d) }
            visiting.remove(p)
            done.insert(p)
            order.append(p)
        }
        var builtIn: [String] = []
        var absent: [String] = []
        for n in names {
            let name = ModulesLayer.moduleName(n)
            if let p = paths[name] {
                try visit(p)
            } else if builtin.contains(name) {
                builtIn.append(n)
            } else if optional.contains(n) {
                absent.append(n)
            } else {
                throw Failure(path: dir, message: "module '\(n)': expected it among the \(paths.count) modules or the kernel's built-in ones (modules.builtin), found neither")
            }
        }
        return (order, builtIn, absent)
    }

    /// The `depends=` names of a module's `.modinfo` section (`.ko`, or `.ko.xz`/`.zst`/`.gz`).
    public static func modinfoDepends(_ path: String) throws -> [String] {
        field("depends", of: try modinfo(path))
    }

    /// The NUL-separated `key=value` strings of a module's `.modinfo` section.
    public static func modinfo(_ path: String) throws -> [String] {
        let size = try FileIO.size(of: path)
        guard size <= maxModuleBytes else { throw Failure(path: path, message: "expected a kernel module of at most \(maxModuleBytes) bytes, found \(size)") }
        let bytes = path.hasSuffix(".ko") ? try FileIO.readAll(path) : try RawDecompressor.decompress(path, limit: maxModuleBytes)
        guard let section = try section(".modinfo", in: bytes, path: path) else { return [] }
        return section.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// ELF header fields: (ELFCLASS32 offset, ELFCLASS64 offset).
    enum Header {
        static let shoff = (elf32: 0x20, elf64: 0x28)
        static let shentsize = (elf32: 0x2E, elf64: 0x3A)
        static let shnum = (elf32: 0x30, elf64: 0x3C)
        static let shstrndx = (elf32: 0x32, elf64: 0x3E)
    }

    /// Section header fields: (ELFCLASS32 offset, ELFCLASS64 offset).
    enum SectionHeader {
        static let name = 0
        static let offset = (elf32: 0x10, elf64: 0x18)
        static let size = (elf32: 0x14, elf64: 0x20)
        static let minimumSize = (elf32: 0x28, elf64: 0x40)
    }

    /// The bytes of the section named `name` of an ELF relocatable file, or nil.
    static func section(_ name: String, in d: [UInt8], path: String) throws -> ArraySlice<UInt8>? {
        guard d.count >= 0x34, ELFFile.isELF(d), d[4] == 1 || d[4] == 2, d[5] == 1 || d[5] == 2 else {
            throw Failure(path: path, message: "expected an ELF kernel module, found \(d.count) bytes that are not one")
        }
        let is64 = d[4] == 2
        let order: ByteOrder = d[5] == 1 ? .little : .big
        let r = ByteReader(d)
        func word(_ o: Int, _ field: String) throws -> Int {
            let v: UInt64 = is64 ? try r.get(UInt64.self, at: o, order, field: field) : UInt64(try r.get(UInt32.self, at: o, order, field: field))
            guard let x = Int(exactly: v), x <= d.count else { throw Failure(path: path, message: "\(field) \(v) at offset \(hex(o)): expected at most the file size \(d.count)") }
            return x
        }
        let shoff = try word(is64 ? Header.shoff.elf64 : Header.shoff.elf32, "e_shoff")
        let shentsize = Int(try r.get(UInt16.self, at: is64 ? Header.shentsize.elf64 : Header.shentsize.elf32, order, field: "e_shentsize"))
        let shnum = Int(try r.get(UInt16.self, at: is64 ? Header.shnum.elf64 : Header.shnum.elf32, order, field: "e_shnum"))
        let shstrndx = Int(try r.get(UInt16.self, at: is64 ? Header.shstrndx.elf64 : Header.shstrndx.elf32, order, field: "e_shstrndx"))
        guard shentsize >= (is64 ? SectionHeader.minimumSize.elf64 : SectionHeader.minimumSize.elf32), shnum > 0, shstrndx < shnum,
            shnum * shentsize <= d.count - shoff
        else {
            throw Failure(path: path, message: "section headers (\(shnum) × \(shentsize) at \(hex(shoff)), names in \(shstrndx)) do not fit the \(d.count)-byte file")
        }
        func bytes(of i: Int) throws -> (name: Int, data: ArraySlice<UInt8>) {
            let h = shoff + i * shentsize
            let nameOffset = Int(try r.get(UInt32.self, at: h + SectionHeader.name, order, field: "sh_name"))
            let offset = try word(h + (is64 ? SectionHeader.offset.elf64 : SectionHeader.offset.elf32), "sh_offset")
            let size = try word(h + (is64 ? SectionHeader.size.elf64 : SectionHeader.size.elf32), "sh_size")
            guard size <= d.count - offset else { throw Failure(path: path, message: "section \(i): \(size) bytes at \(hex(offset)) run past the end of the file") }
            return (nameOffset, d[offset..<(offset + size)])
        }
        let names = try bytes(of: shstrndx).data
        let wanted = Array(name.utf8)
        for i in 0..<shnum {
            let s = try bytes(of: i)
            guard s.name < names.count else { continue }
            let start = names.startIndex + s.name
            let end = names[start...].firstIndex(of: 0) ?? names.endIndex
            if names[start..<end].elementsEqual(wanted) { return s.data }
        }
        return nil
    }
}
