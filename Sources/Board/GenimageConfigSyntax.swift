import FlashsmithCore

/// libconfuse's tokens, as its flex lexer (src/lexer.l) cuts them: words, quoted strings,
/// `{ } ( ) = += ,`; comments skipped; `include()`d files spliced into the stream.
struct GenimageToken {
    enum Kind: Equatable { case word, open, close, leftParen, rightParen, equals, append, comma, end }
    var kind: Kind
    var text: String
    var at: GenimageConfig.Location

    var spelled: String {
        switch kind {
        case .word: return "'\(text)'"
        case .end: return "the end of the file"
        default: return "'\(text)'"
        }
    }
}

struct GenimageLexer {
    typealias Failure = GenimageConfig.Failure
    struct Source {
        var bytes: [UInt8]
        var pos = 0
        var name: String
        var line = 1
        /// The next `}` at or after `braceFrom` (`bytes.count`: none): each `${` looks once.
        var brace = -1
        var braceFrom = Int.max

        /// The index of the first `}` at or after `p`, if any (searched once per stretch).
        mutating func closingBrace(from p: Int) -> Int? {
            if !(braceFrom <= p && brace >= p) {
                brace = bytes[p...].firstIndex(of: UInt8(ascii: "}")) ?? bytes.count
                braceFrom = p
            }
            return brace < bytes.count ? brace : nil
        }
    }

    var stack: [Source] = []
    let environment: [String: String]
    let includePaths: [String]
    /// Includes only from this folder (fuzzing): names are taken relative to it, `..` refused.
    var confinedTo: String?
    var rootName = ""

    init(environment: [String: String], includePaths: [String]) {
        self.environment = environment
        self.includePaths = includePaths
    }

    var here: GenimageConfig.Location { GenimageConfig.Location(file: stack.last?.name ?? rootName, line: stack.last?.line ?? 0) }

    /// Reads `path` (a regular file of at most ``GenimageConfig/Limits/fileBytes``) onto the stack.
    mutating func push(file path: String, at: GenimageConfig.Location?) throws {
        func fail(_ m: String, _ c: ErrorCategory) -> Failure {
            at.map { Failure($0, m, category: c) } ?? Failure(message: "\(path): \(m)", category: c)
        }
        switch FileIO.kind(of: path) {
        case .regular: break
        case .missing: throw fail(at == nil ? "cannot open: no such file" : "include(\"\(path)\"): no such file", .noInput)
        case let k: throw fail("expected a config file, found \(k.name)", .noInput)
        }
        let size = try FileIO.size(of: path)
        guard size <= GenimageConfig.Limits.fileBytes else {
            throw fail("\(size) bytes: expected a config of at most \(GenimageConfig.Limits.fileBytes) bytes", .data)
        }
        try push(bytes: try FileIO.readAll(path), name: path, at: at)
    }

    mutating func push(bytes: [UInt8], name: String, at: GenimageConfig.Location?) throws {
        if stack.isEmpty { rootName = name }
        guard stack.count < GenimageConfig.Limits.includeDepth else {
            throw Failure(at ?? here, "include(\"\(name)\"): includes nested more than \(GenimageConfig.Limits.includeDepth) deep (libconfuse's limit)")
        }
        if let nul = bytes.firstIndex(of: 0) {
            let line = bytes[..<nul].reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
            throw Failure(GenimageConfig.Location(file: name, line: line), "a NUL byte: expected text")
        }
        stack.append(Source(bytes: bytes, name: name))
    }

    /// The file an `include("name")` reads: the include paths in order, then the current folder
    /// (libconfuse's search path as genimage sets it); `~/` is $HOME.
    func resolveInclude(_ given: String) -> String {
        if let confinedTo {
            let parts = given.split(separator: "/").filter { $0 != "." && $0 != ".." }
            return "\(confinedTo)/" + (parts.isEmpty ? "-" : parts.joined(separator: "/"))
        }
        var name = given
        if name.hasPrefix("~/"), let home = environment["HOME"] { name = home + name.dropFirst(1) }
        if name.hasPrefix("/") || includePaths.isEmpty { return name }
        for dir in includePaths + ["."] {
            if case .regular = FileIO.kind(of: "\(dir)/\(name)") { return "\(dir)/\(name)" }
        }
        return name
    }

    static let wordStop: Set<UInt8> = Set(" #\"'\t\n\r={}()+,*".utf8)

    mutating func next() throws -> GenimageToken {
        while !stack.isEmpty {
            var s = stack.removeLast()
            let t = try scan(&s)
            if let t {
                stack.append(s)
                return t
            }
            if stack.isEmpty { return GenimageToken(kind: .end, text: "", at: GenimageConfig.Location(file: s.name, line: s.line)) }
        }
        return GenimageToken(kind: .end, text: "", at: here)
    }

    /// The next token of `s`, or nil at its end.
    func scan(_ s: inout Source) throws -> GenimageToken? {
        while s.pos < s.bytes.count {
            let c = s.bytes[s.pos]
            let at = GenimageConfig.Location(file: s.name, line: s.line)
            let next: UInt8? = s.pos + 1 < s.bytes.count ? s.bytes[s.pos + 1] : nil
            switch c {
            case 0x20, 0x09, 0x0D:
                s.pos += 1
            case 0x0A:
                s.pos += 1
                s.line += 1
            case UInt8(ascii: "#"):
                skipLine(&s)
            case UInt8(ascii: "/") where next == UInt8(ascii: "/"):
                skipLine(&s)
            case UInt8(ascii: "/") where next == UInt8(ascii: "*"):
                try skipBlockComment(&s, at: at)
            case UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "="), UInt8(ascii: ","):
                s.pos += 1
                let kinds: [UInt8: GenimageToken.Kind] = [0x7B: .open, 0x7D: .close, 0x28: .leftParen, 0x29: .rightParen, 0x3D: .equals, 0x2C: .comma]
                return GenimageToken(kind: kinds[c] ?? .open, text: String(UnicodeScalar(c)), at: at)
            case UInt8(ascii: "+"):
                guard next == UInt8(ascii: "=") else { throw Failure(at, "a '+' that is not '+=': expected an option, a value or '+='") }
                s.pos += 2
                return GenimageToken(kind: .append, text: "+=", at: at)
            case UInt8(ascii: "\""):
                s.pos += 1
                return GenimageToken(kind: .word, text: try doubleQuoted(&s, at: at), at: at)
            case UInt8(ascii: "'"):
                s.pos += 1
                return GenimageToken(kind: .word, text: try singleQuoted(&s, at: at), at: at)
            case UInt8(ascii: "$") where next == UInt8(ascii: "{"):
                if let close = s.closingBrace(from: s.pos + 2) {
                    let body = Array(s.bytes[(s.pos + 2)..<close])
                    s.line += body.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
                    s.pos = close + 1
                    return GenimageToken(kind: .word, text: String(decoding: expand(body), as: UTF8.self), at: at)
                }
                return GenimageToken(kind: .word, text: word(&s), at: at)
            case UInt8(ascii: "*"):
                throw Failure(at, "a '*' outside a comment or string: expected an option or a value")
            default:
                return GenimageToken(kind: .word, text: word(&s), at: at)
            }
        }
        return nil
    }

    func word(_ s: inout Source) -> String {
        let start = s.pos
        while s.pos < s.bytes.count, !Self.wordStop.contains(s.bytes[s.pos]) { s.pos += 1 }
        if s.pos == start { s.pos += 1 }
        return String(decoding: s.bytes[start..<s.pos], as: UTF8.self)
    }

    func skipLine(_ s: inout Source) {
        while s.pos < s.bytes.count, s.bytes[s.pos] != 0x0A { s.pos += 1 }
    }

    func skipBlockComment(_ s: inout Source, at: GenimageConfig.Location) throws {
        s.pos += 2
        while s.pos < s.bytes.count {
            if s.bytes[s.pos] == UInt8(ascii: "*"), s.pos + 1 < s.bytes.count, s.bytes[s.pos + 1] == UInt8(ascii: "/") {
                s.pos += 2
                return
            }
            if s.bytes[s.pos] == 0x0A { s.line += 1 }
            s.pos += 1
        }
        throw Failure(at, "a '/*' comment that is never closed with '*/'")
    }

    /// `${VAR}` or `${VAR:-default}` (the text between the braces): the variable, else the
    /// default, else nothing.
    func expand(_ body: [UInt8]) -> [UInt8] {
        var name = body
        var fallback: [UInt8]?
        if let colon = body.firstIndex(of: UInt8(ascii: ":")), colon + 1 < body.count, body[colon + 1] == UInt8(ascii: "-") {
            name = Array(body[..<colon])
            fallback = Array(body[(colon + 2)...])
        }
        if let v = environment[String(decoding: name, as: UTF8.self)] { return Array(v.utf8) }
        return fallback ?? []
    }

    /// A `"…"` string after its opening quote: C escapes, `${…}` expanded, newlines kept,
    /// backslash-newline joins lines.
    func doubleQuoted(_ s: inout Source, at: GenimageConfig.Location) throws -> String {
        var out: [UInt8] = []
        while s.pos < s.bytes.count {
            let c = s.bytes[s.pos]
            switch c {
            case UInt8(ascii: "\""):
                s.pos += 1
                return String(decoding: out, as: UTF8.self)
            case 0x0A:
                out.append(c)
                s.line += 1
                s.pos += 1
            case UInt8(ascii: "$") where s.pos + 1 < s.bytes.count && s.bytes[s.pos + 1] == UInt8(ascii: "{"):
                if let close = s.closingBrace(from: s.pos + 2) {
                    let body = Array(s.bytes[(s.pos + 2)..<close])
                    s.line += body.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
                    out += expand(body)
                    s.pos = close + 1
                } else {
                    out.append(c)
                    s.pos += 1
                }
            case UInt8(ascii: "\\"):
                try escape(&s, into: &out)
            default:
                out.append(c)
                s.pos += 1
            }
        }
        throw Failure(at, "a string that is never closed with '\"'")
    }

    func escape(_ s: inout Source, into out: inout [UInt8]) throws {
        let at = GenimageConfig.Location(file: s.name, line: s.line)
        s.pos += 1
        guard s.pos < s.bytes.count else { return }
        let c = s.bytes[s.pos]
        let simple: [UInt8: UInt8] = [
            UInt8(ascii: "n"): 0x0A, UInt8(ascii: "r"): 0x0D, UInt8(ascii: "b"): 0x08, UInt8(ascii: "f"): 0x0C, UInt8(ascii: "a"): 0x07,
            UInt8(ascii: "e"): 0x1B, UInt8(ascii: "t"): 0x09, UInt8(ascii: "v"): 0x0B,
        ]
        if c == 0x0A {
            s.line += 1
            s.pos += 1
        } else if (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(c) {
            var v = 0
            var n = 0
            while n < 3, s.pos < s.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(s.bytes[s.pos]) {
                v = v * 8 + Int(s.bytes[s.pos] - UInt8(ascii: "0"))
                s.pos += 1
                n += 1
            }
            guard v <= 0xFF else { throw GenimageConfig.Failure(at, "invalid octal escape (\\\(String(v, radix: 8))): more than 0xff") }
            if s.pos < s.bytes.count, (UInt8(ascii: "8")...UInt8(ascii: "9")).contains(s.bytes[s.pos]) {
                throw GenimageConfig.Failure(at, "bad escape sequence: a digit 8 or 9 after an octal escape")
            }
            out.append(UInt8(v))
        } else if (UInt8(ascii: "8")...UInt8(ascii: "9")).contains(c) {
            throw GenimageConfig.Failure(at, "bad escape sequence '\\\(UnicodeScalar(c))'")
        } else if c == UInt8(ascii: "x"), s.pos + 1 < s.bytes.count, (s.bytes[s.pos + 1] < 0x80 && Character(UnicodeScalar(s.bytes[s.pos + 1])).isHexDigit) {
            s.pos += 1
            var v = 0
            var n = 0
            while n < 2, s.pos < s.bytes.count, s.bytes[s.pos] < 0x80, let d = Character(UnicodeScalar(s.bytes[s.pos])).hexDigitValue {
                v = v * 16 + d
                s.pos += 1
                n += 1
            }
            out.append(UInt8(v))
        } else {
            out.append(simple[c] ?? c)
            s.pos += 1
        }
    }

    /// A `'…'` string after its opening quote: only `\\` and `\'` are escapes.
    func singleQuoted(_ s: inout Source, at: GenimageConfig.Location) throws -> String {
        var out: [UInt8] = []
        while s.pos < s.bytes.count {
            let c = s.bytes[s.pos]
            if c == UInt8(ascii: "'") {
                s.pos += 1
                return String(decoding: out, as: UTF8.self)
            }
            if c == UInt8(ascii: "\\"), s.pos + 1 < s.bytes.count {
                let d = s.bytes[s.pos + 1]
                s.pos += 2
                if d == 0x0A {
                    s.line += 1
                } else if d == UInt8(ascii: "\\") || d == UInt8(ascii: "'") {
                    out.append(d)
                } else {
                    out += [c, d]
                }
                continue
            }
            if c == 0x0A { s.line += 1 }
            out.append(c)
            s.pos += 1
        }
        throw Failure(at, "a string that is never closed with \"'\"")
    }
}

/// libconfuse's grammar over ``GenimageSchema``: `option = value`, `list = { a, b }`, `+=`,
/// `section [title] { … }`, `include("file")`.
struct GenimageParser {
    typealias Failure = GenimageConfig.Failure
    typealias Section = GenimageConfig.Section
    var lexer: GenimageLexer
    var sections = 0

    mutating func parseFile() throws -> Section {
        var root = Section(kind: "the top level", title: nil, at: GenimageConfig.Location(file: lexer.rootName, line: 1))
        try parseBody(&root, GenimageSchema.top, closing: false)
        for image in root.sections("image") { try checkType(image) }
        return root
    }

    /// An image has exactly one type section (genimage: "no image type given", "multiple image types given").
    func checkType(_ image: Section) throws {
        let types = image.sections.filter { GenimageSchema.imageTypes[$0.kind] != nil }
        guard let first = types.first else {
            throw Failure(image.at, "\(image.label): no image type given (expected a section: \(GenimageSchema.imageTypes.keys.sorted().joined(separator: ", ")))")
        }
        if types.count > 1 {
            throw Failure(types[1].at, "\(image.label): a second image type (\(types[1].kind)), after \(first.kind) on line \(first.at.line): genimage takes one")
        }
    }

    mutating func expect(_ kind: GenimageToken.Kind, _ what: String, in s: Section) throws -> GenimageToken {
        let t = try lexer.next()
        guard t.kind == kind else { throw Failure(t.at, "\(s.label): expected \(what), found \(t.spelled)") }
        return t
    }

    mutating func parseBody(_ s: inout Section, _ schema: GenimageSchema, closing: Bool) throws {
        while true {
            let t = try lexer.next()
            switch t.kind {
            case .end:
                if closing { throw Failure(t.at, "\(s.label) (line \(s.at.line)): the file ends before its closing '}'") }
                return
            case .close:
                guard closing else { throw Failure(t.at, "a '}' that closes nothing") }
                return
            case .word:
                try parseEntry(t, into: &s, schema)
            default:
                throw Failure(t.at, "\(s.label): expected an option or a section, found \(t.spelled)")
            }
        }
    }

    mutating func parseEntry(_ t: GenimageToken, into s: inout Section, _ schema: GenimageSchema) throws {
        let name = t.text
        if let kind = schema.options[name] {
            if kind == .function {
                try include(t, in: s)
            } else {
                s.options.append(try option(t, kind, in: s))
            }
        } else if let sub = schema.sections[name] {
            sections += 1
            guard sections <= GenimageConfig.Limits.sections else { throw Failure(t.at, "more than \(GenimageConfig.Limits.sections) sections") }
            var title: String?
            if sub.titled { title = try expect(.word, "a name after '\(name)'", in: s).text }
            _ = try expect(.open, "'{' to open \(name)\(title.map { " '\($0)'" } ?? "")", in: s)
            var child = Section(kind: name, title: title, at: t.at)
            try parseBody(&child, sub.body, closing: true)
            s.sections.append(child)
        } else if schema.anyKey {
            s.options.append(try option(t, .string, in: s))
        } else {
            throw Failure(t.at, "\(s.label): unknown option '\(name)'; \(Spelling.hint(for: name, among: schema.names))")
        }
    }

    /// `name = value`, `name = { a, b }`, `name += …`, each value checked as its kind.
    mutating func option(_ t: GenimageToken, _ kind: GenimageSchema.Kind, in s: Section) throws -> GenimageConfig.Option {
        let op = try lexer.next()
        guard op.kind == .equals || op.kind == .append else { throw Failure(op.at, "\(s.label): expected '=' after '\(t.text)', found \(op.spelled)") }
        var values: [String] = []
        if kind == .list {
            if op.kind == .append { values = s.list(t.text) }
            let first = try lexer.next()
            if first.kind == .word {
                values.append(first.text)
            } else if first.kind == .open {
                var v = try lexer.next()
                while v.kind != .close {
                    guard v.kind == .word else { throw Failure(v.at, "\(s.label): \(t.text): expected a value or '}', found \(v.spelled)") }
                    values.append(v.text)
                    guard values.count <= GenimageConfig.Limits.listValues else { throw Failure(v.at, "\(t.text): more than \(GenimageConfig.Limits.listValues) values") }
                    let sep = try lexer.next()
                    if sep.kind == .close { break }
                    guard sep.kind == .comma else { throw Failure(sep.at, "\(s.label): \(t.text): expected ',' or '}', found \(sep.spelled)") }
                    v = try lexer.next()
                }
            } else {
                throw Failure(first.at, "\(s.label): \(t.text): expected a value or '{', found \(first.spelled)")
            }
        } else {
            guard op.kind == .equals else { throw Failure(op.at, "\(s.label): '+=' on '\(t.text)', which is not a list") }
            let v = try expect(.word, "a value for '\(t.text)'", in: s)
            try check(v.text, kind, option: t.text, at: v.at, in: s)
            values = [v.text]
        }
        return GenimageConfig.Option(name: t.text, values: values, at: t.at)
    }

    func check(_ value: String, _ kind: GenimageSchema.Kind, option: String, at: GenimageConfig.Location, in s: Section) throws {
        switch kind {
        case .integer:
            guard GenimageConfig.integer(value) != nil else { throw Failure(at, "\(s.label): \(option): expected an integer (131, 0x83), found '\(value)'") }
        case .bool:
            guard GenimageConfig.boolean(value) != nil else { throw Failure(at, "\(s.label): \(option): expected true or false (yes/no, on/off), found '\(value)'") }
        case .size, .imageSize:
            do {
                _ = try GenimageConfig.size(value, allowPercent: kind == .imageSize)
            } catch {
                throw Failure(at, "\(s.label): \(option) '\(value)': \(error.reason)")
            }
        default: break
        }
    }

    /// `include("file")`: the file's tokens are read here, at this level (as libconfuse does).
    mutating func include(_ t: GenimageToken, in s: Section) throws {
        _ = try expect(.leftParen, "'(' after include", in: s)
        let arg = try expect(.word, "a file name in include(…)", in: s)
        let close = try lexer.next()
        guard close.kind == .rightParen else { throw Failure(close.at, "include takes one file name: expected ')', found \(close.spelled)") }
        try lexer.push(file: lexer.resolveInclude(arg.text), at: arg.at)
    }
}
