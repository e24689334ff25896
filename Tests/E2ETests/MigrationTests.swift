import Foundation
import Testing
import TestSupport

extension E2E {
    /// Process migration between two amd64 guests booted from the same Flashsmith-built initramfs,
    /// built by the command docs/migration.md gives, as written there (base + criu-node skeletons,
    /// busybox, `--with criu`: Debian's criu 3.17.1 with its libraries and kernel modules, and
    /// `migrate`; virtio_pci and virtio_net, loaded at boot by S05modules' coldplug), plus an overlay
    /// holding only the test's start script. The guests are joined by QEMU socket networking on
    /// 127.0.0.1; their addresses exist only on that link. Guest A drives (`e2e.role=A`), guest B runs
    /// `migrate receive` from the criu-node skeleton (`flashsmith.migrate=receive`).
    ///
    /// `migrateBetweenGuests`:
    /// 1. A counter moves A → B with two pre-dump rounds, into a PID namespace on B (B holds the
    ///    PIDs around it); it continues on B from where it stopped and is gone from A.
    /// 2. A process holding an open file and a pipe between its two children moves too.
    /// 3. B changes that file; the next such process is refused (the file is named) and still runs
    ///    on A; sent to an unreachable address it still runs on A.
    ///
    /// `forkingWorkloads`: shell loops that fork a `sleep` ten times a second:
    /// a. one moves: nothing of it is left on A, stopped or not, and it counts on on B;
    /// b. one fails after its dump (B's image folder is a full tmpfs): it counts on on A;
    /// c. one is refused (B changed a file it holds open): it counts on on A.
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

        static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

        /// The arguments of docs/migration.md's `flashsmith rootfs build` command as written there (the
        /// optional `[…]` parts left out), with `modules` for /lib/modules/RELEASE and `output` for
        /// node.cpio.gz.
        static func documentedBuild(modules: String, output: String) throws -> [String] {
            let doc = try String(contentsOfFile: "\(repo)/docs/migration.md", encoding: .utf8)
            let start = try #require(doc.range(of: "flashsmith rootfs build --skeleton base --skeleton criu-node"), "docs/migration.md has no criu-node build command")
            var command = ""
            for line in doc[start.lowerBound...].split(separator: "\n") {
                guard line.hasSuffix("\\") else {
                    command += line
                    break
                }
                command += line.dropLast()
            }
            command = command.replacingOccurrences(of: #"\[[^\]]*\]"#, with: "", options: .regularExpression)
            var words = command.split(separator: " ").map(String.init)
            try #require(words.first == "flashsmith" && words.contains("/lib/modules/RELEASE") && words.contains("node.cpio.gz"), "\(command)")
            words.removeFirst()
            return words.map { $0 == "/lib/modules/RELEASE" ? modules : $0 == "node.cpio.gz" ? output : $0 }
        }

        /// The documented image plus an overlay holding `files` (path: text; the start scripts
        /// executable), built into `dir`/node.cpio.gz.
        func buildNode(_ dir: TempDir, kernel: DebianArtifacts.Kernel, files: [String: String]) throws -> String {
            for (path, text) in files {
                try FileManager.default.createDirectory(atPath: dir.file("overlay/\((path as NSString).deletingLastPathComponent)"), withIntermediateDirectories: true)
                _ = try dir.write("overlay/\(path)", text)
                if path.hasPrefix("etc/init.d/") || path.hasSuffix(".sh") { chmod(dir.file("overlay/\(path)"), 0o755) }
            }
            let initrd = dir.file("node.cpio.gz")
            let args = try Self.documentedBuild(modules: kernel.modulesDirectory, output: initrd) + ["--overlay", dir.file("overlay")]
            let t0 = ContinuousClock.now
            let b = try flashsmith(args)
            try #require(b.status == 0, "rootfs build \(args.joined(separator: " ")): \(b.err)")
            let imageSize = (try FileManager.default.attributesOfItem(atPath: initrd)[.size] as? Int) ?? 0
            print("E2E timing: migration image built in \(ContinuousClock.now - t0), \(imageSize) bytes")
            return initrd
        }

        /// Boots A (listening) and B (connecting, `migrate receive`) from `initrd` on one socket link;
        /// returns both results once both have ended.
        func runPair(_ dir: TempDir, kernel: DebianArtifacts.Kernel, initrd: String, markersA: [String], markersB: [String]) throws -> (QEMUResult, QEMUResult) {
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
                box.set(Result { try QEMU.run("qemu-system-x86_64", argsA, log: logA, timeout: .seconds(240), markers: markersA, killOn: ["Kernel panic"]) })
                done.signal()
            }
            thread.start()
            Thread.sleep(forTimeInterval: 1)
            let rb = try QEMU.run(
                "qemu-system-x86_64", args("B", "192.168.77.2", "52:54:00:77:00:02", "connect", extra: "flashsmith.migrate=receive"), log: dir.file("b.log"),
                timeout: .seconds(240), markers: markersB, killOn: ["Kernel panic"]
            )
            done.wait()
            let ra = try box.get()
            print("E2E timing: migration guests: A \(ra.summary) \(ra.markerTimes); B \(rb.summary) \(rb.markerTimes)")
            for l in ra.lines where l.contains("migrate:") { print("E2E migrate (A): \(l)") }
            for l in rb.lines where l.contains("migrate:") { print("E2E migrate (B): \(l)") }
            return (ra, rb)
        }

        @Test("counter, open file + pipe, refusal and unreachable destination")
        func migrateBetweenGuests() throws {
            guard available() else { return }
            let kernel = try DebianArtifacts.amd64Kernel()
            let dir = try TempDir("flashsmith-e2e-migrate")
            let initrd = try buildNode(dir, kernel: kernel, files: ["etc/init.d/S90e2e": Self.guestScript, "usr/share/e2e/data.txt": "the same on both guests\n"])
            let (ra, rb) = try runPair(dir, kernel: kernel, initrd: initrd, markersA: ["E2E-A-UP", "E2E-A-MIG1", "E2E-A-DONE"], markersB: ["E2E-B-UP", "E2E-B-COUNTER", "E2E-B-FINAL"])
            func lines(_ r: QEMUResult) -> [String] { r.lines }
            func line(_ r: QEMUResult, _ prefix: String) -> String? { r.line(prefix) }
            let ctx = "A:\n\(ra.tail(50))\nB:\n\(rb.tail(40))"

            // The documented image has its network: S05modules loaded the NIC's driver, S10network set eth0.
            #expect(ra.log.contains("S10network: eth0 192.168.77.1/24") && rb.log.contains("S10network: eth0 192.168.77.2/24"), "\(ctx)")
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

        /// B's side of `forkingWorkloads`: one command per connection on port 7071 from A, the answer on
        /// stdout.
        static let controlScript = #"""
            #!/bin/sh
            read -r cmd arg
            case $cmd in
            full) mount -t tmpfs -o size=16k tmpfs /var/lib/migrate && echo ok ;;
            roomy) umount /var/lib/migrate && echo ok ;;
            change) echo "changed on B" >>/usr/share/e2e/data.txt && echo ok ;;
            count) cat "/tmp/$arg" 2>/dev/null || echo none ;;
            done) echo ok; : >/tmp/done ;;
            esac
            """#

        static let forkingScript = #"""
            #!/bin/sh
            # E2E migration of forking loops, run by rcS as the last start script.
            [ "$1" = start ] || exit 0
            ROLE=none
            for a in $(cat /proc/cmdline); do case $a in e2e.role=*) ROLE=${a#e2e.role=} ;; esac; done
            [ $ROLE = none ] && exit 0
            A=192.168.77.1 B=192.168.77.2
            if [ $ROLE = A ]; then PEER=$B; else PEER=$A; fi
            n=0; until ping -c1 -W1 $PEER >/dev/null 2>&1; do n=$((n+1)); [ $n -gt 60 ] && { echo "E2E-NO-PEER $(ip -o addr | tr '\n' ' ')"; poweroff -f; }; sleep 0.5; done
            echo "E2E-$ROLE-UP peer after $n tries"
            if [ $ROLE = B ]; then
              nc -ll -p 7071 -e /usr/share/e2e/control.sh &
              n=0; until [ -e /tmp/done ] || [ $n -gt 1800 ]; do sleep 0.1; n=$((n+1)); done
              echo "E2E-B-FINAL $(ps -o pid,args | grep -c '[e]2e-fork')"
              poweroff -f
            fi
            ctl() { echo "$*" | nc -w 5 $B 7071; }
            pidof() { ps -o pid,args | awk -v m="$1" 'index($0, m) && !/awk/ { print $1; exit }'; }
            stopped() { n=0; for s in /proc/[0-9]*/stat; do l=""; read -r l <$s 2>/dev/null; l=${l##*) }; [ "${l%% *}" != T ] || n=$((n+1)); done; echo $n; }
            sleeps() { ps -o args | grep -c '^[s]leep 0.1'; }
            start() { ( setsid sh -c ": e2e-$1; $2" </dev/null >/dev/null 2>&1 & ); sleep 1.5; pidof e2e-$1; }
            n=0; until nc -w 1 $B 7070 </dev/null >/dev/null 2>&1 && [ "$(ctl count none)" = none ]; do n=$((n+1)); [ $n -gt 100 ] && break; sleep 0.2; done
            # a. A move: nothing of the loop left here, stopped or not; it counts on there.
            W=$(start fork1 'n=0; while :; do sleep 0.1; n=$((n+1)); echo $n >/tmp/count1; done')
            migrate send $W $B >/tmp/m1 2>&1; rc=$?
            sed 's/^/E2E-A-M1 /' /tmp/m1
            last=$(cat /tmp/count1); sleep 1; b1=$(ctl count count1); sleep 1; b2=$(ctl count count1)
            echo "E2E-A-MOVED rc=$rc alive=$([ -e /proc/$W ] && echo yes || echo no) stopped=$(stopped) sleeps=$(sleeps) last=$last there=$b1,$b2"
            # b. A failure after the dump: B's image folder has no room. The loop counts on here.
            echo "E2E-A-FULL $(ctl full)"
            W=$(start fork2 'n=0; while :; do sleep 0.1; n=$((n+1)); echo $n >/tmp/count2; done')
            migrate send $W $B >/tmp/m2 2>&1; rc=$?
            sed 's/^/E2E-A-M2 /' /tmp/m2
            v1=$(cat /tmp/count2); sleep 1; v2=$(cat /tmp/count2)
            echo "E2E-A-AFTER-FAILURE rc=$rc alive=$([ -e /proc/$W ] && echo yes || echo no) stopped=$(stopped) counts=$v1,$v2 there=$(ctl count count2)"
            echo "E2E-A-ROOMY $(ctl roomy)"
            for p in $(migrate freeze $W | cut -d' ' -f1); do kill -KILL $p; done
            # c. A refusal: B changed a file the loop holds open. The loop counts on here.
            echo "E2E-A-CHANGE $(ctl change)"
            W=$(start fork3 'exec 3</usr/share/e2e/data.txt; n=0; while :; do sleep 0.1; n=$((n+1)); echo $n >/tmp/count3; done')
            migrate send $W $B >/tmp/m3 2>&1; rc=$?
            sed 's/^/E2E-A-M3 /' /tmp/m3
            v1=$(cat /tmp/count3); sleep 1; v2=$(cat /tmp/count3)
            echo "E2E-A-AFTER-REFUSAL rc=$rc alive=$([ -e /proc/$W ] && echo yes || echo no) stopped=$(stopped) counts=$v1,$v2 there=$(ctl count count3)"
            ctl done >/dev/null
            echo "E2E-A-DONE"
            sleep 1
            poweroff -f
            """#

        @Test("forking loops: a move leaves nothing behind, a failure after the dump and a refusal leave them counting")
        func forkingWorkloads() throws {
            guard available() else { return }
            let kernel = try DebianArtifacts.amd64Kernel()
            let dir = try TempDir("flashsmith-e2e-migrate-fork")
            let initrd = try buildNode(
                dir, kernel: kernel,
                files: [
                    "etc/init.d/S90e2e": Self.forkingScript, "usr/share/e2e/control.sh": Self.controlScript,
                    "usr/share/e2e/data.txt": "the same on both guests\n",
                ])
            let (ra, rb) = try runPair(dir, kernel: kernel, initrd: initrd, markersA: ["E2E-A-UP", "E2E-A-MOVED", "E2E-A-DONE"], markersB: ["E2E-B-UP", "E2E-B-FINAL"])
            let ctx = "A:\n\(ra.tail(40))\nB:\n\(rb.tail(20))"
            #expect(ra.log.contains("S10network: eth0 192.168.77.1/24") && rb.log.contains("S10network: eth0 192.168.77.2/24"), "\(ctx)")
            /// `key=value` fields of the line after `prefix`.
            func fields(_ prefix: String) -> [String: String] {
                var out: [String: String] = [:]
                for f in (ra.line(prefix) ?? "").split(separator: " ") {
                    let kv = f.split(separator: "=", maxSplits: 1).map(String.init)
                    if kv.count == 2 { out[kv[0]] = kv[1] }
                }
                return out
            }
            func pair(_ s: String?) -> [Int] { (s ?? "").split(separator: ",").compactMap { Int($0) } }
            // a. Moved: the loop and its children gone from A, none stopped; on B it counts on from A's last value.
            let moved = fields("E2E-A-MOVED ")
            #expect(moved["rc"] == "0" && moved["alive"] == "no", "\(moved)\n\(ctx)")
            #expect(moved["stopped"] == "0" && moved["sleeps"] == "0", "no process of the tree left on A, stopped or not: \(moved)\n\(ctx)")
            let there = pair(moved["there"])
            if let last = Int(moved["last"] ?? ""), there.count == 2 {
                #expect(there[0] > last && there[1] > there[0], "B counts on from A's \(last): \(there)")
            } else {
                Issue.record("no counts from B: \(moved)\n\(ctx)")
            }
            #expect(ra.log.contains("E2E-A-M1 migrate: check:"), "\(ctx)")
            // b. The restore fails after the dump (B's folder full): the loop keeps counting on A, nothing stopped.
            #expect(ra.line("E2E-A-FULL ") == "ok", "\(ctx)")
            let failed = fields("E2E-A-AFTER-FAILURE ")
            #expect(failed["rc"] == "1" && failed["alive"] == "yes" && failed["stopped"] == "0", "\(failed)\n\(ctx)")
            let m2 = ra.lines.filter { $0.hasPrefix("E2E-A-M2 ") }.joined(separator: "\n")
            #expect(m2.contains("restore on 192.168.77.2 failed, process") && m2.contains("continued here"), "\(m2)")
            let c2 = pair(failed["counts"])
            #expect(c2.count == 2 && c2[1] > c2[0], "the loop counts on on A after the failure: \(failed)\n\(ctx)")
            #expect(failed["there"] == "none", "nothing of it runs on B: \(failed)")
            #expect(ra.line("E2E-A-ROOMY ") == "ok", "\(ctx)")
            // c. Refused (the file it holds open differs on B): the loop keeps counting on A.
            let refused = fields("E2E-A-AFTER-REFUSAL ")
            #expect(refused["rc"] == "2" && refused["alive"] == "yes" && refused["stopped"] == "0", "\(refused)\n\(ctx)")
            let m3 = ra.lines.filter { $0.hasPrefix("E2E-A-M3 ") }.joined(separator: "\n")
            #expect(m3.contains("refused by 192.168.77.2") && m3.contains("differs /usr/share/e2e/data.txt"), "\(m3)")
            let c3 = pair(refused["counts"])
            #expect(c3.count == 2 && c3[1] > c3[0], "the loop counts on on A after the refusal: \(refused)\n\(ctx)")
            #expect(refused["there"] == "none", "\(refused)")
            #expect(rb.line("E2E-B-FINAL ") == "1", "B runs the moved loop only: \(ctx)")
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
