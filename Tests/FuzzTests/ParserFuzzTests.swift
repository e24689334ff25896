import FlashsmithFuzz
import Testing

/// Every parser against deterministic mutations of seeds the peer tools wrote (Seeds/README.md): a
/// trap kills the test process (which fails the run loudly), a thrown error is the expected refusal,
/// and each input is checked for time (more than 2 s of CPU is a hang; 10 s in a debug build, which
/// runs parsers about ten times slower) and memory (the process growing by more than 256 MiB during
/// one input). Long campaigns in release builds: scripts/fuzz.sh (docs/fuzzing.md).
///
/// One serialized suite: memory is measured for the whole process, so nothing else of this target
/// runs beside a parser.
@Suite(.serialized) struct FuzzTests {
    /// Inputs per parser, the seeds included: about 60 s for the whole suite in a debug build on a
    /// loaded two-core machine. FLASHSMITH_FUZZ_SCALE=10 runs ten times as many.
    static let budgets: [String: Int] = [
        "env-blob": 300, "env-text": 300, "fw-env-config": 500, "uimage": 1000, "fit": 500, "dtb": 2000, "its": 60, "fit-yaml": 500,
        "ubi": 250, "ubifs": 200, "nand-raw": 300, "flash-image": 150, "disk": 400, "inspect": 400, "archive": 1500, "archive-compressed": 600, "deb": 1500,
        "elf": 2000, "busybox": 500, "kconfig": 300, "ubinize": 300, "device-table": 300, "users-table": 100, "yaml": 1500, "board": 1500,
        "rootfs-spec": 1500, "genimage-config": 1500, "byte-size": 1000, "cli-options": 60,
    ]

    static var scale: Double {
        guard let s = getenv("FLASHSMITH_FUZZ_SCALE").map({ String(cString: $0) }), let v = Double(s), v > 0 else { return 1 }
        return v
    }

    static var limits: FuzzLimits {
        var l = FuzzLimits()
        #if DEBUG
        l.cpuSeconds = 10
        #endif
        return l
    }

    @Test func everyParserHasABudget() {
        #expect(Set(Self.budgets.keys) == Set(FuzzTargets.all.map(\.name)))
    }

    @Suite struct Parsers {
        @Test(arguments: FuzzTargets.all.map(\.name))
        func mutationsNeverCrashHangOrBalloon(_ name: String) throws {
            let target = try #require(FuzzTargets.named(name))
            var runner = try FuzzRunner(target: target, seedsFolder: FuzzTargets.defaultSeeds)
            runner.limits = FuzzTests.limits
            var budget = Int(Double(FuzzTests.budgets[name] ?? 300) * FuzzTests.scale)
            if let awaiting = target.awaiting {
                // Known finding, recorded for its owner: the seeds only, until the fix lands.
                print("fuzz \(name): seeds only, awaiting \(awaiting)")
                budget = runner.seeds.count
            }
            let stats = runner.run(count: budget)
            for f in stats.findings {
                Issue.record(Comment(rawValue: "\(f) — reproduce: flashsmith-fuzz input \(name) \(f.index) -o x.bin && flashsmith-fuzz repro \(name) x.bin"))
            }
            #expect(stats.execs == budget)
            // Mutations that all bounce off the first check would test nothing past it.
            #expect(stats.accepted > 0, "\(name): no input was accepted")
            print("fuzz \(name): \(stats.execs) inputs, \(stats.accepted) accepted, slowest \(stats.slowestCPU) s CPU (#\(stats.slowestIndex)), peak RSS +\(stats.peakGrowth >> 20) MiB, \(stats.seconds) s")
        }

        /// Each seed goes through its parser as it is: a seed the harness refuses fuzzes nothing.
        @Test(arguments: FuzzTargets.all.map(\.name))
        func seedsAreAccepted(_ name: String) throws {
            let target = try #require(FuzzTargets.named(name))
            let files = target.seedFiles(in: FuzzTargets.defaultSeeds)
            #expect(!files.isEmpty)
            let scratch = try FuzzScratch(seeds: FuzzTargets.defaultSeeds)
            try target.prepare(scratch)
            for file in files where !FuzzTests.refusedOnPurpose.contains("\(name):" + file.split(separator: "/").suffix(2).joined(separator: "/")) {
                do {
                    try target.run(try readFile(file), scratch)
                } catch {
                    Issue.record(Comment(rawValue: "\(name): seed \(file) refused: \(error)"))
                }
            }
        }
    }

    /// Inputs campaigns found (Regressions/PARSER/*): each crashed, hung or ballooned before its
    /// fix (/work/fuzz-findings.md) and must go through its parser within the limits now.
    @Suite struct Regressions {
        static var folder: String { FuzzTargets.defaultSeeds.replacing("/Seeds", with: "/Regressions") }

        @Test(arguments: listFolders(Self.folder))
        func foundInputsStayFixed(_ name: String) throws {
            let target = try #require(FuzzTargets.named(name), "Regressions/\(name) names no parser")
            let files = listFiles("\(Self.folder)/\(name)")
            var runner = try FuzzRunner(target: target, inputs: try files.map { try readFile("\(Self.folder)/\(name)/\($0)") }, seedsFolder: FuzzTargets.defaultSeeds)
            runner.limits = FuzzTests.limits
            let stats = runner.run(count: files.count)
            for f in stats.findings { Issue.record(Comment(rawValue: "Regressions/\(name)/\(files[f.index]): \(f.detail)")) }
            #expect(stats.execs == files.count)
        }
    }

    /// Seeds a target takes from another's folder but does not recognise as they are.
    static let refusedOnPurpose: Set<String> = [
        // inspect knows gzip, xz, zstd, lz4 (frame format) and bzip2 archives; lz4's legacy format
        // (lz4 -l, what the kernel unpacks) and lzma are read by the archive parser, not recognised.
        "inspect:archive/newc.cpio.lz4", "inspect:archive/odc.cpio.lzma",
    ]

    @Suite struct Mutators {
        static let seeds: [[UInt8]] = [Array("name: board\nflash:\n  page: 2KiB\n  chip: 128MiB\n".utf8), [0x27, 0x05, 0x19, 0x56] + [UInt8](repeating: 0, count: 60), []]

        @Test func inputNIsAPureFunctionOfTheSeedsAndN() {
            let m = Mutator(headerWindow: 64)
            for i in 0..<500 {
                #expect(m.input(index: i, seeds: Self.seeds, target: "t", base: 7) == m.input(index: i, seeds: Self.seeds, target: "t", base: 7))
            }
            let distinct = Set((3..<503).map { m.input(index: $0, seeds: Self.seeds, target: "t", base: 7) })
            #expect(distinct.count > 400)
            // Another target or another base gives other inputs.
            #expect((3..<100).contains { m.input(index: $0, seeds: Self.seeds, target: "t", base: 7) != m.input(index: $0, seeds: Self.seeds, target: "u", base: 7) })
            #expect((3..<100).contains { m.input(index: $0, seeds: Self.seeds, target: "t", base: 7) != m.input(index: $0, seeds: Self.seeds, target: "t", base: 8) })
        }

        @Test func theSeedsComeFirstUnchanged() {
            let m = Mutator()
            for (i, s) in Self.seeds.enumerated() { #expect(m.input(index: i, seeds: Self.seeds, target: "t", base: 1) == s) }
        }

        @Test(arguments: Mutator.Operation.allCases)
        func everyOperationTakesAnyInput(_ op: Mutator.Operation) {
            for text in [false, true] {
                let m = Mutator(headerWindow: 16, text: text, dictionary: ["key: "])
                var rng = FuzzRandom(seed: 42)
                for input in [[], [0], [1, 2, 3], Array("a: 1\nb: 0x20\n".utf8), [UInt8](repeating: 0xFF, count: 4096)] as [[UInt8]] {
                    for _ in 0..<50 {
                        var b = input
                        m.apply(op, to: &b, others: Self.seeds, rng: &rng)
                        #expect(m.mutate(b, others: Self.seeds, rng: &rng).count <= Mutator.maxInputSize)
                    }
                }
            }
        }

        @Test func integersLandAlignedInBothByteOrders() {
            let m = Mutator(headerWindow: 64)
            var rng = FuzzRandom(seed: 3)
            var changedOffsets = Set<Int>()
            var sawBig = false, sawLittle = false
            for _ in 0..<2000 {
                var b = [UInt8](repeating: 0x11, count: 64)
                m.apply(.interestingInteger, to: &b, others: [], rng: &rng)
                let changed = b.indices.filter { b[$0] != 0x11 }
                guard let first = changed.first, let last = changed.last else { continue }
                changedOffsets.insert(first)
                // A 32-bit 0x00000001 written big-endian changes the last byte of its slot, little-endian the first.
                if last - first == 0 && first % 4 == 3 { sawBig = true }
                if last - first == 0 && first % 4 == 0 { sawLittle = true }
            }
            #expect(sawBig && sawLittle)
            #expect(changedOffsets.count > 32)
        }

        @Test func lengthsPointPastTheEnd() {
            let m = Mutator(headerWindow: 16)
            var rng = FuzzRandom(seed: 9)
            var past = 0
            for _ in 0..<200 {
                var b = [UInt8](repeating: 0, count: 16)
                m.apply(.lengthPastEnd, to: &b, others: [], rng: &rng)
                // Some 16-, 32- or 64-bit field, in either byte order, now holds more than the 16 bytes there are.
                var fields: [UInt64] = []
                for w in [2, 4, 8] {
                    for o in stride(from: 0, to: 16, by: w) {
                        let slot = Array(b[o..<(o + w)])
                        fields.append(slot.reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
                        fields.append(slot.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
                    }
                }
                if fields.contains(where: { $0 > 16 }) { past += 1 }
            }
            #expect(past > 150)
        }

        @Test func repeatedLinesAndChunksStayWithinOneMiB() {
            let m = Mutator(text: true)
            var rng = FuzzRandom(seed: 5)
            let big = Array(String(repeating: "[", count: Mutator.maxInputSize - 10).utf8)
            for op in [Mutator.Operation.repeatLine, .duplicateLine, .duplicateChunk, .nesting, .insertChunk] {
                for _ in 0..<10 {
                    var b = big
                    m.apply(op, to: &b, others: [big], rng: &rng)
                    #expect(b.count <= Mutator.maxInputSize + 4096, "\(op)")
                }
            }
        }

        @Test func numbersInTextAreReplaced() {
            let m = Mutator(text: true)
            var rng = FuzzRandom(seed: 11)
            var b = Array("size: 4096\n".utf8)
            m.apply(.replaceNumber, to: &b, others: [], rng: &rng)
            let s = String(decoding: b, as: UTF8.self)
            #expect(s.hasPrefix("size: ") && s.hasSuffix("\n") && s != "size: 4096\n")
            #expect(Mutator.interestingNumbers.contains(String(s.dropFirst(6).dropLast())))
        }

        /// The checks can fail: an input that balloons or spins is reported with its index, and the
        /// inputs around it are not.
        @Test func aBalloonAndASpinAreFound() throws {
            let target = FuzzTarget("balloon", "test", seeds: ["env-text"]) { bytes, _ in
                switch bytes.first {
                case 1:
                    // 300 MiB made resident, a byte per page.
                    let size = 300 << 20
                    let big = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
                    defer { big.deallocate() }
                    for page in stride(from: 0, to: size, by: 4096) { big.storeBytes(of: 1, toByteOffset: page, as: UInt8.self) }
                case 2:
                    let start = FuzzMeter.threadCPU()
                    var x: UInt64 = 1
                    while FuzzMeter.threadCPU() - start < 0.6 { x = x &* 6_364_136_223_846_793_005 &+ 1 }
                    if x == 0 { throw FuzzTargets.Refused() }
                default: break
                }
            }
            var runner = try FuzzRunner(target: target, inputs: [[0], [1], [0], [2], [0]], seedsFolder: FuzzTargets.defaultSeeds)
            runner.limits.cpuSeconds = 0.5
            let stats = runner.run(count: 5)
            #expect(stats.findings.map { $0.kind } == [FuzzFinding.Kind.memory, .hang])
            #expect(stats.findings.map { $0.index } == [1, 3])
        }

        @Test func checksumsAreFixedSoMutationsGetPastThem() throws {
            // A uImage whose name was mutated: its header CRC is right again after the fixup.
            var rng = FuzzRandom(seed: 1)
            var u = try readFile(FuzzTargets.defaultSeeds + "/uimage/uimage-kernel.img")
            u[40] ^= 0x20
            FuzzFixups.uImage(&u, &rng)
            let scratch = try FuzzScratch(seeds: FuzzTargets.defaultSeeds)
            try #require(FuzzTargets.named("uimage")).run(u, scratch)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// The subfolders of a folder, sorted.
func listFolders(_ folder: String) -> [String] {
    guard let dir = opendir(folder) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let e = readdir(dir) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        var st = stat()
        if !name.hasPrefix("."), stat("\(folder)/\(name)", &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { names.append(name) }
    }
    return names.sorted()
}
