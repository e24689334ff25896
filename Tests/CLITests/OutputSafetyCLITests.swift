import FlashsmithCore
import Foundation
import Testing
import TestSupport

/// Outputs never destroy what the user had: `-o` makes its missing folders; a folder is replaced
/// only when it is empty or Flashsmith wrote it (`--force` otherwise); a rootfs output name whose
/// extension names no format Flashsmith writes is an error, never a folder of that name.
@Suite struct OutputSafetyCLITests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func names(_ path: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }

    /// A fresh clone has no out/: every kind of output makes its folders.
    @Test(arguments: [
        ["build", "\(repo)/layouts/s5pc100", "-o", "@/out/s5pc100"],
        ["rootfs", "build", "--skeleton", "base", "-o", "@/out/rootfs"],
        ["rootfs", "build", "--skeleton", "base", "-o", "@/out/deeper/rootfs.tar.gz"],
        ["rootfs", "nfsroot", "--skeleton", "base", "--server", "10.0.0.1", "-o", "@/out/nfs/board"],
        ["env", "create", "-s", "0x1000", "-o", "@/out/env/env.bin", "\(repo)/layouts/nandsim/uboot-env.txt"],
    ])
    func outputsMakeTheirFolders(arguments: [String]) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let args = arguments.map { $0.replacingOccurrences(of: "@", with: dir.path) }
        let r = try flashsmith(args)
        #expect(r.status == 0, "\(args): \(r.err)")
        #expect(FileManager.default.fileExists(atPath: args[args.firstIndex(of: "-o")! + 1]))
    }

    /// `build -o DIR` on a folder holding the user's file: refused in one line naming the folder and
    /// --force, the file kept; with --force replaced; then Flashsmith's own, rebuilt without --force.
    @Test func buildKeepsAFolderItDidNotWrite() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let tftp = dir.file("tftp")
        try FileManager.default.createDirectory(atPath: tftp, withIntermediateDirectories: false)
        _ = try dir.write("tftp/zImage", "the user's kernel")
        let r = try flashsmith("build", "\(Self.repo)/layouts/s5pc100", "-o", tftp)
        #expect(r.status == 73)
        #expect(r.err == "flashsmith: error: \(tftp): cannot create: the folder holds files and was not written by Flashsmith (no .flashsmith-output or user.flashsmith marker): nothing replaced; use --force to replace it\n", "\(r.err)")
        #expect(try names(tftp) == ["zImage"])
        #expect(try names(dir.path) == ["tftp"])
        let forced = try flashsmith("build", "\(Self.repo)/layouts/s5pc100", "-o", tftp, "--force")
        #expect(forced.status == 0, "\(forced.err)")
        #expect(try names(tftp).contains(".flashsmith-output") && !names(tftp).contains("zImage"))
        let marker = try String(contentsOfFile: "\(tftp)/.flashsmith-output", encoding: .utf8)
        #expect(marker.hasPrefix("flashsmith build ") && marker.contains("-o \(tftp)"), "\(marker)")
        #expect(try flashsmith("build", "\(Self.repo)/layouts/s5pc100", "-o", tftp).status == 0)
    }

    /// The same for a root filesystem folder and an NFS root, whose marker is the folder's
    /// `user.flashsmith` attribute: the tree itself holds exactly the manifest's entries.
    @Test(arguments: [
        ["rootfs", "build", "--skeleton", "base", "-o"],
        ["rootfs", "nfsroot", "--skeleton", "base", "--server", "10.0.0.1", "-o"],
    ])
    func rootfsFoldersKeepAFolderTheyDidNotWrite(command: [String]) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let root = dir.file("nfs")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        _ = try dir.write("nfs/home.tar", "the user's backup")
        let r = try flashsmith(command + [root])
        #expect(r.status == 73 && r.err.contains("\(root): cannot create: the folder holds files and was not written by Flashsmith") && r.err.contains("use --force"), "\(r.err)")
        #expect(try names(root) == ["home.tar"])
        let forced = try flashsmith(command + [root, "--force"])
        #expect(forced.status == 0, "\(forced.err)")
        #expect(try !names(root).contains("home.tar") && !names(root).contains { $0.hasPrefix(".flashsmith") })
        let ls = try flashsmith("rootfs", "ls", try dir.write("spec.yaml", "layers:\n  - skeleton: base\n"), "--json")
        let entries = (try JSONSerialization.jsonObject(with: Data(ls.stdout)) as? [[String: Any]])?.compactMap { $0["path"] as? String } ?? []
        let top = Set(entries.compactMap { p -> String? in
            let parts = p.split(separator: "/")
            return parts.count == 1 ? String(parts[0]) : nil
        })
        #expect(Set(try names(root)) == top, "the top of the tree is the manifest's")
        #expect(AtomicFolder.isMarked(root), "the folder carries user.flashsmith")
        // Marked now: replaced without --force.
        #expect(try flashsmith(command + [root]).status == 0)
    }

    /// `rootfs build -o x.squashfs` once wrote a folder called x.squashfs (squashfs and ext4 are
    /// written now): a name of a format Flashsmith does not write is an error listing what is
    /// written, and nothing is made; --format says otherwise on purpose; a trailing / is a folder.
    @Test(arguments: ["x.jffs2", "x.erofs", "x.cpio.lzo", "x.img", "x.gz"])
    func anExtensionOfNoWrittenFormatIsAnError(name: String) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let r = try flashsmith("rootfs", "build", "--skeleton", "base", "-o", dir.file(name))
        #expect(r.status == 64, "\(r.out)\(r.err)")
        #expect(r.err.hasPrefix("flashsmith: error: \(dir.file(name)): '.") && r.err.contains(".tar or .cpio") && r.err.contains("--format") && r.err.split(separator: "\n").count == 1, "\(r.err)")
        #expect(try names(dir.path).isEmpty)
        let asked = try flashsmith("rootfs", "build", "--skeleton", "base", "-o", dir.file(name), "--format", "tar")
        #expect(asked.status == 0, "\(asked.err)")
    }

    @Test(arguments: [("rootfs", "dir"), ("rootfs-1.2", "dir"), ("x.squashfs/", "dir"), ("r.tar", "tar")])
    func namesThatAreWritten(name: String, format: String) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let r = try flashsmith("rootfs", "build", "--skeleton", "base", "-o", dir.file(name), "--json")
        #expect(r.status == 0 && r.out.contains("\"format\": \"\(format)\""), "\(r.out)\(r.err)")
    }
}
