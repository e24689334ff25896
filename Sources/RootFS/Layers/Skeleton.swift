import FlashsmithCore
import YAML

/// A skeleton from `rootfs-skeletons/NAME/` (see rootfs-skeletons/README.md):
/// ```
/// skeleton.yaml       description, and `extends: OTHER` to start from another skeleton
/// tree/               files and symlinks as they go in the image (modes normalised 0755/0644)
/// device_table.txt    owners, other modes, empty folders and device nodes (makedevs format)
/// users_table.txt     optional (mkusers format)
/// ```
/// git keeps neither owners nor device nodes nor empty folders: the tables carry them.
public struct SkeletonLayer: Sendable {
    /// A name looked up in the search folders, or a path to a skeleton folder.
    public var name: String
    public var searchPaths: [String]

    public init(name: String, searchPaths: [String]) {
        self.name = name
        self.searchPaths = searchPaths
    }

    public typealias Failure = RootFSError

    public func folder() throws -> String {
        if name.contains("/") {
            guard FileIO.kind(of: name) == .directory else { throw Failure(message: "skeleton \(name): expected a folder, found none", category: .noInput) }
            return name
        }
        for p in searchPaths where FileIO.kind(of: "\(p)/\(name)") == .directory { return "\(p)/\(name)" }
        let known = Set(searchPaths.flatMap { p in SharedLibraryClosure.listDirectory(p).filter { FileIO.kind(of: "\(p)/\($0)") == .directory } }).sorted()
        throw Failure(
            message: "skeleton '\(name)': expected a folder of that name in \(searchPaths.isEmpty ? "(no skeleton folder found)" : searchPaths.joined(separator: ", ")), found \(known.isEmpty ? "none" : known.joined(separator: ", "))",
            category: .noInput
        )
    }

    public func apply(to m: inout Manifest) throws {
        var chain: [String] = []
        try apply(to: &m, chain: &chain)
    }

    func apply(to m: inout Manifest, chain: inout [String]) throws {
        let dir = try folder()
        guard !chain.contains(dir) else { throw Failure(message: "skeleton \(name): 'extends' loops: \((chain + [dir]).joined(separator: " -> "))", category: .data) }
        chain.append(dir)
        if FileIO.kind(of: "\(dir)/skeleton.yaml") != .missing {
            let text = String(decoding: try FileIO.readAll("\(dir)/skeleton.yaml"), as: UTF8.self)
            let root = try YAML.parse(text, source: "\(dir)/skeleton.yaml")
            try root?.strictMapping(["description", "extends"], in: "skeleton.yaml", source: "\(dir)/skeleton.yaml")
            if let base = try root?["extends"].map({ try $0.text("extends", expected: "a skeleton name", source: "\(dir)/skeleton.yaml") }) {
                try SkeletonLayer(name: base, searchPaths: searchPaths + [Manifest.parent(dir)]).apply(to: &m, chain: &chain)
            }
        }
        if FileIO.kind(of: "\(dir)/tree") == .directory {
            var o = OverlayLayer(folder: "\(dir)/tree", label: "skeleton \(name)")
            o.modes = .normalise
            try o.apply(to: &m)
        }
        if FileIO.kind(of: "\(dir)/users_table.txt") != .missing { try UsersTable.load("\(dir)/users_table.txt").apply(to: &m) }
        if FileIO.kind(of: "\(dir)/device_table.txt") != .missing { try DeviceTable.load("\(dir)/device_table.txt").apply(to: &m) }
    }
}
