import FlashsmithCore
import YAML
#if canImport(Glibc)
import Glibc
#endif

/// A root filesystem described as layers applied in order, from a YAML file or from command-line
/// flags. Relative paths in a file are relative to the file's folder.
/// ```yaml
/// source-date-epoch: 1700000000     # optional: else $SOURCE_DATE_EPOCH, else 0
/// content-manifest: true            # optional: /usr/share/flashsmith/content.sha256
/// layers:
///   - skeleton: base                # a name in rootfs-skeletons/, or a folder
///   - busybox: /bin/busybox
///     links: symlink                # symlink (default) | hardlink | none
///   - overlay: overlay/
///     destination: /                # where it goes (default /)
///     replace: false                # may replace entries of another type
///     modes: keep                   # keep (default) | normalise (0755/0644 by the x bit)
///     owner: 0:0                    # default; `keep` keeps the folder's owners
///   - users: users_table.txt        # mkusers format
///   - devices: device_table.txt     # makedevs format
///   - modules: /path/to/lib/modules/6.1.0-26-amd64
///     load: [nandsim, ubifs]
///   - bundle: [/usr/bin/zstd]
///     sysroot: /                    # default /
///   - criu: /                       # criu with its libraries from this sysroot, migrate, modules
///     modules: /lib/modules/6.1.0-26-amd64   # optional: CRIU's kernel modules from this tree
///   - file: /etc/motd
///     content: "hello\n"
///     mode: 0644                    # optional; uid, gid too
/// ```
public struct RootFSSpec: Sendable {
    public enum Layer: Sendable {
        case skeleton(SkeletonLayer)
        case overlay(OverlayLayer)
        case busybox(BusyboxLayer)
        case devices(path: String)
        case users(path: String)
        case modules(ModulesLayer)
        case bundle(BundleLayer)
        case criu(CRIULayer)
        case file(path: String, content: [UInt8], mode: UInt32, uid: UInt32, gid: UInt32, source: String)
    }

    public typealias Failure = RootFSError

    public var layers: [Layer] = []
    public var sourceDateEpoch: Int64?
    /// Write the content manifest (/usr/share/flashsmith/content.sha256); the criu layer asks for it too.
    public var contentManifest = false
    /// The machine the rootfs is for (a board's `arch:`/kernel, `--arch`); nil: its first busybox
    /// layer's binary decides, else its first bundled binary.
    public var architecture: Architecture?

    public init(layers: [Layer] = [], sourceDateEpoch: Int64? = nil) {
        self.layers = layers
        self.sourceDateEpoch = sourceDateEpoch
    }

    /// SOURCE_DATE_EPOCH from the spec, else the environment, else 0: the same inputs always give
    /// the same bytes.
    public func epoch() throws -> Int64 {
        if let sourceDateEpoch { return sourceDateEpoch }
        return Int64(try SourceDateEpoch.fromEnvironment() ?? 0)
    }

    /// Applies every layer to an empty root.
    public func build() throws -> Manifest {
        var m = Manifest(sourceDateEpoch: try epoch())
        m.architecture = architecture
        if m.architecture == nil, let bb = layers.lazy.compactMap({ if case let .busybox(b) = $0 { b } else { nil } }).first {
            m.architecture = Architecture(of: try ELFFile.read(bb.binary), source: "busybox \(bb.binary)")
        }
        for l in layers {
            switch l {
            case let .skeleton(s): try s.apply(to: &m)
            case let .overlay(o): try o.apply(to: &m)
            case let .busybox(b): try b.apply(to: &m)
            case let .devices(p): try DeviceTable.load(p).apply(to: &m)
            case let .users(p): try UsersTable.load(p).apply(to: &m)
            case let .modules(x): try x.apply(to: &m)
            case let .bundle(b): try b.apply(to: &m)
            case let .criu(c): try c.apply(to: &m)
            case let .file(path, content, mode, uid, gid, source):
                var e = Manifest.Entry(path: path, kind: .file, mode: mode, source: source)
                e.content = .bytes(content)
                e.uid = uid
                e.gid = gid
                e.mtime = m.sourceDateEpoch
                try m.add(e)
            }
        }
        if contentManifest || m.contentManifest { try ContentManifest.add(to: &m) }
        return m
    }

    public static func load(_ path: String, skeletonPaths: [String]) throws -> RootFSSpec {
        let text = String(decoding: try FileIO.readAll(path), as: UTF8.self)
        guard let root = try YAML.parse(text, source: path), root.mapping != nil else {
            throw Failure(file: path, line: 0, message: "expected a mapping with 'layers:', found an empty document")
        }
        let base = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        func rel(_ p: String) -> String { p.hasPrefix("/") ? p : "\(base.isEmpty ? "" : base)/\(p)" }
        func fail(_ n: YAMLNode, _ message: String) -> Failure { Failure(file: path, line: n.line, message: message) }
        var spec = RootFSSpec()
        for e in root.entries ?? [] {
            let (k, v) = (e.key, e.value)
            switch k {
            case "content-manifest":
                spec.contentManifest = try v.bool("content-manifest", source: path)
            case "source-date-epoch":
                guard let e = v.integer, e <= UInt64(SourceDateEpoch.maximum) else {
                    throw fail(v, "source-date-epoch: expected seconds since 1970, 0 to \(SourceDateEpoch.maximum) (uImage, FIT and cpio times are 32-bit), found \(v.integer.map(String.init) ?? v.kind)")
                }
                spec.sourceDateEpoch = Int64(e)
            case "arch":
                guard let name = v.string, let a = Architecture.named(name, source: "\(path):\(v.line): arch \(name)") else {
                    throw fail(v, "arch: expected one of \(Architecture.knownNames.joined(separator: ", ")), found \(v.kind)")
                }
                spec.architecture = a
            case "layers": break
            default:
                throw Failure(file: path, line: e.keyLine, message: "unknown key '\(k)' in the rootfs spec; \(Spelling.hint(for: k, among: topKeys))")
            }
        }
        guard let layers = root["layers"]?.sequence else { throw Failure(file: path, line: root.line, message: "expected 'layers:' with a list of layers") }
        for node in layers {
            let (kind, value) = try layerKind(node, source: path)
            try node.strictMapping([kind] + (layerKeys[kind] ?? []), in: "the \(kind) layer", source: path)
            func str(_ n: YAMLNode?, _ what: String) throws -> String {
                guard let n, let s = n.string, !s.isEmpty else { throw fail(n ?? node, "\(kind) layer: \(what): expected a string, found \(n?.kind ?? "nothing")") }
                return s
            }
            func list(_ n: YAMLNode?, _ what: String) throws -> [String] {
                if let s = n?.string { return [s] }
                guard let seq = n?.sequence else { throw fail(n ?? node, "\(kind) layer: \(what): expected a list, found \(n?.kind ?? "nothing")") }
                return try seq.map { try str($0, what) }
            }
            func bool(_ n: YAMLNode?) throws -> Bool {
                guard let n else { return false }
                switch n.string {
                case "true", "yes", "on": return true
                case "false", "no", "off": return false
                default: throw fail(n, "\(kind) layer: expected true or false, found \(n.kind)")
                }
            }
            let at = "\(path):\(node.line)"
            switch kind {
            case "skeleton":
                let s = try str(value, "skeleton")
                spec.layers.append(.skeleton(SkeletonLayer(name: s.contains("/") ? rel(s) : s, searchPaths: skeletonPaths)))
            case "overlay":
                var o = OverlayLayer(folder: rel(try str(value, "overlay")), label: "overlay \(try str(value, "overlay")) (\(at))")
                if let d = node["destination"] { o.destination = try str(d, "destination") }
                o.replace = try bool(node["replace"])
                if let md = node["modes"] {
                    guard let v = OverlayLayer.Modes(rawValue: md.string ?? "") else { throw fail(md, "overlay layer: modes: expected keep or normalise, found \(md.kind)") }
                    o.modes = v
                }
                if let ow = node["owner"] {
                    let s = try str(ow, "owner")
                    if s == "keep" {
                        o.owner = nil
                    } else {
                        let parts = s.split(separator: ":")
                        guard parts.count == 2, let u = UInt32(parts[0]), let g = UInt32(parts[1]) else { throw fail(ow, "overlay layer: owner: expected UID:GID or keep, found '\(s)'") }
                        o.owner = (u, g)
                    }
                }
                spec.layers.append(.overlay(o))
            case "busybox":
                var b = BusyboxLayer(binary: rel(try str(value, "busybox")))
                if let l = node["links"] {
                    guard let v = BusyboxLayer.Links(rawValue: l.string ?? "") else { throw fail(l, "busybox layer: links: expected symlink, hardlink or none, found \(l.kind)") }
                    b.links = v
                }
                spec.layers.append(.busybox(b))
            case "devices": spec.layers.append(.devices(path: rel(try str(value, "devices"))))
            case "users": spec.layers.append(.users(path: rel(try str(value, "users"))))
            case "modules":
                spec.layers.append(.modules(ModulesLayer(tree: rel(try str(value, "modules")), names: try list(node["load"], "load"))))
            case "criu":
                // `- criu: SYSROOT` (`/` for the host), optionally with `modules: TREE`.
                let sysroot = try str(value, "criu")
                let modules = try node["modules"].map { rel(try str($0, "modules")) }
                spec.layers.append(.criu(CRIULayer(sysroot: sysroot == "/" ? "/" : rel(sysroot), modules: modules, skeletonPaths: skeletonPaths)))
            case "bundle":
                let sysroot = try node["sysroot"].map { rel(try str($0, "sysroot")) } ?? "/"
                spec.layers.append(.bundle(BundleLayer(binaries: try list(value, "bundle"), sysroot: sysroot)))
            default:
                let p = try str(value, "file")
                let content = Array((try node["content"].map { try $0.text("file layer: content", source: path) } ?? "").utf8)
                func num(_ key: String, _ def: UInt32) throws -> UInt32 {
                    guard let n = node[key] else { return def }
                    let s = n.string ?? ""
                    guard let v = key == "mode" ? UInt32(s.hasPrefix("0o") ? String(s.dropFirst(2)) : s, radix: 8).flatMap({ $0 <= 0o7777 ? $0 : nil }) : UInt32(s) else {
                        throw fail(n, "file layer: \(key): expected \(key == "mode" ? "an octal mode" : "a number"), found \(n.kind)")
                    }
                    return v
                }
                spec.layers.append(.file(path: p, content: content, mode: try num("mode", 0o644), uid: try num("uid", 0), gid: try num("gid", 0), source: "file layer (\(at))"))
            }
        }
        return spec
    }

    static let topKeys = ["source-date-epoch", "content-manifest", "arch", "layers"]
    static let layerKinds = ["skeleton", "overlay", "busybox", "devices", "users", "modules", "bundle", "criu", "file"]
    /// The keys each kind of layer takes besides its own.
    static let layerKeys: [String: [String]] = [
        "skeleton": [], "overlay": ["destination", "replace", "modes", "owner"], "busybox": ["links"], "devices": [], "users": [],
        "modules": ["load"], "bundle": ["sysroot"], "criu": ["modules"], "file": ["content", "mode", "uid", "gid"],
    ]

    /// A layer's kind (its one key among ``layerKinds``) and that key's value; a misspelt kind is
    /// named with the nearest one.
    static func layerKind(_ node: YAMLNode, source: String) throws -> (String, YAMLNode) {
        guard let entries = node.entries, let first = entries.first else {
            throw Failure(file: source, line: node.line, message: "a layer: expected a mapping with one of \(layerKinds.joined(separator: ", ")), found \(node.kind)")
        }
        let kinds = entries.filter { layerKinds.contains($0.key) }
        guard let kind = kinds.first else {
            throw Failure(file: source, line: first.keyLine, message: "unknown layer '\(first.key)'; \(Spelling.hint(for: first.key, among: layerKinds))")
        }
        guard kinds.count == 1 else {
            throw Failure(file: source, line: kinds[1].keyLine, message: "a layer is one of \(layerKinds.joined(separator: ", ")), found \(kinds.map { "\($0.key):" }.joined(separator: " and ")) (start a new '- ' item)")
        }
        return (kind.key, kind.value)
    }

    /// The layers with `busybox` where a user expects it: before the first users or device table
    /// (which may name its applets, e.g. `/usr/bin/ping f 4755`), after everything else, as the
    /// command line's flags order it. A board's `busybox:` goes in this way.
    public mutating func addBusybox(_ layer: BusyboxLayer) {
        let at = layers.firstIndex { l in
            switch l {
            case .users, .devices: return true
            default: return false
            }
        } ?? layers.endIndex
        layers.insert(.busybox(layer), at: at)
    }
}
