import FlashsmithCore
import Foundation
import MTD
import Testing
import TestSupport
@testable import UBootEnv

/// `env set` interrupted at every write event: the store's ``EnvWriteBudget`` cuts the power after
/// N events (one per byte written or programmed, one per erase, one per rename), for every N from 0
/// to the update's total, on a fresh copy of the same starting image each time. After each cut the
/// image is read by Flashsmith (``EnvBlob``, as `env print -c` reads it) and, once per distinct
/// image, by libubootenv's `fw_printenv -c`: both must find exactly the old environment or exactly
/// the new one, old up to some cut and new from there on. Byte granularity includes every 512-byte
/// sector and every NAND page boundary.
///
/// Media: a regular file (replaced by rename), a block device (in place, fsync'ed; simulated on a
/// regular file), NOR and NAND flash (``FakeFlash``: a file with erase semantics). The copy that is
/// overwritten starts out holding a third, older environment, which must never come back.
@Suite struct PowerCutTests {
    enum Medium: String, Sendable { case file, blockDevice = "block device", nor = "NOR", nand = "NAND" }

    /// One update to interrupt.
    struct Scenario: Sendable, CustomTestStringConvertible {
        var name: String
        var medium: Medium
        var scheme: FlagScheme
        var envSize: Int
        /// fw_env.config lines as the store gets them: offset and sector count per copy.
        var copies: [(offset: Int, sectors: Int?)]
        /// Where each copy's bytes really are in the image (past bad blocks): fw_printenv reads these.
        var stored: [Int]
        /// Copy (1 or 2) holding the old environment; the other holds the older one.
        var active = 1
        /// Counter flags: the active copy's (the new copy gets this + 1, wrapping).
        var counter: UInt8 = 7
        var imageSize: Int
        var eraseBlock = 0
        var page = 1
        var bad: Set<Int> = []
        /// The store may lose the environment here (and `env set` warns).
        var unsafe = false
        var testDescription: String { name }
    }


    static let safe: [Scenario] = [
        Scenario(name: "file, counter", medium: .file, scheme: .counter, envSize: 0x800, copies: [(0, nil), (0x800, nil)], stored: [0, 0x800], imageSize: 0x1000),
        Scenario(name: "file, boolean, copy 2 active", medium: .file, scheme: .boolean, envSize: 0x800, copies: [(0, nil), (0x800, nil)], stored: [0, 0x800], active: 2, imageSize: 0x1000),
        Scenario(name: "block device, counter wrapping 255 to 0", medium: .blockDevice, scheme: .counter, envSize: 0x800, copies: [(0x1000, nil), (0x2000, nil)], stored: [0x1000, 0x2000], counter: 255, imageSize: 0x4000),
        Scenario(name: "block device, boolean, copy 1 active", medium: .blockDevice, scheme: .boolean, envSize: 0x800, copies: [(0x1000, nil), (0x2000, nil)], stored: [0x1000, 0x2000], imageSize: 0x4000),
        Scenario(name: "block device, boolean, copy 2 active", medium: .blockDevice, scheme: .boolean, envSize: 0x800, copies: [(0x1000, nil), (0x2000, nil)], stored: [0x1000, 0x2000], active: 2, imageSize: 0x4000),
        Scenario(
            name: "NOR, boolean (U-Boot env/flash.c), 4 KiB sectors", medium: .nor, scheme: .boolean, envSize: 0x800,
            copies: [(0x1000, 1), (0x2000, 1)], stored: [0x1000, 0x2000], imageSize: 0x4000, eraseBlock: 0x1000),
        Scenario(
            name: "NOR, boolean, copy 2 active, env mid-sector", medium: .nor, scheme: .boolean, envSize: 0x800,
            copies: [(0x1800, 1), (0x2800, 1)], stored: [0x1800, 0x2800], active: 2, imageSize: 0x4000, eraseBlock: 0x1000),
        Scenario(
            name: "NOR, counter (--flags counter)", medium: .nor, scheme: .counter, envSize: 0x800,
            copies: [(0x1000, 1), (0x2000, 1)], stored: [0x1000, 0x2000], active: 2, imageSize: 0x4000, eraseBlock: 0x1000),
        Scenario(
            name: "NAND, counter (U-Boot env/nand.c), 2-block copies, block 0 bad", medium: .nand, scheme: .counter, envSize: 0x2000,
            copies: [(0, 3), (0x3000, 3)], stored: [0x1000, 0x3000], imageSize: 0x6000, eraseBlock: 0x1000, page: 0x200, bad: [0]),
        Scenario(
            name: "NAND, counter, copy 2 active", medium: .nand, scheme: .counter, envSize: 0x1000,
            copies: [(0, 1), (0x1000, 1)], stored: [0, 0x1000], active: 2, counter: 0, imageSize: 0x4000, eraseBlock: 0x1000, page: 0x200),
    ]

    static let unsafe: [Scenario] = [
        Scenario(name: "single copy on NOR", medium: .nor, scheme: .counter, envSize: 0x800, copies: [(0x1000, 1)], stored: [0x1000], imageSize: 0x4000, eraseBlock: 0x1000, unsafe: true),
        Scenario(
            name: "single copy on NAND", medium: .nand, scheme: .counter, envSize: 0x1000, copies: [(0x1000, 1)], stored: [0x1000], imageSize: 0x4000, eraseBlock: 0x1000, page: 0x200,
            unsafe: true),
        Scenario(name: "single copy on a block device", medium: .blockDevice, scheme: .counter, envSize: 0x800, copies: [(0x1000, nil)], stored: [0x1000], imageSize: 0x4000, unsafe: true),
        Scenario(
            name: "NOR pair sharing one 4 KiB sector", medium: .nor, scheme: .boolean, envSize: 0x800, copies: [(0x1000, 1), (0x1800, 1)], stored: [0x1000, 0x1800], imageSize: 0x4000,
            eraseBlock: 0x1000, unsafe: true),
    ]

    static let oldVars = (0..<24).map { EnvVariable("var\($0)", "value-\($0)-" + String(repeating: "o", count: $0 % 7)) } + [EnvVariable("bootcount", "3")]
    static let olderVars = [EnvVariable("bootcount", "1"), EnvVariable("stale", "older environment")]

    /// What `env set bootcount=4 added=yes` makes of the old environment.
    static func newImage(from old: EnvImage) -> EnvImage {
        var img = old
        img.set(Array("bootcount".utf8), Array("4".utf8))
        img.set(Array("added".utf8), Array("yes".utf8))
        return img
    }

    enum Outcome: String, Equatable { case old, new, neither, mix }

    // MARK: Tests

    @Test(arguments: safe)
    func everyCutLeavesTheOldOrTheNewEnvironment(_ s: Scenario) throws {
        let run = try PowerCutRun(s)
        let outcomes = try run.cutEverywhere()
        let firstNew = try #require(outcomes.firstIndex(of: .new), "\(s.name): the update never took effect")
        #expect(outcomes[..<firstNew].allSatisfy { $0 == .old }, "\(s.name): \(run.summary(outcomes))")
        #expect(outcomes[firstNew...].allSatisfy { $0 == .new }, "\(s.name): \(run.summary(outcomes))")
        #expect(outcomes.first == .old && outcomes.last == .new)
        #expect(EnvStore.powerCutWarning(run.locations, open: run.opener) == nil)
        try run.checkWithFWPrintenv(outcomes)
        print("PowerCut \(s.name): \(outcomes.count) cut points (\(outcomes.count - 1) write events), \(run.distinctImages.count) distinct images read by fw_printenv; \(run.summary(outcomes))")
    }

    @Test(arguments: unsafe)
    func unsafeLayoutsAreWarnedAbout(_ s: Scenario) throws {
        let run = try PowerCutRun(s)
        let warning = try #require(EnvStore.powerCutWarning(run.locations, open: run.opener), "\(s.name): no warning")
        #expect(!warning.contains("\n"))
        #expect(warning.contains(s.copies.count == 1 ? "single environment copy" : "share erase block"), "\(warning)")
        // The warning is true: some cut leaves no valid environment.
        let outcomes = try run.cutEverywhere()
        #expect(outcomes.contains(.neither), "\(s.name): \(run.summary(outcomes))")
        #expect(!outcomes.contains(.mix), "\(s.name): \(run.summary(outcomes))")
        #expect(outcomes.first == .old && outcomes.last == .new)
        try run.checkWithFWPrintenv(outcomes)
        print("PowerCut \(s.name): \(outcomes.count) cut points; \(run.summary(outcomes)); warning: \(warning)")
    }

    /// NAND pages are programmed once per erase, so the boolean scheme's in-place flag clear cannot
    /// be done there: refused before anything is written (the old code wrote the new copy first).
    @Test func booleanFlagsOnNANDAreRefusedBeforeAnyWrite() throws {
        var s = Self.safe.first { $0.medium == .nand }!
        s.scheme = .boolean
        s.counter = 1
        let run = try PowerCutRun(s)
        let before = try readBytes(run.imagePath)
        let budget = CutAfter(Int.max)
        #expect(throws: EnvError.self) { try EnvStore.perform(run.writes, budget: budget, open: run.opener) }
        #expect(budget.used == 0)
        #expect(try readBytes(run.imagePath) == before)
    }

    /// The fake refuses what real flash cannot do, so the tests above would notice a store that did it.
    @Test func fakeFlashHasEraseSemantics() throws {
        let dir = try ShmDir()
        let path = try dir.write("flash.bin", [UInt8](repeating: 0xFF, count: 0x4000))
        let nand = try FakeFlash(path: path, kind: .nand, eraseBlockSize: 0x2000, page: 0x200)
        try nand.write(block: 0, offset: 0, [0x0F, 0xF0])
        #expect(throws: FakeFlash.Refusal.self) { try nand.write(block: 0, offset: 0, [0x0F]) }  // page programmed twice
        #expect(throws: FakeFlash.Refusal.self) { try nand.write(block: 0, offset: 3, [0]) }  // not page aligned
        let nor = try FakeFlash(path: path, kind: .nor, eraseBlockSize: 0x2000, page: 1)
        #expect(throws: FakeFlash.Refusal.self) { try nor.write(block: 0, offset: 0, [0xFF]) }  // 0 → 1 needs an erase
        try nor.write(block: 0, offset: 0, [0x0E])
        #expect(try nor.read(block: 0, offset: 0, count: 2) == [0x0E, 0xF0])
        try nor.erase(0)
        #expect(try nor.read(block: 0, offset: 0, count: 0x2000).allSatisfy { $0 == 0xFF })
    }
}

/// One scenario's image, config and update, cut at every event.
final class PowerCutRun {
    typealias Scenario = PowerCutTests.Scenario
    typealias Outcome = PowerCutTests.Outcome
    let s: Scenario
    let dir: ShmDir
    let imagePath: String
    let initial: [UInt8]
    let locations: [FWEnvConfig.Location]
    let readerConfig: FWEnvConfig
    let writes: [EnvStore.Write]
    let oldImage: EnvImage
    let newImage: EnvImage
    /// Distinct images seen after a cut, and the cut points that produced each.
    private(set) var distinctImages: [[UInt8]] = []
    private(set) var imageOfCut: [Int] = []

    init(_ s: Scenario) throws {
        self.s = s
        dir = try ShmDir()
        let redundant = s.copies.count == 2
        oldImage = EnvImage(variables: PowerCutTests.oldVars, size: s.envSize, redundant: redundant)
        let older = EnvImage(variables: PowerCutTests.olderVars, size: s.envSize, redundant: redundant)
        newImage = PowerCutTests.newImage(from: oldImage)

        // Outside the copies: a pattern that in-place writes must leave alone (flash: erased).
        var image = (0..<s.imageSize).map { s.medium == .nor || s.medium == .nand ? 0xFF : UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let (activeFlag, olderFlag): (UInt8, UInt8) = s.scheme == .boolean ? (EnvLayout.activeFlag, EnvLayout.obsoleteFlag) : (s.counter, s.counter &- 1)
        for (k, at) in s.stored.enumerated() {
            let bytes = k + 1 == s.active ? try oldImage.encodeCopy(flag: activeFlag) : try older.encodeCopy(flag: olderFlag)
            image.replaceSubrange(at..<at + s.envSize, with: bytes)
        }
        initial = image
        let path = try dir.write("image.bin", image)
        imagePath = path
        locations = s.copies.map {
            FWEnvConfig.Location(device: path, offset: $0.offset, envSize: s.envSize, sectorSize: s.eraseBlock == 0 ? nil : s.eraseBlock, sectorCount: $0.sectors)
        }
        readerConfig = FWEnvConfig(path: dir.file("reader.config"), locations: s.stored.map { FWEnvConfig.Location(device: path, offset: $0, envSize: s.envSize) })
        _ = try dir.write("reader.config", Self.configText(readerConfig))

        // The update `env set` makes: from the blob as read through the store, as the CLI does.
        let blob = try Self.read(locations, hints: EnvLayoutHints(scheme: s.scheme), open: Self.opener(s, path))
        let before = try blob.activeImage()
        try #require(before.variables == oldImage.variables, "\(s.name): the starting image does not read as the old environment")
        writes = try blob.writes(storing: Self.newImage(before))
    }

    static func newImage(_ before: EnvImage) -> EnvImage { PowerCutTests.newImage(from: before) }

    /// `EnvBlob.read(config:hints:)` with the copies read through `open` (the fake flash).
    static func read(_ locations: [FWEnvConfig.Location], hints: EnvLayoutHints, open: EnvMedium.Opener) throws -> EnvBlob {
        let copies = try locations.enumerated().map { i, l in
            EnvCopy.decode(try EnvStore.read(l, open: open)[...], index: i + 1, offset: l.offset, redundant: locations.count == 2, byteOrder: nil, source: l.device)
        }
        return EnvBlob.make(locations[0].device, copies, locations, hints: hints, implied: EnvStore.impliedScheme(locations[0], open: open))
    }

    static func configText(_ c: FWEnvConfig) -> String {
        c.locations.map { "\($0.device) 0x\(String($0.offset, radix: 16)) 0x\(String($0.envSize, radix: 16))\n" }.joined()
    }

    /// How the store reaches the image: a regular file as it is, the others through a stand-in.
    var opener: EnvMedium.Opener { Self.opener(s, imagePath) }

    static func opener(_ s: Scenario, _ path: String) -> EnvMedium.Opener {
        { device, writable in
            guard device == path else { return try EnvMedium.open(device, writable: writable) }
            switch s.medium {
            case .file: return .file(device)
            case .blockDevice: return .inPlace(device)
            case .nor: return .flash(try FakeFlash(path: device, kind: .nor, eraseBlockSize: s.eraseBlock, page: s.page))
            case .nand: return .flash(try FakeFlash(path: device, kind: .nand, eraseBlockSize: s.eraseBlock, page: s.page, bad: s.bad))
            }
        }
    }

    /// The update cut after 0, 1, … events, up to the whole of it; Flashsmith's reading of each.
    func cutEverywhere(limit: Int = .max) throws -> [Outcome] {
        let counter = CutAfter(Int.max)
        try restore()
        try EnvStore.perform(writes, budget: counter, open: opener)
        let total = counter.used
        var outcomes: [Outcome] = []
        for n in 0...min(total, limit) {
            try restore()
            do {
                try EnvStore.perform(writes, budget: CutAfter(n), open: opener)
                #expect(n == total, "\(s.name): the update finished after \(n) of \(total) events")
            } catch is EnvPowerCut {
                #expect(n < total)
            }
            // A cut whose image is the previous cut's (a byte written over an equal one; the
            // temporary file of a rename) reads the same: only new images are read again.
            let bytes = try readBytes(imagePath)
            if let last = distinctImages.last, let o = outcomes.last, same(last, bytes, 0..<bytes.count) {
                outcomes.append(o)
                imageOfCut.append(distinctImages.count - 1)
                continue
            }
            if s.medium == .file || s.medium == .blockDevice { try expectOutsideCopiesUntouched(bytes, cut: n) }
            outcomes.append(try flashsmithOutcome(cut: n))
            imageOfCut.append(distinctImages.count)
            distinctImages.append(bytes)
        }
        return outcomes
    }

    private func restore() throws {
        try Data(initial).write(to: URL(fileURLWithPath: imagePath))
    }

    private func classify(_ vars: [EnvVariable]?) -> Outcome {
        guard let vars else { return .neither }
        return vars == oldImage.variables ? .old : vars == newImage.variables ? .new : .mix
    }

    /// Flashsmith's reading, through the store (and so the fake flash's bad-block skipping) and
    /// directly at the stored offsets; both must agree.
    private func flashsmithOutcome(cut n: Int) throws -> Outcome {
        let hints = EnvLayoutHints(scheme: s.scheme)
        let viaStore = try Self.read(locations, hints: hints, open: opener)
        let direct = try EnvBlob.read(config: readerConfig, hints: hints)
        let a = classify((try? viaStore.activeImage())?.variables), b = classify((try? direct.activeImage())?.variables)
        #expect(a == b, "\(s.name), cut after \(n) events: read through the store \(a), at the stored offsets \(b)")
        if s.medium == .file {
            let asFile = try EnvBlob.read(file: imagePath, hints: hints)
            #expect(classify((try? asFile.activeImage())?.variables) == b, "\(s.name), cut after \(n): env print FILE disagrees")
        }
        return b
    }

    private func expectOutsideCopiesUntouched(_ bytes: [UInt8], cut n: Int) throws {
        var start = 0
        for at in s.stored.sorted() + [bytes.count] {
            #expect(same(bytes, initial, start..<at), "\(s.name), cut after \(n): bytes \(start)..<\(at), outside the copies, changed")
            start = at + s.envSize
        }
    }

    /// Whether `a` and `b` hold the same bytes in `range` (memcmp: this runs for every cut).
    private func same(_ a: [UInt8], _ b: [UInt8], _ range: Range<Int>) -> Bool {
        guard a.count == b.count, range.upperBound <= a.count else { return false }
        return a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in memcmp(pa.baseAddress! + range.lowerBound, pb.baseAddress! + range.lowerBound, range.count) == 0 } }
    }

    /// fw_printenv on each distinct image; its outcome must be Flashsmith's at every cut.
    func checkWithFWPrintenv(_ outcomes: [Outcome]) throws {
        guard toolsAvailable("fw_printenv", "sh") else { return }
        var script = "cd \(dir.path)\n"
        for (k, img) in distinctImages.enumerated() {
            let image = try dir.write("cut-\(k).bin", img)
            let cfg = FWEnvConfig(path: "", locations: readerConfig.locations.map { FWEnvConfig.Location(device: image, offset: $0.offset, envSize: $0.envSize) })
            _ = try dir.write("cut-\(k).config", Self.configText(cfg))
            script += "fw_printenv -c cut-\(k).config > cut-\(k).out 2>&1; echo $? > cut-\(k).rc\n"
        }
        let r = try run("sh", ["-c", script])
        try #require(r.status == 0, "\(r.err)")
        let lines = { (vars: [EnvVariable]) in vars.map { "\($0.nameText)=\($0.valueText)" }.sorted() }
        let old = lines(oldImage.variables), new = lines(newImage.variables)
        var peer: [Outcome] = []
        for k in distinctImages.indices {
            let out = String(decoding: try dir.read("cut-\(k).out"), as: UTF8.self)
            let rc = String(decoding: try dir.read("cut-\(k).rc"), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let printed = out.split(separator: "\n").map(String.init).sorted()
            peer.append(rc != "0" || out.contains("Cannot read environment") ? .neither : printed == old ? .old : printed == new ? .new : .mix)
        }
        for (n, k) in imageOfCut.enumerated() where peer[k] != outcomes[n] {
            Issue.record("\(s.name), cut after \(n) events: fw_printenv reads \(peer[k]), Flashsmith \(outcomes[n]) (\(dir.file("cut-\(k).bin")))")
            return
        }
    }

    /// `old ×a, new ×b` in order of cut points.
    func summary(_ outcomes: [Outcome]) -> String {
        var runs: [(Outcome, Int)] = []
        for o in outcomes {
            if let last = runs.last, last.0 == o { runs[runs.count - 1].1 += 1 } else { runs.append((o, 1)) }
        }
        return runs.map { "\($0.0.rawValue) ×\($0.1)" }.joined(separator: ", ")
    }
}

/// Cuts the power after `limit` events; counts the events admitted.
final class CutAfter: EnvWriteBudget {
    let limit: Int
    private(set) var used = 0
    init(_ limit: Int) { self.limit = limit }
    func admit(_ count: Int) -> Int {
        let granted = max(0, min(count, limit - used))
        used += granted
        return granted
    }
}

/// Flash in a file: erased bytes read 0xff, programming only clears bits (a 0 → 1 bit is refused),
/// a NAND page is programmed at most once per erase and from its start, the erase unit is the block.
/// A cut mid-program leaves the bytes before it programmed and the rest as they were.
final class FakeFlash: EnvFlashDevice {
    struct Refusal: Error, CustomStringConvertible { var description: String }

    let path: String
    let kind: MTDDevice.Kind
    let eraseBlockSize: Int
    let eraseBlockCount: Int
    let minIOSize: Int
    let writable = true
    let bad: Set<Int>
    /// NAND pages programmed since their block's last erase: at first, those holding anything but 0xff.
    private lazy var programmed: Set<Int> = {
        guard isNAND, let bytes = try? readBytes(path) else { return [] }
        var pages = Set<Int>()
        bytes.withUnsafeBufferPointer { b in
            for i in 0..<b.count where b[i] != 0xFF { pages.insert(i / minIOSize) }
        }
        return pages
    }()
    var isNAND: Bool { kind == .nand }

    init(path: String, kind: MTDDevice.Kind, eraseBlockSize: Int, page: Int, bad: Set<Int> = []) throws {
        self.path = path
        self.kind = kind
        self.eraseBlockSize = eraseBlockSize
        eraseBlockCount = try FileIO.size(of: path) / eraseBlockSize
        minIOSize = page
        self.bad = bad
    }

    private func check(_ block: Int, _ offset: Int, _ count: Int) throws {
        guard (0..<eraseBlockCount).contains(block), offset >= 0, count >= 0, offset + count <= eraseBlockSize else {
            throw Refusal(description: "\(path): block \(block) offset \(offset) count \(count) is outside the device")
        }
        guard !bad.contains(block) else { throw Refusal(description: "\(path): block \(block) is bad") }
    }

    func isBad(_ block: Int) throws -> Bool { bad.contains(block) }

    func erase(_ block: Int) throws {
        try check(block, 0, eraseBlockSize)
        try store([UInt8](repeating: 0xFF, count: eraseBlockSize), at: block * eraseBlockSize)
        let pages = eraseBlockSize / minIOSize
        programmed.subtract(block * pages..<(block + 1) * pages)
    }

    func read(block: Int, offset: Int, count: Int) throws -> [UInt8] {
        try check(block, offset, count)
        return try FileIO.read(path, offset: block * eraseBlockSize + offset, count: count)
    }

    func write(block: Int, offset: Int, _ data: [UInt8]) throws {
        try check(block, offset, data.count)
        let at = block * eraseBlockSize + offset
        if isNAND {
            guard offset % minIOSize == 0 else { throw Refusal(description: "\(path): NAND write at \(at) is not page-aligned") }
            let pages = Set(at / minIOSize..<(at + max(data.count, 1) + minIOSize - 1) / minIOSize)
            guard pages.isDisjoint(with: programmed) else { throw Refusal(description: "\(path): NAND page at \(at) programmed twice without an erase") }
            programmed.formUnion(pages)
        }
        let now = try FileIO.read(path, offset: at, count: data.count)
        let setsBits = data.withUnsafeBufferPointer { d in now.withUnsafeBufferPointer { o in (0..<d.count).first { d[$0] & ~o[$0] != 0 } } }
        if let i = setsBits {
            throw Refusal(description: "\(path): programming byte \(at + i) from \(now[i]) to \(data[i]) would set bits (not erased)")
        }
        try store(data, at: at)
    }

    private func store(_ bytes: [UInt8], at offset: Int) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Refusal(description: "\(path): cannot open") }
        defer { close(fd) }
        try FileIO.pwriteAll(fd, bytes, at: offset, path: path)
    }
}

/// A scratch folder in /dev/shm when there is one (thousands of fsyncs cost nothing on tmpfs),
/// else in the temporary folder; removed when the value goes away.
final class ShmDir {
    let path: String

    init() throws {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp")
        var template = Array("\(base)/flashsmith-powercut.XXXXXX".utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: p)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: file(name)))
        return file(name)
    }

    func write(_ name: String, _ text: String) throws -> String { try write(name, Array(text.utf8)) }

    func read(_ name: String) throws -> [UInt8] { try readBytes(file(name)) }
}
