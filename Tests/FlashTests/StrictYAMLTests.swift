import FlashsmithCore
import Testing
import YAML

/// The YAML reader every spec goes through: nesting is capped (a hostile file neither overflows the
/// stack nor keeps libyaml busy), duplicate keys and unknown keys are one-line errors naming the
/// file, the line and the key, with the nearest valid key when there is one.
@Suite struct StrictYAMLTests {
    func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test(arguments: [
        // 50,000 nested levels (100 KB): freeing the node tree overflowed the stack (SIGSEGV).
        (String(repeating: "[", count: 50_000) + String(repeating: "]", count: 50_000), "s.yaml:1: expected at most 64 levels"),
        (String(repeating: "- ", count: 50_000) + "x\n", "s.yaml:1: expected at most 64 levels"),
        // 150,000 unclosed '[' took 24 s inside libyaml: parsing stops at level 65.
        (String(repeating: "[", count: 150_000), "s.yaml:1: expected at most 64 levels"),
        (String(repeating: "{a: ", count: 100_000), "s.yaml:1: expected at most 64 levels"),
        // Aliases count as expanded: 40 levels named twice is 80.
        ("a: &x " + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "\nb: " + String(repeating: "[", count: 30) + "*x" + String(repeating: "]", count: 30) + "\n",
         "s.yaml:2: expected at most 64 levels"),
    ])
    func deepNestingIsRefusedQuickly(text: String, expected: String) {
        let clock = ContinuousClock()
        var m = ""
        let took = clock.measure { m = message { _ = try YAML.parse(text, source: "s.yaml") } }
        #expect(m.hasPrefix(expected), "\(m.prefix(200))")
        #expect(took < .seconds(1), "\(took)")
    }

    @Test func sixtyFourLevelsAreFine() throws {
        let text = String(repeating: "[", count: 64) + "1" + String(repeating: "]", count: 64)
        var n = try #require(try YAML.parse(text, source: "s.yaml"))
        for _ in 0..<64 { n = try #require(n.sequence?.first) }
        #expect(n.string == "1")
    }

    @Test func duplicateKeysNameFileLineAndKey() {
        #expect(message { _ = try YAML.parse("name: a\nflash:\n  page: 2KiB\n  page: 4KiB\n", source: "b.yaml") } == "b.yaml:4: duplicate key 'page' (first on line 3)")
    }

    @Test(arguments: [
        ("consle", ["name", "console", "bootargs"], "console"),
        ("read-onyl", ["name", "size", "read-only"], "read-only"),
        ("bad-block-per-1024", ["page", "bad-blocks-per-1024", "bad-blocks"], "bad-blocks-per-1024"),
        ("redundnat", ["env", "redundant", "size"], "redundant"),
        ("kernl", ["kernel", "rootfs"], "kernel"),
        ("lod", ["load", "entry", "os"], "load"),
        ("Read_Only", ["read-only"], "read-only"),
    ])
    func nearestKey(typo: String, keys: [String], expected: String) {
        #expect(Spelling.nearest(to: typo, among: keys) == expected)
    }

    @Test func farKeysAreNotSuggested() {
        #expect(Spelling.nearest(to: "netdev", among: ["system", "machine", "cpu", "memory", "firmware", "pflash"]) == nil)
        #expect(Spelling.nearest(to: "foo", among: ["os"]) == nil)
        #expect(Spelling.distance("onyl", "only") == 1)
        #expect(Spelling.distance("", "abc") == 3)
        #expect(Spelling.distance("kitten", "sitting") == 3)
    }

    @Test(arguments: [
        ("name: a\nconsle: ttyS0\n", "b.yaml:2: unknown key 'consle' in the board; did you mean 'console'?"),
        ("name: a\nnetdev: user\n", "b.yaml:2: unknown key 'netdev' in the board; expected one of: name, console"),
        ("[1, 2]\n", "b.yaml:1: the board: expected a mapping (name, console), found a list"),
    ])
    func strictMappingNamesTheKey(text: String, expected: String) throws {
        let root = try #require(try YAML.parse(text, source: "b.yaml"))
        #expect(message { try root.strictMapping(["name", "console"], in: "the board", source: "b.yaml") } == expected)
    }

    @Test func numberedNodesByPrefix() throws {
        let root = try #require(try YAML.parse("signature-1: {}\nsignatur-2: {}\n", source: "f.yaml"))
        #expect(message { try root.strictMapping(["hash"], prefixes: ["signature-"], in: "images/k", source: "f.yaml") }
            == "f.yaml:2: unknown key 'signatur-2' in images/k; did you mean 'signature-1'?")
    }

    @Test(arguments: [("true", true), ("yes", true), ("On", true), ("false", false), ("no", false)])
    func booleans(text: String, value: Bool) throws {
        let n = try #require(try YAML.parse("k: \(text)\n", source: "f.yaml")?["k"])
        #expect(try n.bool("k", source: "f.yaml") == value)
    }

    @Test func aQuotedOrOtherBooleanIsRefused() throws {
        for t in ["\"true\"", "1", "maybe"] {
            let n = try #require(try YAML.parse("k: \(t)\n", source: "f.yaml")?["k"])
            #expect(message { _ = try n.bool("read-only", source: "f.yaml") }.hasPrefix("f.yaml:1: read-only: expected true or false, found"))
        }
    }
}
