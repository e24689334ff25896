/// A small JSON value with a deterministic, Foundation-free encoder (keys keep insertion order),
/// used by every `--json` output.
public indirect enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool { a.encoded() == b.encoded() }

    /// The encoded text; `indent` > 0 pretty-prints.
    public func encoded(indent: Int = 2) -> String {
        var out = ""
        write(into: &out, level: 0, indent: indent)
        return out
    }

    private func write(into out: inout String, level: Int, indent: Int) {
        let nl = indent > 0 ? "\n" : ""
        let pad = { (l: Int) in String(repeating: " ", count: indent * l) }
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .string(s): JSON.quote(s, into: &out)
        case let .array(items):
            if items.isEmpty { out += "[]"; return }
            out += "[" + nl
            for (i, item) in items.enumerated() {
                out += pad(level + 1)
                item.write(into: &out, level: level + 1, indent: indent)
                out += (i + 1 < items.count ? "," : "") + nl
            }
            out += pad(level) + "]"
        case let .object(members):
            if members.isEmpty { out += "{}"; return }
            out += "{" + nl
            for (i, (k, v)) in members.enumerated() {
                out += pad(level + 1)
                JSON.quote(k, into: &out)
                out += indent > 0 ? ": " : ":"
                v.write(into: &out, level: level + 1, indent: indent)
                out += (i + 1 < members.count ? "," : "") + nl
            }
            out += pad(level) + "}"
        }
    }

    private static func quote(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}

/// Bytes as a JSON string when they are valid UTF-8; otherwise `{"hex": "…"}` so nothing is lost.
public func jsonBytes(_ bytes: some Collection<UInt8>) -> JSON {
    if let s = String(validating: bytes, as: UTF8.self) { return .string(s) }
    return .object([("hex", .string(hexString(bytes)))])
}

public func hexString(_ bytes: some Collection<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0xF)])
    }
    return String(decoding: out, as: UTF8.self)
}
