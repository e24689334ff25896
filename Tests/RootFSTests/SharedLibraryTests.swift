import FlashsmithCore
import Foundation
import Testing
import TestSupport
@testable import RootFS

/// A minimal dynamic ELF built by hand: PT_INTERP, PT_LOAD over the whole file, PT_DYNAMIC with
/// DT_NEEDED, DT_RUNPATH, DT_STRTAB, DT_STRSZ; either class and byte order.
func syntheticELF(is64: Bool, order: ByteOrder, machine: UInt16, interp: String, needed: [String], runpath: String?) -> [UInt8] {
    let ehsize = is64 ? 64 : 52, phentsize = is64 ? 56 : 32, phnum = 3
    var strings: [UInt8] = [0]
    var neededOffsets: [Int] = []
    for n in needed {
        neededOffsets.append(strings.count)
        strings += Array(n.utf8) + [0]
    }
    let runpathOffset = strings.count
    if let r = runpath { strings += Array(r.utf8) + [0] }
    let interpBytes = Array(interp.utf8) + [0]
    let interpOff = ehsize + phnum * phentsize
    let strOff = interpOff + interpBytes.count
    let dynOff = (strOff + strings.count + 7) / 8 * 8
    var dyn: [(UInt64, UInt64)] = neededOffsets.map { (1, UInt64($0)) }
    if runpath != nil { dyn.append((29, UInt64(runpathOffset))) }
    dyn += [(5, UInt64(0x1000 + strOff)), (10, UInt64(strings.count)), (0, 0)]
    let dynSize = dyn.count * (is64 ? 16 : 8)
    let total = dynOff + dynSize
    var w = ByteWriter()
    w.append(contentsOf: [0x7F, 0x45, 0x4C, 0x46, is64 ? 2 : 1, order == .little ? 1 : 2, 1, 0])
    w.pad(to: 16, with: 0)
    w.append(UInt16(3), order)  // ET_DYN
    w.append(machine, order)
    w.append(UInt32(1), order)
    func word(_ v: Int) { if is64 { w.append(UInt64(v), order) } else { w.append(UInt32(v), order) } }
    word(0)  // entry
    word(ehsize)  // phoff
    word(0)  // shoff
    w.append(UInt32(0), order)  // flags
    w.append(UInt16(ehsize), order)
    w.append(UInt16(phentsize), order)
    w.append(UInt16(phnum), order)
    w.append(UInt16(0), order)
    w.append(UInt16(0), order)
    w.append(UInt16(0), order)
    func phdr(_ type: UInt32, _ off: Int, _ size: Int) {
        if is64 {
            w.append(type, order); w.append(UInt32(4), order)
            w.append(UInt64(off), order); w.append(UInt64(0x1000 + off), order); w.append(UInt64(0x1000 + off), order)
            w.append(UInt64(size), order); w.append(UInt64(size), order); w.append(UInt64(8), order)
        } else {
            w.append(type, order); w.append(UInt32(off), order); w.append(UInt32(0x1000 + off), order); w.append(UInt32(0x1000 + off), order)
            w.append(UInt32(size), order); w.append(UInt32(size), order); w.append(UInt32(4), order); w.append(UInt32(8), order)
        }
    }
    phdr(3, interpOff, interpBytes.count)
    phdr(1, 0, total)
    phdr(2, dynOff, dynSize)
    w.append(contentsOf: interpBytes)
    w.append(contentsOf: strings)
    w.pad(to: dynOff, with: 0)
    for (t, v) in dyn {
        if is64 { w.append(t, order); w.append(v, order) } else { w.append(UInt32(t), order); w.append(UInt32(v), order) }
    }
    return w.bytes
}

@Suite struct ELFTests {
    @Test(arguments: [(true, ByteOrder.little, UInt16(183)), (false, .big, 8), (false, .little, 40), (true, .big, 21)])
    func readsEveryClassAndByteOrder(is64: Bool, order: ByteOrder, machine: UInt16) throws {
        let dir = try TempDir()
        let f = try dir.write("a.out", syntheticELF(is64: is64, order: order, machine: machine, interp: "/lib/ld.so.1", needed: ["libfoo.so.1", "libc.so.6"], runpath: "$ORIGIN/../lib"))
        let e = try ELFFile.read(f)
        #expect(e.elfClass == (is64 ? .elf64 : .elf32) && e.byteOrder == order && e.machine == machine)
        #expect(e.interpreter == "/lib/ld.so.1")
        #expect(e.needed == ["libfoo.so.1", "libc.so.6"])
        #expect(e.runpath == ["$ORIGIN/../lib"])
    }

    @Test func malformedFilesNameTheOffset() throws {
        let dir = try TempDir()
        var bytes = syntheticELF(is64: true, order: .little, machine: 62, interp: "/x", needed: ["a"], runpath: nil)
        bytes[4] = 7
        #expect(throws: ELFError(path: dir.file("bad"), offset: 4, message: "EI_CLASS: expected 1 or 2, found 7")) {
            try ELFFile.read(try dir.write("bad", bytes))
        }
        let cut = try dir.write("cut", Array(syntheticELF(is64: true, order: .little, machine: 62, interp: "/x", needed: ["a"], runpath: nil).prefix(100)))
        #expect(throws: ELFError.self) { try ELFFile.read(cut) }
    }

    /// A 32-bit big-endian target sysroot: $ORIGIN in RUNPATH, a symlink chain, a library of the wrong
    /// machine skipped, and a missing one reported.
    @Test func foreignSysrootClosure() throws {
        let dir = try TempDir()
        let root = dir.path
        for d in ["/bin", "/lib", "/opt/app/lib", "/usr/lib/mips-linux-gnu"] {
            try FileManager.default.createDirectory(atPath: root + d, withIntermediateDirectories: true)
        }
        _ = try dir.write("bin/app", syntheticELF(is64: false, order: .big, machine: 8, interp: "/lib/ld.so.1", needed: ["libapp.so.1", "libc.so.6", "libgone.so"], runpath: "$ORIGIN/../opt/app/lib"))
        _ = try dir.write("opt/app/lib/libapp.so.1.2", syntheticELF(is64: false, order: .big, machine: 8, interp: "/lib/ld.so.1", needed: ["libc.so.6"], runpath: nil))
        try FileManager.default.createSymbolicLink(atPath: root + "/opt/app/lib/libapp.so.1", withDestinationPath: "libapp.so.1.2")
        // A libc of another machine earlier in the search path must be skipped.
        _ = try dir.write("lib/libc.so.6", syntheticELF(is64: true, order: .little, machine: 62, interp: "/x", needed: [], runpath: nil))
        _ = try dir.write("usr/lib/mips-linux-gnu/libc-2.36.so", syntheticELF(is64: false, order: .big, machine: 8, interp: "/lib/ld.so.1", needed: [], runpath: nil))
        try FileManager.default.createSymbolicLink(atPath: root + "/usr/lib/mips-linux-gnu/libc.so.6", withDestinationPath: "/usr/lib/mips-linux-gnu/libc-2.36.so")
        // The interpreter is a link that tries to climb out of the sysroot: it must stay inside.
        try FileManager.default.createSymbolicLink(atPath: root + "/lib/ld.so.1", withDestinationPath: "../../../../../usr/lib/mips-linux-gnu/libc-2.36.so")
        let c = try SharedLibraryClosure.compute(binaries: ["/bin/app"], sysroot: Sysroot(root))
        #expect(c.files == ["/bin/app", "/opt/app/lib/libapp.so.1.2", "/usr/lib/mips-linux-gnu/libc-2.36.so"])
        #expect(c.symlinks.map(\.path) == ["/lib/ld.so.1", "/opt/app/lib/libapp.so.1", "/usr/lib/mips-linux-gnu/libc.so.6"])
        #expect(c.missing == [SharedLibraryClosure.Missing(name: "libgone.so", neededBy: "/bin/app")])
        let r = try flashsmith("rootfs", "ldd", "--sysroot", root, "/bin/app")
        #expect(r.status == 65 && r.out.contains("/bin/app: libgone.so => not found"))
    }
}

/// The host's real binaries: the same libraries glibc's own loader lists (`ldd`).
@Suite struct LddInteropTests {
    @Test(arguments: ["/usr/bin/qemu-system-aarch64", "/usr/bin/fw_printenv", "/usr/sbin/nandwrite", "/usr/bin/dtc"])
    func sameLibrariesAsLdd(binary: String) throws {
        guard toolsAvailable("ldd"), filesAvailable(binary) else { return }
        let ldd = try run("ldd", [binary])
        #expect(ldd.status == 0)
        var expected = Set<String>()
        for line in ldd.out.split(separator: "\n") {
            let parts = line.split(separator: " ")
            let path = line.contains("=>") ? parts.drop { $0 != "=>" }.dropFirst().first : parts.first
            guard let p = path.map({ String($0).trimmingCharacters(in: .whitespaces) }), p.hasPrefix("/") else { continue }
            expected.insert(URL(fileURLWithPath: p).resolvingSymlinksInPath().path)
        }
        expected.insert(URL(fileURLWithPath: binary).resolvingSymlinksInPath().path)
        let r = try flashsmith("rootfs", "ldd", "--json", binary)
        #expect(r.status == 0, "\(r.err)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any])
        let ours = Set((json["files"] as? [String]) ?? [])
        #expect(ours == expected, "only ours: \(ours.subtracting(expected).sorted()); only ldd: \(expected.subtracting(ours).sorted())")
    }
}
