import CFDT
import FlashsmithCore

/// Flattened device tree blob (Devicetree Specification v0.4, chapter 5 "Flattened Devicetree (DTB)
/// Format"; libfdt). All fields big-endian:
/// ```
///  +0   magic 0xd00dfeed | +4 totalsize | +8 off_dt_struct | +12 off_dt_strings
/// +16   off_mem_rsvmap   | +20 version (17) | +24 last_comp_version (16)
/// +28   boot_cpuid_phys  | +32 size_dt_strings | +36 size_dt_struct
/// +40   memory reservation block: (address u64, size u64)…, (0, 0)
///       structure block: FDT_BEGIN_NODE name\0 pad4, FDT_PROP len nameoff value pad4, FDT_END_NODE, …, FDT_END
///       strings block: property names, NUL-terminated
/// ```
/// Writing goes through libfdt's sequential-write API; reading validates the whole blob with
/// `fdt_check_full` and Flashsmith's own bounds (size, depth) before walking it.
public struct DeviceTree: Sendable, Equatable {
    public static let magic: UInt32 = 0xD00D_FEED
    /// Nesting deeper than this is refused (no real tree comes close; a hostile one could recurse).
    public static let maxDepth = 64

    public struct Property: Sendable, Equatable {
        public var name: String
        public var value: [UInt8]

        public init(_ name: String, _ value: [UInt8]) {
            self.name = name
            self.value = value
        }

        /// A NUL-terminated string property.
        public static func string(_ name: String, _ s: String) -> Property { Property(name, Array(s.utf8) + [0]) }
        /// A string list (`"a", "b"`).
        public static func strings(_ name: String, _ list: [String]) -> Property { Property(name, list.flatMap { Array($0.utf8) + [0] }) }
        /// One big-endian u32 cell.
        public static func u32(_ name: String, _ v: UInt32) -> Property { Property(name, be(v)) }
        /// Big-endian u32 cells.
        public static func cells(_ name: String, _ v: [UInt32]) -> Property { Property(name, v.flatMap(be)) }
        public static func empty(_ name: String) -> Property { Property(name, []) }

        static func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

        /// The value as a string, when it is one NUL-terminated printable string.
        public var stringValue: String? {
            guard let last = value.last, last == 0, !value.dropLast().contains(0) else { return nil }
            return String(validating: value.dropLast(), as: UTF8.self)
        }

        /// The value as a list of NUL-terminated strings.
        public var stringList: [String]? {
            guard let last = value.last, last == 0 else { return nil }
            let parts = value.dropLast().split(separator: 0, omittingEmptySubsequences: false)
            let strings = parts.compactMap { String(validating: $0, as: UTF8.self) }
            return strings.count == parts.count ? strings : nil
        }

        /// The value as big-endian u32 cells, when its length is a multiple of 4.
        public var cellValues: [UInt32]? {
            guard value.count % 4 == 0 else { return nil }
            let r = ByteReader(value)
            return stride(from: 0, to: value.count, by: 4).compactMap { try? r.get(UInt32.self, at: $0, .big) }
        }
    }

    public struct Node: Sendable, Equatable {
        /// Name with unit address (`memory@40000000`); the root is "".
        public var name: String
        public var properties: [Property]
        public var children: [Node]

        public init(_ name: String, properties: [Property] = [], children: [Node] = []) {
            self.name = name
            self.properties = properties
            self.children = children
        }

        public func property(_ name: String) -> Property? { properties.first { $0.name == name } }
        public func child(_ name: String) -> Node? { children.first { $0.name == name } }

        /// The node at a `/`-separated path below this one.
        public func node(at path: String) -> Node? {
            var n = self
            for part in path.split(separator: "/") {
                guard let c = n.child(String(part)) else { return nil }
                n = c
            }
            return n
        }

        /// Nodes and properties in this subtree.
        public var counts: (nodes: Int, properties: Int) {
            children.reduce((1, properties.count)) { acc, c in
                let k = c.counts
                return (acc.0 + k.nodes, acc.1 + k.properties)
            }
        }
    }

    public var root: Node
    public var reservations: [(address: UInt64, size: UInt64)]
    public var bootCPU: UInt32

    public init(root: Node, reservations: [(address: UInt64, size: UInt64)] = [], bootCPU: UInt32 = 0) {
        self.root = root
        self.reservations = reservations
        self.bootCPU = bootCPU
    }

    public static func == (a: DeviceTree, b: DeviceTree) -> Bool {
        a.root == b.root && a.bootCPU == b.bootCPU && a.reservations.map(\.address) == b.reservations.map(\.address)
            && a.reservations.map(\.size) == b.reservations.map(\.size)
    }
}

/// Errors reading or writing a device tree; libfdt's own text (`fdt_strerror`) is kept.
public enum DeviceTreeError: FlashsmithError, Equatable {
    case invalid(source: String, reason: String)
    case tooDeep(source: String, path: String, limit: Int)
    /// A blob that would outgrow what libfdt's `int` sizes address.
    case tooLarge(source: String, size: Int, limit: Int)
    case libfdt(operation: String, code: Int32, message: String)

    public var category: ErrorCategory {
        switch self {
        case .invalid, .tooDeep, .tooLarge: return .data
        case .libfdt: return .data
        }
    }

    public var description: String {
        switch self {
        case let .invalid(source, reason): return "\(source): not a valid device tree blob: \(reason)"
        case let .tooDeep(source, path, limit): return "\(source): node \(path): nested deeper than \(limit) levels"
        case let .tooLarge(source, size, limit):
            return "\(source): a device tree of \(size) bytes: expected at most \(limit) (libfdt sizes are 32-bit signed; keep large images outside the tree: fit build -E)"
        case let .libfdt(op, code, message): return "libfdt \(op) failed: \(message) (\(code))"
        }
    }

    static func check(_ rc: Int32, _ op: String) throws(DeviceTreeError) {
        if rc < 0 { throw .libfdt(operation: op, code: rc, message: String(cString: fdt_strerror(rc))) }
    }
}
