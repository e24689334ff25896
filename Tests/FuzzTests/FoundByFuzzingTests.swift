import FlashsmithCore
import FlashsmithFuzz
import Testing

/// Fixes of findings whose input is too slow for Regressions/ (/work/fuzz-findings.md).
@Suite struct FoundByFuzzingTests {
    /// F3: dtc reports a duplicate property once per pair (150 MB for an 82 KB .its, and 11 s);
    /// a tool's standard error is kept to its first and last 32 KiB, not read whole.
    @Test func aToolsStandardErrorIsKeptSmall() throws {
        let out = try ExternalTool.run(unchecked: "/bin/sh", ["-c", "echo first >&2; head -c 100000000 /dev/zero | tr '\\\\0' x >&2; echo; echo last >&2; exit 3"])
        #expect(out.status == 3)
        #expect(out.stderr.count <= ExternalTool.maxDiagnostics + 8)
        let text = String(decoding: out.stderr, as: UTF8.self)
        #expect(text.hasPrefix("first\n") && text.hasSuffix("last\n"))
    }
}
