import Foundation
import Testing
import TestSupport

/// `env set` says, in one line on stderr, when the layout it updates cannot survive a power cut (a
/// single copy written in place: on a block device here, on MTD in E2ETests/MTDEnvTests), and says
/// nothing when it can (a redundant pair; a plain file, replaced by rename). The cut points themselves
/// are tested in UBootEnvTests/PowerCutTests.
@Suite struct EnvPowerCutCLITests {
    func makeEnv(_ dir: TempDir, redundant: Bool) throws -> [UInt8] {
        let r = try flashsmith(["env", "create", "-s", "0x1000"] + (redundant ? ["-r", "--copies", "2"] : []), stdin: Array("a=1\nbootcount=1\n".utf8))
        try #require(r.status == 0, "\(r.err)")
        return r.stdout
    }

    @Test("a plain file, single or redundant, is replaced by rename: no warning", arguments: [false, true])
    func plainFileNeedsNoWarning(redundant: Bool) throws {
        let dir = try TempDir()
        let env = try dir.write("env.bin", try makeEnv(dir, redundant: redundant))
        let r = try flashsmith("env", "set", env, "bootcount=2")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.isEmpty, "\(r.err)")
        #expect(try flashsmith("env", "print", env, "-n", "bootcount").out == "2\n")
    }

    /// The file is replaced, not the link to it (the old code renamed a regular file over the link).
    @Test func setThroughASymlinkKeepsTheLink() throws {
        let dir = try TempDir()
        let env = try dir.write("env.bin", try makeEnv(dir, redundant: true))
        let link = dir.file("current.env")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "env.bin")
        let r = try flashsmith("env", "set", link, "bootcount=5")
        #expect(r.status == 0, "\(r.err)")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == "env.bin")
        #expect(try flashsmith("env", "print", env, "-n", "bootcount").out == "5\n")
    }

    /// A loop device stands in for an eMMC or SD card: a single copy there is rewritten in place.
    @Test func singleCopyOnABlockDeviceWarnsInOneLine() throws {
        guard toolsAvailable("losetup") else { return }
        let dir = try TempDir()
        var disk = [UInt8](repeating: 0, count: 0x10000)
        disk.replaceSubrange(0x4000..<0x5000, with: try makeEnv(dir, redundant: false))
        let pair = try makeEnv(dir, redundant: true)
        disk.replaceSubrange(0x8000..<0xA000, with: pair)
        let image = try dir.write("disk.img", disk)
        let attach = try run("losetup", ["--find", "--show", image])
        guard attach.status == 0 else {
            let msg = "losetup cannot attach a loop device here: \(attach.err)"
            if isCI { Issue.record(Comment(rawValue: msg)) } else { print("SKIP: \(msg)") }
            return
        }
        let loop = attach.out.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? run("losetup", ["-d", loop]) }

        let single = try dir.write("single.config", "\(loop) 0x4000 0x1000\n")
        let r = try flashsmith("env", "set", "-c", single, "bootcount=2")
        #expect(r.status == 0, "\(r.err)")
        let lines = r.err.split(separator: "\n")
        #expect(lines.count == 1, "\(r.err)")
        #expect(r.err.hasPrefix("flashsmith: warning: \(loop) holds a single environment copy, rewritten in place: a power cut during the write leaves no valid environment"), "\(r.err)")
        #expect(r.err.contains("a redundant pair"), "\(r.err)")
        #expect(try flashsmith("env", "print", "-c", single, "-n", "bootcount").out == "2\n")

        let redundant = try dir.write("pair.config", "\(loop) 0x8000 0x1000\n\(loop) 0x9000 0x1000\n")
        let p = try flashsmith("env", "set", "-c", redundant, "bootcount=3")
        #expect(p.status == 0, "\(p.err)")
        #expect(p.err.isEmpty, "a redundant pair survives a power cut; no warning expected: \(p.err)")
        #expect(try flashsmith("env", "print", "-c", redundant, "-n", "bootcount").out == "3\n")
    }
}
