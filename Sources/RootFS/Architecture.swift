import FlashsmithCore

/// The machine a root filesystem is for, as ELF files name it (`e_machine`, class, byte order;
/// System V gABI, `elf.h`). A rootfs holds one architecture: the first of its board's `arch:` (or
/// its kernel's header), `rootfs build --arch`, its busybox, or its first bundled binary decides,
/// and every ELF file that a layer adds from a host path after that must match.
public struct Architecture: Sendable, Equatable, CustomStringConvertible {
    public var machine: UInt16
    public var elfClass: ELFFile.Class
    public var byteOrder: ByteOrder
    /// Where it came from, for messages ("board arch arm64", "busybox /x/bin/busybox").
    public var source: String

    public init(machine: UInt16, elfClass: ELFFile.Class, byteOrder: ByteOrder, source: String) {
        self.machine = machine
        self.elfClass = elfClass
        self.byteOrder = byteOrder
        self.source = source
    }

    public init(of elf: ELFFile, source: String) {
        self.init(machine: elf.machine, elfClass: elf.elfClass, byteOrder: elf.byteOrder, source: source)
    }

    /// e_machine values (elf.h).
    static let emI386: UInt16 = 3, emMIPS: UInt16 = 8, emPPC: UInt16 = 20, emPPC64: UInt16 = 21
    static let emARM: UInt16 = 40, emX86_64: UInt16 = 62, emAArch64: UInt16 = 183, emRISCV: UInt16 = 243

    /// The names users give (U-Boot's and Debian's and the kernel's): arm64, aarch64, arm, armhf,
    /// x86_64, amd64, i386, x86, riscv64, riscv, riscv32, mips, mipsel, powerpc, ppc64, ppc64el.
    static let names: [(names: [String], machine: UInt16, cls: ELFFile.Class, order: ByteOrder)] = [
        (["arm64", "aarch64"], emAArch64, .elf64, .little),
        (["arm", "armhf", "armel"], emARM, .elf32, .little),
        (["x86_64", "amd64"], emX86_64, .elf64, .little),
        (["i386", "x86", "i686"], emI386, .elf32, .little),
        (["riscv64", "riscv"], emRISCV, .elf64, .little),
        (["riscv32"], emRISCV, .elf32, .little),
        (["mips"], emMIPS, .elf32, .big),
        (["mipsel"], emMIPS, .elf32, .little),
        (["powerpc", "ppc"], emPPC, .elf32, .big),
        (["ppc64"], emPPC64, .elf64, .big),
        (["ppc64el", "ppc64le"], emPPC64, .elf64, .little),
    ]

    /// Every name ``named(_:source:)`` accepts, for messages.
    public static var knownNames: [String] { names.flatMap(\.names) }

    /// The architecture a user names, or nil for a name not in the table.
    public static func named(_ name: String, source: String) -> Architecture? {
        let n = name.lowercased()
        guard let row = names.first(where: { $0.names.contains(n) }) else { return nil }
        return Architecture(machine: row.machine, elfClass: row.cls, byteOrder: row.order, source: source)
    }

    /// A short name: aarch64, arm, x86_64, i386, riscv64, mips (big-endian), ….
    public var name: String {
        let probe = ELFFile(path: "", elfClass: elfClass, byteOrder: byteOrder, machine: machine, type: 0, interpreter: nil, needed: [], rpath: [], runpath: [], soname: nil)
        var n = probe.machineName
        if machine == Self.emRISCV { n += elfClass == .elf64 ? "64" : "32" }
        if machine == Self.emPPC64, byteOrder == .little { n += "le" }
        if machine == Self.emMIPS, byteOrder == .little { n += "el" }
        return n
    }

    public var description: String { "\(name) (from \(source))" }

    /// Whether an ELF file of `elf` runs here: same machine, class and byte order. (ARM's e_flags
    /// ABI variants are not compared: armel and armhf binaries both say EM_ARM, ELFCLASS32.)
    public func accepts(_ elf: ELFFile) -> Bool {
        elf.machine == machine && elf.elfClass == elfClass && elf.byteOrder == byteOrder
    }

    /// The one-line error for an ELF file of another architecture.
    public func mismatch(_ elf: ELFFile, what: String) -> RootFSError {
        let found = Architecture(of: elf, source: elf.path)
        return RootFSError(message: "\(what): \(elf.path) is \(found.name), but this root filesystem is \(description); give files built for \(name) (a target sysroot: --sysroot / bundle sysroot:)")
    }
}
