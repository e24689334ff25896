import BootImage
import Foundation
import Testing
import TestSupport

/// Flashsmith's uImages against mkimage and dumpimage (u-boot-tools).
@Suite struct UImageInteropTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var args: [String]
        var files: [[UInt8]]
        var testDescription: String { args.joined(separator: " ") }
    }

    static let payload = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }

    static let cases: [Case] = [
        Case(args: ["-A", "arm64", "-O", "linux", "-T", "kernel", "-C", "none", "-a", "0x40400000", "-e", "0x40400000", "-n", "Linux arm64"], files: [payload]),
        Case(args: ["-A", "arm", "-O", "linux", "-T", "kernel", "-C", "gzip", "-a", "80008000", "-n", "zImage-ish"], files: [payload]),
        Case(args: ["-A", "x86_64", "-O", "linux", "-T", "ramdisk", "-C", "none", "-n", "initrd"], files: [Array(payload.prefix(1001))]),
        Case(args: ["-A", "riscv", "-O", "opensbi", "-T", "firmware", "-C", "zstd", "-a", "0x80000000", "-n", String(repeating: "x", count: 32)], files: [payload]),
        Case(args: ["-A", "mips", "-O", "linux", "-T", "multi", "-C", "lzma", "-a", "0x80010000", "-e", "0x80010400", "-n", "multi"],
             files: [[1, 2, 3], Array(payload.prefix(10)), Array(payload.prefix(7))]),
        Case(args: ["-A", "powerpc", "-O", "linux", "-T", "script", "-C", "none", "-n", "boot script"], files: [Array("setenv bootargs console=ttyS0\nbootm 0x1000000\n".utf8)]),
        Case(args: ["-A", "arm", "-O", "u-boot", "-T", "standalone", "-C", "none", "-a", "0x0c100000", "-n", "hello"], files: [Array(payload.prefix(333))]),
        Case(args: ["-A", "arm", "-O", "linux", "-T", "kernel_noload", "-C", "lz4", "-n", "noload"], files: [payload]),
    ]

    func write(_ dir: TempDir, _ c: Case) throws -> String {
        try c.files.enumerated().map { try dir.write("in\($0.offset)", $0.element) }.joined(separator: ":")
    }

    @Test(arguments: cases)
    func byteIdenticalToMkimage(c: Case) throws {
        guard toolsAvailable("mkimage") else { return }
        let dir = try TempDir()
        let data = try write(dir, c)
        let env = ["SOURCE_DATE_EPOCH": "1700000000"]
        let peer = try run("mkimage", c.args + ["-d", data, dir.file("peer.img")], environment: env)
        #expect(peer.status == 0, "\(peer.err)")
        let ours = try run(flashsmithPath, ["uimage", "create"] + c.args + ["-d", data, "-o", dir.file("ours.img")], environment: env)
        #expect(ours.status == 0, "\(ours.err)")
        #expect(try readBytes(dir.file("ours.img")) == readBytes(dir.file("peer.img")))
    }

    /// mkimage -l and dumpimage -l describe Flashsmith's images as they describe their own; dumpimage
    /// extracts the same bytes Flashsmith put in.
    @Test(arguments: cases)
    func peersListAndExtractOurImages(c: Case) throws {
        guard toolsAvailable("mkimage", "dumpimage") else { return }
        let dir = try TempDir()
        let data = try write(dir, c)
        let img = dir.file("ours.img")
        #expect(try run(flashsmithPath, ["uimage", "create"] + c.args + ["-d", data, "-o", img]).status == 0)
        let listed = try run("mkimage", ["-l", img])
        #expect(listed.status == 0, "\(listed.err)")
        let ours = try flashsmith("uimage", "inspect", "--json", img)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(ours.stdout)) as? [String: Any])
        #expect(listed.out.contains("Image Type:   \(json["description"] as? String ?? "?")"), "\(listed.out)")
        #expect(listed.out.contains("Image Name:   \(c.args[c.args.firstIndex(of: "-n")! + 1])"))
        #expect(try run("dumpimage", ["-l", img]).out == listed.out)
        if c.args.contains("multi") {
            for (i, expected) in c.files.enumerated() {
                let r = try run("dumpimage", ["-T", "multi", "-p", "\(i)", "-o", dir.file("d\(i)"), img])
                #expect(r.status == 0, "\(r.err)")
                #expect(try readBytes(dir.file("d\(i)")) == expected)
                #expect(try flashsmith("uimage", "extract", img, "-p", "\(i)", "-o", dir.file("f\(i)")).status == 0)
                #expect(try readBytes(dir.file("f\(i)")) == expected)
            }
        } else if !c.args.contains("script") {
            #expect(try run("dumpimage", ["-T", "kernel", "-p", "0", "-o", dir.file("d"), img]).status == 0)
            #expect(try readBytes(dir.file("d")) == c.files[0])
        }
    }

    /// Flashsmith reads what mkimage makes, and catches a flipped byte that mkimage -l also rejects.
    @Test func readsMkimageImagesAndCatchesCorruption() throws {
        guard toolsAvailable("mkimage") else { return }
        let dir = try TempDir()
        let c = Self.cases[4]
        let data = try write(dir, c)
        #expect(try run("mkimage", c.args + ["-d", data, dir.file("peer.img")]).status == 0)
        let r = try flashsmith("uimage", "inspect", "--json", dir.file("peer.img"))
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains(#""arch": "mips""#) && r.out.contains(#""entry": "0x80010400""#))
        for (i, expected) in c.files.enumerated() {
            #expect(try flashsmith("uimage", "extract", dir.file("peer.img"), "-p", "\(i)", "-o", dir.file("p\(i)")).status == 0)
            #expect(try readBytes(dir.file("p\(i)")) == expected)
        }
        var bytes = try readBytes(dir.file("peer.img"))
        bytes[bytes.count - 2] ^= 0x40
        let bad = try dir.write("bad.img", bytes)
        let ours = try flashsmith("uimage", "inspect", bad)
        #expect(ours.status == 65 && ours.err.contains("ih_dcrc): data CRC mismatch"))
        #expect(try flashsmith("uimage", "extract", bad, "-o", dir.file("x")).status == 65)
        #expect(!FileManager.default.fileExists(atPath: dir.file("x")))
        #expect(try flashsmith("uimage", "extract", bad, "--force", "-o", dir.file("x")).status == 0)
    }
}

/// `--compress`: the payload U-Boot will decompress is what the stock tools decompress back to the input.
@Suite struct UImageCompressInteropTests {
    static let tools: [(algo: String, tool: String, args: [String])] = [
        ("gzip", "gzip", ["-dc"]), ("bzip2", "bzip2", ["-dc"]), ("lzma", "xz", ["--format=lzma", "-dc"]),
        ("lz4", "lz4", ["-dc"]), ("zstd", "zstd", ["-dc"]),
    ]

    @Test(arguments: tools.map(\.algo))
    func compressedPayloadRoundTrips(algo: String) throws {
        let t = try #require(Self.tools.first { $0.algo == algo })
        guard toolsAvailable("dumpimage", "mkimage", t.tool) else { return }
        let dir = try TempDir()
        let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: ($0 / 7) &* 3) }
        let input = try dir.write("Image", payload)
        let img = dir.file("k.uimg")
        let r = try flashsmith("uimage", "create", "-A", "arm64", "-T", "kernel", "--compress", algo, "-a", "0x40400000", "-n", "k", "-d", input, "-o", img)
        #expect(r.status == 0, "\(r.err)")
        #expect(try run("mkimage", ["-l", img]).out.contains("AArch64 Linux Kernel Image (\(algo) compressed)"))
        #expect(try run("dumpimage", ["-T", "kernel", "-p", "0", "-o", dir.file("p"), img]).status == 0)
        let back = try run(t.tool, t.args + [dir.file("p")])
        #expect(back.status == 0, "\(back.err)")
        #expect(back.stdout == payload)
        // Same input, same bytes (gzip is written without its timestamp).
        let again = dir.file("k2.uimg")
        #expect(try run(flashsmithPath, ["uimage", "create", "-A", "arm64", "-T", "kernel", "--compress", algo, "-a", "0x40400000", "-n", "k", "-d", input, "-o", again],
                        environment: ["SOURCE_DATE_EPOCH": "1"]).status == 0)
        #expect(try run(flashsmithPath, ["uimage", "create", "-A", "arm64", "-T", "kernel", "--compress", algo, "-a", "0x40400000", "-n", "k", "-d", input, "-o", img],
                        environment: ["SOURCE_DATE_EPOCH": "1"]).status == 0)
        #expect(try readBytes(img) == readBytes(again))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("flashsmith") }.isEmpty)
    }

    @Test func disagreeingCompressionIsRefused() throws {
        let dir = try TempDir()
        let input = try dir.write("Image", [1, 2, 3])
        let r = try flashsmith("uimage", "create", "-A", "arm64", "-C", "gzip", "--compress", "zstd", "-d", input, "-o", dir.file("o"))
        #expect(r.status == 64 && r.err.contains("-C gzip and --compress zstd disagree"))
    }
}
