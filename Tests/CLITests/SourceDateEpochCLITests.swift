import Foundation
import Testing
import TestSupport

/// SOURCE_DATE_EPOCH is checked the same way by every command (`SourceDateEpoch`): a value that is
/// not a number of seconds, or one past what uImage, FIT and cpio time fields hold (32 bits), is a
/// usage error naming where it came from. The old binaries fell back to the clock (uimage create,
/// fit build: a typo made the output silently unreproducible), truncated it to 32 bits, or wrote a
/// cpio whose times wrapped.
@Suite struct SourceDateEpochCLITests {
    struct Case: Sendable, CustomStringConvertible {
        var command: String
        var args: [String]
        var description: String { command }
    }

    static let commands: [Case] = [
        Case(command: "uimage create", args: ["uimage", "create", "-A", "arm64", "-T", "kernel", "-C", "none", "-a", "0x40000000", "-e", "0x40000000", "-n", "k", "-d", "k.bin", "-o", "k.uimg"]),
        Case(command: "fit build", args: ["fit", "build", "s.its", "-o", "o.itb"]),
        Case(command: "rootfs build (cpio)", args: ["rootfs", "build", "--skeleton", "base", "-o", "r.cpio"]),
        Case(command: "rootfs build (tar)", args: ["rootfs", "build", "--skeleton", "base", "-o", "r.tar"]),
    ]

    static let its = """
        /dts-v1/;
        / { description = "t"; #address-cells = <1>;
            images { kernel-1 { data = /incbin/("k.bin"); type = "kernel"; arch = "arm64"; os = "linux";
                compression = "none"; load = <0x40000000>; entry = <0x40000000>; hash-1 { algo = "crc32"; }; }; };
            configurations { default = "conf-1"; conf-1 { kernel = "kernel-1"; }; };
        };
        """

    func folder() throws -> TempDir {
        let dir = try TempDir()
        _ = try dir.write("k.bin", String(repeating: "k", count: 1000))
        _ = try dir.write("s.its", Self.its)
        return dir
    }

    @Test(arguments: commands, ["abc", "-1", "1e9", "4294967296", "9223372036854775807", "99999999999999999999"])
    func badValuesAreUsageErrors(c: Case, value: String) throws {
        let dir = try folder()
        let r = try run(flashsmithPath, c.args, cwd: dir.path, environment: ["SOURCE_DATE_EPOCH": value])
        #expect(r.status == 64, "\(r.status): \(r.err)")
        #expect(r.err.contains("SOURCE_DATE_EPOCH: expected seconds since 1970, 0 to 4294967295"), "\(r.err)")
        #expect(r.err.contains(value), "\(r.err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["k.bin", "s.its"])
    }

    /// The largest value every format holds: accepted, and the cpio really carries it (read by GNU
    /// cpio, the peer), as does the uImage header (read back by dumpimage when present).
    @Test(arguments: commands)
    func theLargestValueIsKeptExactly(c: Case) throws {
        let dir = try folder()
        let r = try run(flashsmithPath, c.args, cwd: dir.path, environment: ["SOURCE_DATE_EPOCH": "4294967295"])
        #expect(r.status == 0, "\(r.err)")
        if c.args.last == "r.cpio", let cpio = which("cpio") {
            let list = try run(cpio, ["-itv", "--quiet", "-F", "r.cpio"], cwd: dir.path, environment: ["TZ": "UTC"])
            #expect(list.status == 0 && list.out.contains("Feb  7  2106"), "\(list.out)")
        }
    }

    @Test func theOptionAndTheSpecKeyAreCheckedToo() throws {
        let dir = try folder()
        let o = try run(flashsmithPath, ["rootfs", "build", "--skeleton", "base", "--source-date-epoch", "4294967296", "-o", "r.cpio"], cwd: dir.path)
        #expect(o.status == 64 && o.err.contains("--source-date-epoch: expected seconds since 1970, 0 to 4294967295 (uImage, FIT and cpio times are 32-bit), found 4294967296"), "\(o.err)")
        _ = try dir.write("spec.yaml", "source-date-epoch: 9223372036854775807\nlayers:\n  - skeleton: base\n")
        let s = try run(flashsmithPath, ["rootfs", "build", "spec.yaml", "-o", "r.cpio"], cwd: dir.path)
        #expect(s.status != 0 && s.err.contains("spec.yaml:1: source-date-epoch: expected seconds since 1970, 0 to 4294967295"), "\(s.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/r.cpio"))
    }
}
