#if canImport(Glibc)
import Glibc
#endif

/// A folder of its own for one campaign: parsers that read files get their input written here
/// (always the same names, so a campaign leaves no litter), with the fixture files a target needs.
public final class FuzzScratch: @unchecked Sendable {
    public let path: String
    /// The seeds folder (fixtures come from `<seeds>/fixtures`).
    public let seeds: String

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Where scratch folders go: $FLASHSMITH_FUZZ_TMP, else /dev/shm (memory: a campaign writes an
    /// input per execution, and a disk turns that into waiting), else $TMPDIR or /tmp.
    public static var base: String {
        if let s = getenv("FLASHSMITH_FUZZ_TMP") { return String(cString: s) }
        if access("/dev/shm", W_OK) == 0 { return "/dev/shm" }
        return getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    }

    public init(seeds: String, prefix: String = "flashsmith-fuzz") throws {
        let base = Self.base
        var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw Failure(description: "cannot create a scratch folder in \(base): \(String(cString: strerror(errno)))")
        }
        path = String(cString: p)
        self.seeds = seeds
    }

    deinit { Self.remove(path) }

    public func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes `bytes` to `name` in the scratch folder (replacing it) and returns its path.
    @discardableResult
    public func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let p = file(name)
        let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure(description: "\(p): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var done = 0
        try bytes.withUnsafeBytes { buf in
            while done < buf.count {
                let n = Glibc.write(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw Failure(description: "\(p): \(String(cString: strerror(errno)))") }
                done += n
            }
        }
        return p
    }

    @discardableResult
    public func write(_ text: String, _ name: String) throws -> String { try write(Array(text.utf8), name) }

    public func makeFolder(_ name: String) -> String {
        let p = file(name)
        mkdir(p, 0o755)
        return p
    }

    /// A fixture file from `<seeds>/fixtures`.
    public func fixture(_ name: String) throws -> [UInt8] { try readFile("\(seeds)/fixtures/\(name)") }

    /// Removes a folder tree (no symlink is followed).
    public static func remove(_ path: String) {
        guard let dir = opendir(path) else {
            unlink(path)
            return
        }
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            let child = "\(path)/\(name)"
            var st = stat()
            if lstat(child, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
                remove(child)
            } else {
                unlink(child)
            }
        }
        closedir(dir)
        rmdir(path)
    }
}

/// Reads a whole (small) file.
public func readFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FuzzScratch.Failure(description: "\(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw FuzzScratch.Failure(description: "\(path): \(String(cString: strerror(errno)))") }
        if n == 0 { return out }
        out += buf[0..<n]
    }
}

/// The names of the regular files in a folder, sorted (seeds are taken in this order).
public func listFiles(_ folder: String) -> [String] {
    guard let dir = opendir(folder) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let e = readdir(dir) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        var st = stat()
        if !name.hasPrefix("."), stat("\(folder)/\(name)", &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { names.append(name) }
    }
    return names.sorted()
}

/// One parser under test: which seeds it starts from, how its inputs are mutated, and the calls
/// that take an input the way Flashsmith's commands do. `run` throws when the input is refused
/// (that is the expected outcome for most mutations); it must never trap, hang or balloon.
public struct FuzzTarget: Sendable {
    public var name: String
    public var summary: String
    /// Seed folders under the seeds folder.
    public var seedFolders: [String]
    public var mutator: Mutator
    /// Fixture files written once into the scratch folder before the campaign.
    public var prepare: @Sendable (FuzzScratch) throws -> Void
    /// Checksums put right after a mutation, half of the time (``FuzzFixups``).
    public var fixup: (@Sendable (inout [UInt8], inout FuzzRandom) -> Void)?
    public var run: @Sendable ([UInt8], FuzzScratch) throws -> Void
    /// A known finding this parser awaits a fix for (the in-suite run then keeps to the seeds, and
    /// says so); campaigns run it in full regardless. Recorded in /work/fuzz-findings.md.
    public var awaiting: String?

    public init(
        _ name: String, _ summary: String, seeds: [String]? = nil, text: Bool = false, headerWindow: Int = 4096, dictionary: [String] = [],
        prepare: @escaping @Sendable (FuzzScratch) throws -> Void = { _ in },
        fixup: (@Sendable (inout [UInt8], inout FuzzRandom) -> Void)? = nil, awaiting: String? = nil,
        run: @escaping @Sendable ([UInt8], FuzzScratch) throws -> Void
    ) {
        self.name = name
        self.summary = summary
        self.seedFolders = seeds ?? [name]
        self.mutator = Mutator(headerWindow: headerWindow, text: text, dictionary: dictionary)
        self.prepare = prepare
        self.fixup = fixup
        self.awaiting = awaiting
        self.run = run
    }

    /// Input number `index` of a campaign from `base`: the seeds as they are first, then
    /// mutations of them (checksums fixed half of the time when the target has a fixup).
    public func input(index: Int, seeds: [[UInt8]], base: UInt64) -> [UInt8] {
        guard !seeds.isEmpty else { return [] }
        if index >= 0 && index < seeds.count { return seeds[index] }
        var rng = FuzzRandom(target: name, index: index, base: base)
        var b = mutator.mutate(rng.pick(seeds), others: seeds, rng: &rng)
        if let fixup, rng.chance(50) { fixup(&b, &rng) }
        return b
    }

    /// The seed files, in folder then name order.
    public func seedFiles(in seeds: String) -> [String] {
        seedFolders.flatMap { folder in listFiles("\(seeds)/\(folder)").map { "\(seeds)/\(folder)/\($0)" } }
    }

    public func loadSeeds(from seeds: String) throws -> [[UInt8]] {
        let files = seedFiles(in: seeds)
        guard !files.isEmpty else { throw FuzzScratch.Failure(description: "\(name): no seeds in \(seedFolders.map { "\(seeds)/\($0)" }.joined(separator: ", "))") }
        return try files.map(readFile)
    }
}
