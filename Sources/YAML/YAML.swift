import CYAML
import FlashsmithCore

/// A YAML document as Flashsmith's specs use it: mappings that keep their keys' order, sequences,
/// and scalars kept as text with their style (a plain `0x40400000` is a number, a quoted one a
/// string). Parsed by libyaml's event API (YAML 1.1); anchors and aliases are resolved; tags other
/// than the core ones are not interpreted.
public indirect enum YAMLNode: Sendable, Equatable {
    case scalar(String, plain: Bool, line: Int)
    case sequence([YAMLNode], line: Int)
    case mapping([Entry], line: Int)

    /// A mapping's key, the line it is written on, and its value.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var keyLine: Int
        public var value: YAMLNode
        public init(key: String, keyLine: Int, value: YAMLNode) {
            self.key = key
            self.keyLine = keyLine
            self.value = value
        }
        public static func == (a: Entry, b: Entry) -> Bool { a.key == b.key && a.value == b.value }
    }

    public static func == (a: YAMLNode, b: YAMLNode) -> Bool {
        switch (a, b) {
        case let (.scalar(x, p, _), .scalar(y, q, _)): return x == y && p == q
        case let (.sequence(x, _), .sequence(y, _)): return x == y
        case let (.mapping(x, _), .mapping(y, _)): return x == y
        default: return false
        }
    }

    /// 1-based line where the node starts.
    public var line: Int {
        switch self {
        case let .scalar(_, _, l), let .sequence(_, l), let .mapping(_, l): return l
        }
    }

    public var string: String? {
        if case let .scalar(s, _, _) = self { return s }
        return nil
    }

    public var isPlainScalar: Bool {
        if case let .scalar(_, plain, _) = self { return plain }
        return false
    }

    public var sequence: [YAMLNode]? {
        if case let .sequence(s, _) = self { return s }
        return nil
    }

    public var mapping: [(key: String, value: YAMLNode)]? {
        if case let .mapping(m, _) = self { return m.map { ($0.key, $0.value) } }
        return nil
    }

    /// A mapping's entries with the line of each key.
    public var entries: [Entry]? {
        if case let .mapping(m, _) = self { return m }
        return nil
    }

    public subscript(key: String) -> YAMLNode? {
        guard case let .mapping(m, _) = self else { return nil }
        return m.first { $0.key == key }?.value
    }

    /// A plain scalar read as an integer: `0x…` hex, `0o…`/leading-0 octal, else decimal.
    public var integer: UInt64? {
        guard case let .scalar(s, true, _) = self else { return nil }
        let t = s.lowercased().replacingUnderscores()
        if t.hasPrefix("0x") { return UInt64(t.dropFirst(2), radix: 16) }
        if t.hasPrefix("0o") { return UInt64(t.dropFirst(2), radix: 8) }
        return UInt64(t)
    }

    /// A description for error messages.
    public var kind: String {
        switch self {
        case let .scalar(s, _, _): return "'\(s)'"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}

public struct YAMLError: FlashsmithError, Equatable {
    public var source: String
    public var line: Int
    public var column: Int
    public var message: String
    public var category: ErrorCategory { .data }
    /// `FILE:LINE:COLUMN: message`, or `FILE:LINE: message` where the column is not known (0).
    public var description: String { column > 0 ? "\(source):\(line):\(column): \(message)" : line > 0 ? "\(source):\(line): \(message)" : "\(source): \(message)" }
    public init(source: String, line: Int, column: Int = 0, message: String) {
        self.source = source
        self.line = line
        self.column = column
        self.message = message
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}

public enum YAML {
    /// The deepest nesting of collections a document may have (anchors and aliases counted as
    /// expanded). Specs need a handful of levels; the cap keeps a hostile file from overflowing the
    /// stack (freeing or comparing 50,000 nested nodes) or keeping libyaml busy (150,000 unclosed
    /// `[` are quadratic in its simple-key scan): parsing stops at the first event past it.
    public static let maxDepth = 64

    /// Parses the first document of `text`; nil for an empty stream.
    public static func parse(_ text: String, source: String) throws(YAMLError) -> YAMLNode? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw YAMLError(source: source, line: 0, column: 0, message: "libyaml could not start") }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { (buf) throws(YAMLError) -> YAMLNode? in
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            var builder = Builder(source: source)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    let problem = parser.problem.map { String(cString: $0) } ?? "syntax error"
                    throw YAMLError(source: source, line: Int(parser.problem_mark.line) + 1, column: Int(parser.problem_mark.column) + 1, message: "expected valid YAML: \(problem)")
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT || event.type == YAML_DOCUMENT_END_EVENT { return builder.root }
                try builder.handle(&event)
            }
        }
    }

    /// Turns libyaml's events into nodes: a stack of open collections. Each node's height (levels
    /// of collections in it) is tracked so that an alias cannot nest deeper than ``maxDepth`` either.
    struct Builder {
        struct Open {
            var isMapping: Bool
            var items: [YAMLNode] = []
            var height = 0
            var anchor: String?
            var line: Int
        }

        let source: String
        var root: YAMLNode?
        var stack: [Open] = []
        var anchors: [String: (node: YAMLNode, height: Int)] = [:]

        init(source: String) { self.source = source }

        static func text(_ p: UnsafeMutablePointer<UInt8>?, _ n: Int) -> String {
            guard let p else { return "" }
            return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
        }

        mutating func add(_ node: YAMLNode, height: Int, anchor: String?) {
            if let anchor { anchors[anchor] = (node, height) }
            if stack.isEmpty {
                root = root ?? node
            } else {
                stack[stack.count - 1].items.append(node)
                stack[stack.count - 1].height = max(stack[stack.count - 1].height, height)
            }
        }

        func tooDeep(_ line: Int) -> YAMLError {
            YAMLError(source: source, line: line, message: "expected at most \(YAML.maxDepth) levels of nested lists and mappings, found more")
        }

        mutating func open(isMapping: Bool, anchor: UnsafeMutablePointer<UInt8>?, line: Int) throws(YAMLError) {
            guard stack.count < YAML.maxDepth else { throw tooDeep(line) }
            stack.append(Open(isMapping: isMapping, anchor: anchor.map { String(cString: $0) }, line: line))
        }

        mutating func close() throws(YAMLError) {
            guard let open = stack.popLast() else { return }
            guard open.isMapping else {
                add(.sequence(open.items, line: open.line), height: open.height + 1, anchor: open.anchor)
                return
            }
            var entries: [YAMLNode.Entry] = []
            var i = 0
            while i + 1 < open.items.count {
                let k = open.items[i]
                guard let key = k.string else {
                    throw YAMLError(source: source, line: k.line, message: "expected a scalar mapping key, found \(k.kind)")
                }
                if let first = entries.first(where: { $0.key == key }) {
                    throw YAMLError(source: source, line: k.line, message: "duplicate key '\(key)' (first on line \(first.keyLine))")
                }
                entries.append(YAMLNode.Entry(key: key, keyLine: k.line, value: open.items[i + 1]))
                i += 2
            }
            add(.mapping(entries, line: open.line), height: open.height + 1, anchor: open.anchor)
        }

        mutating func handle(_ e: inout yaml_event_t) throws(YAMLError) {
            let line = Int(e.start_mark.line) + 1
            switch e.type {
            case YAML_SCALAR_EVENT:
                let s = e.data.scalar
                let value = Self.text(s.value, s.length)
                let anchor = s.anchor.map { String(cString: $0) }
                add(.scalar(value, plain: s.style == YAML_PLAIN_SCALAR_STYLE, line: line), height: 0, anchor: anchor)
            case YAML_SEQUENCE_START_EVENT:
                try open(isMapping: false, anchor: e.data.sequence_start.anchor, line: line)
            case YAML_MAPPING_START_EVENT:
                try open(isMapping: true, anchor: e.data.mapping_start.anchor, line: line)
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                try close()
            case YAML_ALIAS_EVENT:
                let name = e.data.alias.anchor.map { String(cString: $0) } ?? ""
                guard let a = anchors[name] else {
                    throw YAMLError(source: source, line: line, column: Int(e.start_mark.column) + 1, message: "alias *\(name) names no anchor")
                }
                guard stack.count + a.height <= YAML.maxDepth else { throw tooDeep(line) }
                add(a.node, height: a.height, anchor: nil)
            default:
                break
            }
        }
    }
}
