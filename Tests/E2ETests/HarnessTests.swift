import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

extension E2E {
    /// The QEMU runner's ways out, on a plain child (no emulator needed): each leaves no process behind.
    @Suite("QEMU harness: the child is gone on every way out")
    struct HarnessTests {
        /// True when `pid` no longer exists (reaped, not even a zombie).
        func gone(_ pid: Int32) -> Bool { kill(pid, 0) != 0 && errno == ESRCH }

        @Test("timeout kills the child")
        func timeoutKills() throws {
            let dir = try TempDir("flashsmith-e2e-harness")
            let r = try QEMU.run("/bin/sh", ["-c", "echo started; exec sleep 60"], log: dir.file("log"), timeout: .seconds(1), markers: ["started"])
            #expect(r.timedOut)
            #expect(r.exitStatus == nil)
            // SIGTERM ends it at once: the child does not inherit the test thread's blocked signals.
            #expect(r.terminationSignal == SIGTERM, "\(r.summary)")
            #expect(r.markerTimes["started"] != nil)
            #expect(r.seconds < 10, "\(r.summary)")
            #expect(gone(r.pid), "child \(r.pid) still exists")
        }

        @Test("a kill-on marker ends the run early and kills the child")
        func markerKills() throws {
            let dir = try TempDir("flashsmith-e2e-harness")
            let r = try QEMU.run("/bin/sh", ["-c", "echo one; sleep 0.2; echo READY-42; exec sleep 60"], log: dir.file("log"), timeout: .seconds(30), killOn: ["READY-42"])
            #expect(r.killedOn == "READY-42")
            #expect(r.terminationSignal == SIGTERM, "\(r.summary)")
            #expect(!r.timedOut)
            #expect(r.log.contains("one\nREADY-42"))
            #expect(r.seconds < 10, "\(r.summary)")
            #expect(gone(r.pid), "child \(r.pid) still exists")
        }

        @Test("a child that exits by itself reports its status and full output")
        func exitStatus() throws {
            let dir = try TempDir("flashsmith-e2e-harness")
            let r = try QEMU.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"], log: dir.file("log"), timeout: .seconds(30))
            #expect(r.exitStatus == 3)
            #expect(r.killedOn == nil && !r.timedOut)
            #expect(r.log.contains("out") && r.log.contains("err"))
            #expect(gone(r.pid))
        }
    }
}
