import Foundation
import Testing
import TestSupport

/// `rootfs sysroot` against `dpkg -x`: the same tree (types, modes, link targets) and the same bytes.
@Suite struct DebianPackageInteropTests {
    func listing(_ root: String) throws -> [String] {
        try run("/bin/sh", ["-c", "cd \"$0\" && find . -printf '%p %y %m %l\\n' | LC_ALL=C sort", root]).out.split(separator: "\n").map(String.init)
    }

    @Test func sameTreeAsDpkgX() throws {
        guard toolsAvailable("apt-get", "dpkg"), toolsAvailable("diff") else { return }
        let dir = try TempDir()
        let dl = try run("/bin/sh", ["-c", "cd \"$0\" && apt-get download busybox-static libubootenv-tool", dir.path])
        guard dl.status == 0 else {
            if isCI { Issue.record("apt-get download failed: \(dl.err)") } else { print("SKIP: apt-get download failed (no package lists?): \(dl.err)") }
            return
        }
        let debs = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".deb") }.sorted().map { dir.file($0) }
        #expect(debs.count == 2)
        let r = try flashsmith(["rootfs", "sysroot"] + debs + ["-o", dir.file("ours")])
        #expect(r.status == 0, "\(r.err)")
        for d in debs { #expect(try run("dpkg", ["-x", d, dir.file("theirs")]).status == 0) }
        #expect(try listing(dir.file("ours")) == listing(dir.file("theirs")))
        #expect(try run("diff", ["-r", dir.file("ours"), dir.file("theirs")]).status == 0)
    }

    /// A package whose data.tar names "./../escape": refused, naming the entry, and nothing lands outside.
    @Test func entriesLeavingTheSysrootAreRefused() throws {
        guard toolsAvailable("python3") else { return }
        let dir = try TempDir()
        let script = """
            import io, tarfile, sys
            def tar(entries):
                b = io.BytesIO()
                with tarfile.open(fileobj=b, mode='w') as t:
                    for name, data in entries:
                        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
                return b.getvalue()
            def member(name, data):
                h = name.ljust(16).encode() + b'0'.ljust(12) + b'0'.ljust(6) + b'0'.ljust(6) + b'100644'.ljust(8) + str(len(data)).ljust(10).encode() + b'`\\n'
                return h + data + (b'\\n' if len(data) % 2 else b'')
            data = tar([('./usr/ok', b'fine'), ('./../escape', b'evil')])
            deb = b'!<arch>\\n' + member('debian-binary', b'2.0\\n') + member('control.tar', tar([('./control', b'Package: x\\n')])) + member('data.tar', data)
            open(sys.argv[1], 'wb').write(deb)
            """
        #expect(try run("python3", ["-c", script, dir.file("evil.deb")]).status == 0)
        try FileManager.default.createDirectory(atPath: dir.file("out"), withIntermediateDirectories: true)
        let r = try flashsmith("rootfs", "sysroot", dir.file("evil.deb"), "-o", dir.file("out/root"))
        #expect(r.status == 65)
        #expect(r.err.contains("data.tar: entry './../escape': expected a path inside the package, found one that leaves it"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out/escape")))
        // Checked before anything is written: not even the harmless entry before it.
        #expect(!FileManager.default.fileExists(atPath: dir.file("out/root")))
        #expect(!FileManager.default.fileExists(atPath: dir.file("escape")))
    }
}
