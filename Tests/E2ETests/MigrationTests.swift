import Foundation
import Testing
import TestSupport

extension E2E {
    /// Process migration between two amd64 guests booted from the same Flashsmith-built initramfs
    /// (base + criu-node skeletons, busybox, `--with criu`: Debian's criu 3.17.1 with its libraries
    /// and kernel modules, and `migrate`), joined by QEMU socket networking on 127.0.0.1; the
    /// guests' addresses exist only on that link. Guest A drives (`e2e.role=A`), guest B runs
    /// `migrate receive` from the criu-node skeleton (`flashsmith.migrate=receive`).
    ///
    /// 1. A counter moves A → B with two pre-dump rounds, into a PID namespace on B (B holds the
    ///    PIDs around it); it continues on B from where it stopped and is gone from A.
    /// 2. A process holding an open file and a pipe between its two children moves too.
    /// 3. B changes that file; the next such process is refused (the file is named) and still runs
    ///    on A; sent to an unreachable address it still runs on A.
    @Suite("migrate moves processes between two QEMU guests with CRIU")
    struct MigrationTests {
        static let guestScript = #"""
            #!/bin/sh
            # E2E migration, run by rcS as the last start script; the role comes from the kernel command line.
            [ "$1" = start ] || exit 0
            ROLE=none
            for a in $(cat /proc/cmdline); do case $a in e2e.role=*) ROLE=${a#e2e.role=} ;; esac; done
            [ $ROLE = none ] && exit 0
            A=192.168.77.1 B=192.168.77.2
            if [ $ROLE = A ]; then PEER=$B; else PEER=$A; fi
            n=0; until ping -c1 -W1 $PEER >/dev/null 2>&1; do n=$((n+1)); [ $n -gt 60 ] && { echo "E2E-NO-PEER $(ip -o addr | tr '\n' ' ')"; poweroff -f; }; sleep 0.5; done
            echo "E2E-$ROLE-UP peer after $n tries"
            pidof() { ps -o pid,args | awk -v m="$1" 'index($0, m) && !/awk/ { print $1; exit }'; }
            alive() { [ -e /proc/$1 ] && ! grep -q zombie /proc/$1/status; }
            if [ $ROLE = A ]; then
              n=0; until nc -w 1 $B 7070 </dev/null >/dev/null 2>&1; do n=$((n+1)); [ $n -gt 100 ] && break; sleep 0.2; done
              echo 3999 > /proc/sys/kernel/ns_last_pid
              ( setsid sh -c ': e2e-counter; i=0; while :; do echo $i >> /tmp/counter; i=$((i+1)); sleep 1; done' </dev/null >/dev/null 2>&1 & )
              sleep 3; P1=$(pidof e2e-counter)
              echo "E2E-A-P1 pid=$P1 last=$(tail -n1 /tmp/counter)"
              migrate send $P1 $B --pre-dump 2; echo "E2E-A-MIG1 rc=$?"
              alive $P1 && echo "E2E-A-P1-STILL-HERE" || echo "E2E-A-P1-GONE last=$(tail -n1 /tmp/counter)"
              ( setsid sh -c ': e2e-pipe; exec 3</usr/share/e2e/data.txt; i=0; while :; do echo $i; i=$((i+1)); sleep 1; done | while read -r v; do echo "$v" >> /tmp/p2; done' </dev/null >/dev/null 2>&1 & )
              sleep 3; P2=$(pidof e2e-pipe)
              echo "E2E-A-P2 pid=$P2 tree=$(cat /proc/$P2/task/*/children) fd3=$(readlink /proc/$P2/fd/3) last=$(tail -n1 /tmp/p2)"
              migrate send $P2 $B; echo "E2E-A-MIG2 rc=$?"
              alive $P2 && echo "E2E-A-P2-STILL-HERE" || echo "E2E-A-P2-GONE last=$(tail -n1 /tmp/p2)"
              sleep 4
              ( setsid sh -c ': e2e-third; exec 3</usr/share/e2e/data.txt; i=0; while :; do echo $i >> /tmp/p3; i=$((i+1)); sleep 1; done' </dev/null >/dev/null 2>&1 & )
              sleep 2; P3=$(pidof e2e-third)
              migrate send $P3 $B 2>&1 | sed 's/^/E2E-A-REFUSAL /'
              v1=$(tail -n1 /tmp/p3); sleep 2; v2=$(tail -n1 /tmp/p3)
              alive $P3 && echo "E2E-A-P3-RUNS-AFTER-REFUSAL $v1 $v2"
              migrate send $P3 192.168.77.9 2>&1 | sed 's/^/E2E-A-UNREACHABLE /'
              v1=$(tail -n1 /tmp/p3); sleep 2; v2=$(tail -n1 /tmp/p3)
              alive $P3 && echo "E2E-A-P3-RUNS-AFTER-UNREACHABLE $v1 $v2"
              echo done | nc -w 2 $B 7071
              echo "E2E-A-DONE"
              sleep 2
            else
              # Hold the PIDs around the ones A's counter will get: the restore must take a PID namespace.
              echo 3990 > /proc/sys/kernel/ns_last_pid
              i=0; while [ $i -lt 40 ]; do sleep 1000 & i=$((i+1)); done
              echo "E2E-B-HOLDING $(pidof 'sleep 1000')"
              nc -l -p 7071 > /tmp/done &
              n=0; until [ -s /tmp/counter ] || [ $n -gt 600 ]; do sleep 0.1; n=$((n+1)); done
              sleep 3; echo "E2E-B-COUNTER $(tr '\n' ' ' < /tmp/counter)"
              n=0; until [ -s /tmp/p2 ] || [ $n -gt 600 ]; do sleep 0.1; n=$((n+1)); done
              sleep 2; echo "E2E-B-P2 $(tr '\n' ' ' < /tmp/p2)"
              echo "E2E-B-PROCS $(ps -o pid,args | grep -c '[e]2e-')"
              echo "changed on B" >> /usr/share/e2e/data.txt; echo "E2E-B-MODIFIED"
              n=0; until [ -s /tmp/done ] || [ $n -gt 900 ]; do sleep 0.1; n=$((n+1)); done
              echo "E2E-B-FINAL $(tail -n1 /tmp/counter) $(tail -n1 /tmp/p2) p3=$([ -e /tmp/p3 ] && echo present || echo absent)"
            fi
            poweroff -f
            """#

        func available() -> Bool {
            toolsAvailable("qemu-system-x86_64", "apt-get", "dpkg", "busybox", "criu") && filesAvailable(flashsmithPath, "/bin/busybox", "/usr/sbin/criu")
        }

        @Test("counter, open file + pipe, refusal and unreachable destination")
        func migrateBetweenGuests() throws {
            guard available() else { return }
            let kernel = try DebianArtifacts.amd64Kernel()
            let dir = try TempDir("flashsmith-e2e-migrate")
            try FileManager.default.createDirectory(atPath: dir.file("overlay/etc/init.d"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir.file("overlay/usr/share/e2e"), withIntermediateDirectories: true)
            _ = try dir.write("overlay/etc/init.d/S90e2e", Self.guestScript)
            chmod(dir.file("overlay/etc/init.d/S90e2e"), 0o755)
            _ = try dir.write("overlay/usr/share/e2e/data.txt", "the same on both guests\n")
            // The board's network driver, loaded at boot by the criu-node skeleton's S05modules.
            try FileManager.default.createDirectory(atPath: dir.file("overlay/etc/modules.d"), withIntermediateDirectories: true)
            _ = try dir.write("overlay/etc/modules.d/board", "virtio_pci\nvirtio_net\n")
            let initrd = dir.file("node.cpio.gz")
            let t0 = ContinuousClock.now
            let b = try flashsmith(
                "rootfs", "build", "--skeleton", "base", "--skeleton", "criu-node", "--overlay", dir.file("overlay"), "--busybox", "/bin/busybox",
                "--with", "criu", "--modules", kernel.modulesDirectory, "--module", "virtio_net", "--module", "virtio_pci", "-o", initrd
            )
            try #require(b.status == 0, "rootfs build: \(b.err)")
            let imageSize = (try FileManager.default.attributesOfItem(atPath: initrd)[.size] as? Int) ?? 0
            print("E2E timing: migration image built in \(ContinuousClock.now - t0), \(imageSize) bytes")

            let port = 20000 + Int(getpid() % 20000)
            func args(_ role: String, _ ip: String, _ mac: String, _ net: String, extra: String) -> [String] {
                [
                    "-accel", "tcg", "-cpu", "max", "-m", "512", "-smp", "1", "-nographic", "-no-reboot",
                    "-netdev", "socket,id=n0,\(net)=127.0.0.1:\(port)", "-device", "virtio-net-pci,netdev=n0,mac=\(mac)",
                    "-kernel", kernel.vmlinuz, "-initrd", initrd,
                    "-append", "console=ttyS0 panic=-1 quiet e2e.role=\(role) flashsmith.ip=\(ip)/24 \(extra)",
                ]
            }
            // A listens, B connects: A starts first, in its own thread.
            let done = DispatchSemaphore(value: 0)
            let box = ResultBox()
            let argsA = args("A", "192.168.77.1", "52:54:00:77:00:01", "listen", extra: "")
            let logA = dir.file("a.log")
            let thread = Thread {
                box.set(Result { try QEMU.run("qemu-system-x86_64", argsA, log: logA, timeout: .seconds(240), markers: ["E2E-A-UP", "E2E-A-MIG1", "E2E-A-DONE"], killOn: ["Kernel panic"]) })
                done.signal()
            }
            thread.start()
            Thread.sleep(forTimeInterval: 1)
            let rb = try QEMU.run(
                "qemu-system-x86_64", args("B", "192.168.77.2", "52:54:00:77:00:02", "connect", extra: "flashsmith.migrate=receive"), log: dir.file("b.log"),
                timeout: .seconds(240), markers: ["E2E-B-UP", "E2E-B-COUNTER", "E2E-B-FINAL"], killOn: ["Kernel panic"]
            )
            done.wait()
            let ra = try box.get()
            print("E2E timing: migration guests: A \(ra.summary) \(ra.markerTimes); B \(rb.summary) \(rb.markerTimes)")
            func lines(_ r: QEMUResult) -> [String] { r.lines }
            func line(_ r: QEMUResult, _ prefix: String) -> String? { r.line(prefix) }
            let ctx = "A:\n\(ra.tail(50))\nB:\n\(rb.tail(40))"
            for l in lines(ra) where l.contains("migrate:") { print("E2E migrate (A): \(l)") }
            for l in lines(rb) where l.contains("migrate:") { print("E2E migrate (B): \(l)") }

            // 1. The counter: moved, into a PID namespace on B, continuing without reset or repeat; gone from A.
            #expect(line(ra, "E2E-A-MIG1 rc=") == "0", "\(ctx)")
            let lastOnA = Int((line(ra, "E2E-A-P1-GONE last=") ?? "").trimmingCharacters(in: .whitespaces))
            #expect(lastOnA != nil, "the counter should be gone from A: \(ctx)")
            let onB = (line(rb, "E2E-B-COUNTER ") ?? "").split(separator: " ").compactMap { Int($0) }
            if let lastOnA, let first = onB.first {
                #expect(first == lastOnA + 1, "B continues from \(first), A stopped at \(lastOnA)")
                #expect(onB == Array(first..<(first + onB.count)) && onB.count >= 2, "B counts on without repeats: \(onB)")
            } else {
                Issue.record("no counter values on B: \(ctx)")
            }
            #expect(ra.log.contains("pre-dump: 2 round(s), pages per round:"), "\(ctx)")
            #expect(rb.log.contains("PID namespace: yes"), "B holds the PIDs: the restore takes a PID namespace\n\(ctx)")
            // 2. The process with an open file and a pipe.
            #expect(line(ra, "E2E-A-MIG2 rc=") == "0", "\(ctx)")
            #expect(line(ra, "E2E-A-P2 ")?.contains("fd3=/usr/share/e2e/data.txt") == true, "\(ctx)")
            let p2Last = Int((line(ra, "E2E-A-P2-GONE last=") ?? "").trimmingCharacters(in: .whitespaces))
            let p2B = (line(rb, "E2E-B-P2 ") ?? "").split(separator: " ").compactMap { Int($0) }
            if let p2Last, let first = p2B.first {
                #expect(first == p2Last + 1 && p2B == Array(first..<(first + p2B.count)), "pipe process on B: \(p2B), A stopped at \(p2Last)")
            } else {
                Issue.record("the pipe process did not continue on B: \(ctx)")
            }
            // 3. Refused (the changed file is named), and unreachable: the process keeps running on A.
            #expect(rb.log.contains("E2E-B-MODIFIED"))
            let refusal = lines(ra).filter { $0.contains("E2E-A-REFUSAL") }.joined(separator: "\n")
            #expect(refusal.contains("refused by 192.168.77.2") && refusal.contains("differs /usr/share/e2e/data.txt"), "\(refusal)\n\(ctx)")
            #expect(ra.log.contains("E2E-A-P3-RUNS-AFTER-REFUSAL"), "\(ctx)")
            #expect(line(ra, "E2E-A-UNREACHABLE ")?.contains("cannot reach 192.168.77.9:7070") == true, "\(ctx)")
            #expect(ra.log.contains("E2E-A-P3-RUNS-AFTER-UNREACHABLE"), "\(ctx)")
            for r in [("RUNS-AFTER-REFUSAL", ra), ("RUNS-AFTER-UNREACHABLE", ra)] {
                let v = (line(r.1, "E2E-A-P3-\(r.0) ") ?? "").split(separator: " ").compactMap { Int($0) }
                #expect(v.count == 2 && v[1] > v[0], "P3 keeps counting on A (\(r.0)): \(v)")
            }
            #expect(line(rb, "E2E-B-FINAL ")?.hasSuffix("p3=absent") == true, "\(ctx)")
            #expect(ra.exitStatus == 0 && rb.exitStatus == 0, "both guests power off by themselves: \(ctx)")
        }

        /// arm64: criu and its libraries bundled from arm64 packages (apt's closure of `criu`,
        /// unpacked by `rootfs sysroot`) with Debian's arm64 kernel modules; in the guest, `criu check`
        /// passes and `migrate` moves a counter to the same device (its PIDs are taken by the stopped
        /// original: a PID namespace); pre-dump is refused for want of soft-dirty, as on real arm64.
        @Test("arm64: criu from arm64 packages; a counter migrates to the same device")
        func arm64CriuFromPackages() throws {
            guard toolsAvailable("qemu-system-aarch64", "apt-get", "dpkg"), filesAvailable(flashsmithPath) else { return }
            let kernel = try DebianArtifacts.arm64Kernel()
            let debs = try DebianArtifacts.debsWithDependencies(["criu", "busybox-static"], architecture: "arm64")
            let dir = try TempDir("flashsmith-e2e-migrate-arm64")
            let s = try flashsmith(["rootfs", "sysroot"] + debs + ["-o", dir.file("sysroot")])
            try #require(s.status == 0, "rootfs sysroot: \(s.err)")
            try FileManager.default.createDirectory(atPath: dir.file("overlay/etc/init.d"), withIntermediateDirectories: true)
            _ = try dir.write(
                "overlay/etc/init.d/S90e2e",
                #"""
                #!/bin/sh
                [ "$1" = start ] || exit 0
                echo "E2E-ARM64-UP $(uname -m)"
                criu check >/tmp/check 2>&1; echo "E2E-CHECK rc=$? $(tail -n1 /tmp/check)"
                n=0; until nc -w 1 127.0.0.1 7070 </dev/null >/dev/null 2>&1; do n=$((n+1)); [ $n -gt 100 ] && break; sleep 0.2; done
                ( setsid sh -c ': e2e-counter; i=0; while :; do echo $i >> /tmp/counter; i=$((i+1)); sleep 1; done' </dev/null >/dev/null 2>&1 & )
                sleep 3; P=$(ps -o pid,args | awk '/[e]2e-counter/ { print $1; exit }')
                echo "E2E-BEFORE pid=$P last=$(tail -n1 /tmp/counter)"
                migrate send $P 127.0.0.1 --pre-dump 1 2>&1 | sed 's/^/E2E-MIGRATE /'
                sleep 3
                echo "E2E-AFTER old=$( [ -e /proc/$P ] && grep -q zombie /proc/$P/status || [ ! -e /proc/$P ] && echo gone || echo here) values=$(tr '\n' ' ' < /tmp/counter)"
                poweroff -f
                """#
            )
            chmod(dir.file("overlay/etc/init.d/S90e2e"), 0o755)
            let initrd = dir.file("node.cpio.gz")
            let b = try flashsmith(
                "rootfs", "build", "--skeleton", "base", "--skeleton", "criu-node", "--overlay", dir.file("overlay"), "--busybox", dir.file("sysroot/bin/busybox"),
                "--with", "criu", "--sysroot", dir.file("sysroot"), "--modules", kernel.modulesDirectory, "-o", initrd
            )
            try #require(b.status == 0, "rootfs build: \(b.err)")
            let r = try QEMU.run(
                "qemu-system-aarch64",
                [
                    "-M", "virt", "-cpu", "cortex-a57", "-m", "1024", "-accel", "tcg", "-nographic", "-no-reboot", "-nic", "none", "-kernel", kernel.vmlinuz,
                    "-initrd", initrd, "-append", "console=ttyAMA0 panic=-1 quiet flashsmith.migrate=receive",
                ],
                log: dir.file("qemu.log"), timeout: .seconds(180), markers: ["E2E-ARM64-UP", "E2E-AFTER"], killOn: ["Kernel panic"]
            )
            print("E2E timing: arm64 migration guest \(r.summary) \(r.markerTimes)")
            let lines = r.lines
            for l in lines where l.contains("E2E-MIGRATE") { print("E2E migrate (arm64): \(l)") }
            func line(_ p: String) -> String? { r.line(p) }
            let ctx = r.tail(60)
            #expect(line("E2E-ARM64-UP ") == "aarch64", "\(ctx)")
            #expect(line("E2E-CHECK rc=")?.hasPrefix("0 Looks good.") == true, "criu check on arm64: \(ctx)")
            let migrate = lines.filter { $0.contains("E2E-MIGRATE") }.joined(separator: "\n")
            #expect(migrate.contains("pre-dump: not supported by this kernel"), "\(migrate)")
            #expect(migrate.contains("moved to 127.0.0.1") && migrate.contains("PID namespace there: yes"), "\(migrate)\n\(ctx)")
            let before = Int((line("E2E-BEFORE ") ?? "").split(separator: "=").last.map(String.init) ?? "")
            let after = (line("E2E-AFTER ") ?? "")
            let values = (after.components(separatedBy: "values=").last ?? "").split(separator: " ").compactMap { Int($0) }
            #expect(after.hasPrefix("old=gone"), "\(after)")
            if let before {
                #expect(values.count >= before + 4 && values == Array(0..<values.count), "one counter, no reset, no repeat: \(values)")
            }
            #expect(r.exitStatus == 0, "\(ctx)")
        }
    }
}

/// A result handed from the thread that runs guest A.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<QEMUResult, any Error>?
    func set(_ r: Result<QEMUResult, any Error>) { lock.withLock { result = r } }
    func get() throws -> QEMUResult {
        guard let r = lock.withLock({ result }) else { throw QEMUError("guest A returned nothing") }
        return try r.get()
    }
}
