import FlashsmithCore

/// `ubinize.ini` as ubinize reads it (iniparser: `[section]`, `key = value`, keys and section names
/// case-insensitive, values optionally quoted, `;`/`#` comments; each section with `mode=ubi` is a
/// volume: vol_id, vol_name, vol_type static|dynamic (default dynamic), vol_size (bytes, KiB, MiB,
/// GiB; default the image's size), image (relative to the current folder, as ubinize), vol_alignment
/// (default 1), vol_flags=autoresize). Errors name the file, the line and the key.
public enum UbinizeConfig {
    public struct Failure: FlashsmithError, Equatable {
        public var message: String
        public var category: ErrorCategory { .data }
        public var description: String { message }
        public init(message: String) { self.message = message }
    }

    public struct Section: Sendable {
        public var name: String
        public var line: Int
        public var values: [String: (value: String, line: Int)]
    }

    public static func sections(_ text: String, source: String) throws -> [Section] {
        var out: [Section] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let n = i + 1
            let line = raw.trimmingSpaces2()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw Failure(message: "\(source):\(n): expected '[section]', found '\(line)'") }
                out.append(Section(name: String(line.dropFirst().dropLast()).trimmingSpaces2().lowercased(), line: n, values: [:]))
                continue
            }
            guard let eq = line.firstIndex(of: "=") else { throw Failure(message: "\(source):\(n): expected 'key = value', found '\(line)'") }
            guard !out.isEmpty else { throw Failure(message: "\(source):\(n): a key before any [section]") }
            let key = String(line[..<eq]).trimmingSpaces2().lowercased()
            var value = String(line[line.index(after: eq)...]).trimmingSpaces2()
            if let q = value.first, q == "\"" || q == "'", let end = value.dropFirst().firstIndex(of: q) {
                value = String(value[value.index(after: value.startIndex)..<end])
            } else if let c = value.firstIndex(where: { $0 == ";" || $0 == "#" }) {
                value = String(value[..<c]).trimmingSpaces2()
            }
            out[out.count - 1].values[key] = (value, n)
        }
        return out
    }

    /// ubiutils_get_bytes: a C integer (0x…, leading-0 octal, decimal) and KiB, MiB or GiB.
    public static func bytes(_ text: String) -> Int? {
        var digits = text.trimmingSpaces2()
        var multiplier = 1
        for (suffix, m) in [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)] where digits.hasSuffix(suffix) {
            multiplier = m
            digits = String(digits.dropLast(suffix.count)).trimmingSpaces2()
        }
        let number: Substring
        let radix: Int
        if digits.lowercased().hasPrefix("0x") {
            (number, radix) = (digits.dropFirst(2), 16)
        } else if digits.hasPrefix("0") && digits.count > 1 {
            (number, radix) = (digits.dropFirst(), 8)
        } else {
            (number, radix) = (Substring(digits), 10)
        }
        // Digits only (Int(_:radix:) would take a sign), and a product that fits.
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isHexDigit }), let v = Int(number, radix: radix), v > 0 else { return nil }
        let (product, overflow) = v.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }

    public static func volumes(_ path: String) throws -> [UBIVolume] {
        let text = String(decoding: try FileIO.readAll(path), as: UTF8.self)
        let all = try sections(text, source: path)
        guard !all.isEmpty else { throw Failure(message: "\(path): expected at least one [section], found none") }
        var out: [UBIVolume] = []
        for s in all {
            func fail(_ key: String, _ message: String) -> Failure {
                Failure(message: "\(path):\(s.values[key]?.line ?? s.line): [\(s.name)] \(key): \(message)")
            }
            guard let mode = s.values["mode"]?.value else { throw fail("mode", "the mode key is mandatory (mode=ubi for a UBI volume)") }
            guard mode == "ubi" else { continue }
            var kind = UBIVolume.Kind.dynamic
            if let t = s.values["vol_type"]?.value {
                guard let k = UBIVolume.Kind(rawValue: t) else { throw fail("vol_type", "expected static or dynamic, found '\(t)'") }
                kind = k
            }
            let image = s.values["image"]?.value
            var imageSize: Int?
            if let image {
                guard FileIO.kind(of: image) != .missing else { throw fail("image", "cannot find '\(image)'") }
                imageSize = try FileIO.size(of: image)
                guard imageSize ?? 0 > 0 else { throw fail("image", "'\(image)' is empty") }
            } else if kind == .static {
                throw fail("image", "a static volume needs an image")
            }
            guard let idText = s.values["vol_id"]?.value else { throw fail("vol_id", "missing") }
            guard let id = Int(idText), id >= 0 else { throw fail("vol_id", "expected a volume number, found '\(idText)'") }
            var size: Int
            if let st = s.values["vol_size"]?.value {
                guard let b = bytes(st) else { throw fail("vol_size", "expected a size (bytes, KiB, MiB, GiB) up to 2^63-1, found '\(st)'") }
                size = b
                if let imageSize, imageSize > size { throw fail("vol_size", "the image is \(imageSize) bytes, larger than the volume's \(size)") }
            } else {
                guard let imageSize else { throw fail("vol_size", "neither image= nor vol_size= given") }
                size = imageSize
            }
            guard let name = s.values["vol_name"]?.value else { throw fail("vol_name", "missing") }
            var alignment = 1
            if let a = s.values["vol_alignment"]?.value {
                guard let v = Int(a), v >= 1 else { throw fail("vol_alignment", "expected a positive number, found '\(a)'") }
                alignment = v
            }
            var autoresize = false
            if let f = s.values["vol_flags"]?.value {
                guard f == "autoresize" else { throw fail("vol_flags", "expected autoresize, found '\(f)'") }
                autoresize = true
            }
            out.append(UBIVolume(id: id, name: name, kind: kind, size: size, image: image, alignment: alignment, autoresize: autoresize, source: "\(path):\(s.line): [\(s.name)]"))
        }
        return out
    }
}

extension StringProtocol {
    func trimmingSpaces2() -> String {
        let ws: Set<Character> = [" ", "\t", "\r"]
        let s = self.drop { ws.contains($0) }
        var end = s.endIndex
        while end > s.startIndex, ws.contains(s[s.index(before: end)]) { end = s.index(before: end) }
        return String(s[..<end])
    }
}
