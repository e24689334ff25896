import Foundation
import Testing
import TestSupport

/// Every shipped NAND board, built twice: every output the same bytes (the chip images with and
/// without OOB, the UBI image and the UBIFS inside it included). Before Flashsmith wrote UBIFS
/// itself, mkfs.ubifs's random UUID made `nandsim.img`, `nandsim.oob.img` and `rootfs.img` differ.
@Suite struct NANDBoardReproducibleTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test("two builds, every output identical", arguments: ["nandsim", "s5pc100", "slc-4k"])
    func twoBuildsSameBytes(board: String) throws {
        let dir = try TempDir()
        for out in ["a", "b"] {
            let r = try run(flashsmithPath, ["build", "\(Self.repo)/layouts/\(board)", "-o", out], cwd: dir.path)
            try #require(r.status == 0, "\(r.err)")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.file("a")).sorted()
        #expect(names == (try FileManager.default.contentsOfDirectory(atPath: dir.file("b")).sorted()))
        #expect(names.contains("\(board).img") && names.contains("\(board).oob.img"), "\(names)")
        // The marker records the command line, chip-fw_env.config the chip image's path: both name the folder.
        for n in names where n != ".flashsmith-output" && n != "chip-fw_env.config" {
            let same = try readBytes(dir.file("a/\(n)")) == readBytes(dir.file("b/\(n)"))
            #expect(same, "\(board): \(n) differs between two builds")
        }
    }
}
