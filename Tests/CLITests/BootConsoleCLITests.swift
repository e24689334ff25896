import Foundation
import Testing
import TestSupport

/// `flashsmith boot` against a stand-in QEMU (a bash script named by qemu.args) that prints a
/// console, says what reached its standard input and when: piped input is held until
/// `--send-after` (or `--until`), `--fail-on` stops at once with 65 naming the text, a timeout
/// exits 124, and the stand-in is gone on every way out.
@Suite struct BootConsoleCLITests {
    /// The stand-in: "EARLY <line>" if input arrives before its marker, then the marker, then
    /// "got: <line>" for each line; `poweroff` ends it with 0. `PANIC` in its name: it prints a panic.
    /// It ends in `exec sleep` (no orphan left holding the test's output when it is stopped).
    static let script = """
        #!/bin/bash
        echo "U-Boot 2023.01 (stand-in)"
        if IFS= read -r -t 1 line; then echo "EARLY $line"; fi
        case "$0" in *PANIC*) echo "Kernel panic - not syncing: stand-in"; exec sleep 30;; esac
        echo "stand-in: rootfs up"
        while IFS= read -r line; do
            echo "got: $line"
            [ "$line" = poweroff ] && exit 0
        done
        exec sleep 30
        """

    /// An output folder whose qemu.args runs the stand-in (`name` unique to the test, for pgrep).
    static func out(_ dir: TempDir, name: String) throws -> String {
        let exe = try dir.write(name, script)
        chmod(exe, 0o755)
        try FileManager.default.createDirectory(atPath: dir.file("out"), withIntermediateDirectories: true)
        _ = try dir.write("out/qemu.args", "\(exe)\n-nographic\n")
        return dir.file("out")
    }

    static func gone(_ name: String) throws -> Bool {
        try run("pgrep", ["-f", name]).out.isEmpty
    }

    @Test func pipedInputIsHeldUntilTheSendPoint() throws {
        guard filesAvailable(flashsmithPath), toolsAvailable("bash", "pgrep") else { return }
        let dir = try TempDir()
        let name = "fs-standin-held-\(UUID().uuidString.prefix(8))"
        let out = try Self.out(dir, name: name)
        let r = try flashsmith(["boot", out, "--send-after", "stand-in: rootfs up", "--until", "got: second", "--timeout", "20"], stdin: Array("first\nsecond\n".utf8))
        #expect(r.status == 0, "\(r.err)")
        #expect(!r.out.contains("EARLY"), "input reached the stand-in before its marker: \(r.out)")
        #expect(r.out.contains("stand-in: rootfs up\ngot: first\ngot: second\n"), "\(r.out)")
        #expect(try Self.gone(name))
    }

    /// Without --send-after the input goes at the --until text, and the run lasts until QEMU exits.
    @Test func withoutSendAfterTheUntilTextSendsTheInput() throws {
        guard filesAvailable(flashsmithPath), toolsAvailable("bash", "pgrep") else { return }
        let dir = try TempDir()
        let out = try Self.out(dir, name: "fs-standin-until-\(UUID().uuidString.prefix(8))")
        let r = try flashsmith(["boot", out, "--until", "stand-in: rootfs up", "--timeout", "20"], stdin: Array("echo hi\npoweroff\n".utf8))
        #expect(r.status == 0, "\(r.err)")
        #expect(!r.out.contains("EARLY"), "\(r.out)")
        #expect(r.out.contains("got: echo hi\ngot: poweroff\n"), "\(r.out)")
        // The same without input: --until stops it as before.
        let q = try flashsmith(["boot", out, "--until", "stand-in: rootfs up", "--timeout", "20"])
        #expect(q.status == 0 && !q.out.contains("got:"), "\(q.out)\(q.err)")
    }

    @Test func inputWithNothingToWaitForIsRefused() throws {
        guard filesAvailable(flashsmithPath), toolsAvailable("bash", "pgrep") else { return }
        let dir = try TempDir()
        let name = "fs-standin-nowait-\(UUID().uuidString.prefix(8))"
        let out = try Self.out(dir, name: name)
        let r = try flashsmith(["boot", out, "--timeout", "20"], stdin: Array("x\n".utf8))
        #expect(r.status == 64, "\(r.err)")
        #expect(r.err.contains("input is piped, and neither --send-after TEXT nor --until TEXT says when the board is ready for it"), "\(r.err)")
        #expect(!r.out.contains("EARLY"), "\(r.out)")
        #expect(try Self.gone(name))
    }

    @Test func failOnStopsAtOnce() throws {
        guard filesAvailable(flashsmithPath), toolsAvailable("bash", "pgrep") else { return }
        let dir = try TempDir()
        let name = "fs-standin-PANIC-\(UUID().uuidString.prefix(8))"
        let out = try Self.out(dir, name: name)
        let start = Date()
        let r = try flashsmith("boot", out, "--until", "stand-in: rootfs up", "--fail-on", "BOOT_FAILED", "--fail-on", "Kernel panic", "--timeout", "25")
        #expect(r.status == 65, "\(r.err)")
        #expect(r.err.contains("'Kernel panic' appeared on the console (--fail-on) after "), "\(r.err)")
        #expect(Date().timeIntervalSince(start) < 15, "stopped at once, not at the stand-in's end or the timeout")
        #expect(try Self.gone(name))
    }

    @Test func aTimeoutHasItsOwnExitCode() throws {
        guard filesAvailable(flashsmithPath), toolsAvailable("bash", "pgrep") else { return }
        let dir = try TempDir()
        let name = "fs-standin-timeout-\(UUID().uuidString.prefix(8))"
        let out = try Self.out(dir, name: name)
        let r = try flashsmith("boot", out, "--until", "NEVER-PRINTED", "--timeout", "2")
        #expect(r.status == 124, "\(r.err)")
        #expect(r.err.contains("no 'NEVER-PRINTED' within 2 s; QEMU stopped"), "\(r.err)")
        let s = try flashsmith(["boot", out, "--send-after", "NEVER-PRINTED", "--timeout", "2"], stdin: Array("x\n".utf8))
        #expect(s.status == 124 && s.err.contains("no 'NEVER-PRINTED' (--send-after) within 2 s"), "\(s.err)")
        #expect(!s.out.contains("got: x") && !s.out.contains("EARLY"), "\(s.out)")
        #expect(try Self.gone(name))
    }

    @Test(arguments: [["--until", ""], ["--fail-on", ""], ["--send-after", ""]])
    func emptyTextsAreRefused(args: [String]) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let r = try flashsmith(["boot", "/nonexistent"] + args)
        #expect(r.status == 64 && r.err.contains("expected a text to watch for, found an empty one"), "\(r.err)")
    }
}
