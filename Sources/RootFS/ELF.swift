import FlashsmithCore

/// ELF object files, as far as bundling needs them (System V ABI, "ELF-64 Object File Format" and
/// the 32-bit gABI; `elf.h`): class and byte order from `e_ident`, the program headers for
/// `PT_INTERP` and `PT_DYNAMIC`, and the dynamic section's `DT_NEEDED`, `DT_RPATH`, `DT_RUNPATH`,
/// `DT_SONAME` strings (found through `DT_STRTAB`, an address mapped back to the file by `PT_LOAD`).
/// ```
/// e_ident: 7f 'E' 'L' 'F' | class (1: 32, 2: 64) | data (1: LE, 2: BE) | version | …
///          32-bit                     64-bit
/// e_type      +16 u16                   +16 u16
/// e_machine   +18 u16                   +18 u16
/// e_phoff     +28 u32                   +32 u64
/// e_phentsize +42 u16                   +54 u16
/// e_phnum     +44 u16                   +56 u16
/// Phdr: p_type +0, p_offset +4|+8, p_vaddr +8|+16, p_filesz +16|+32 (32-bit | 64-bit)
/// Dyn:  d_tag, d_val: 2×u32 | 2×u64
/// ```
/// Every read is bounds-checked; a malformed file is an error naming the file and the offset.
public struct ELFFile: Sendable, Equatable {
    public enum Class: Sendable, Equatable { case elf32, elf64 }

    public var path: String
    public var elfClass: Class
    public var byteOrder: ByteOrder
    public var machine: UInt16
    public var type: UInt16
    public var interpreter: String?
    public var needed: [String]
    public var rpath: [String]
    public var runpath: [String]
    public var soname: String?

    static let ptLoad: UInt32 = 1, ptDynamic: UInt32 = 2, ptInterp: UInt32 = 3
    static let dtNull: UInt64 = 0, dtNeeded: UInt64 = 1, dtStrtab: UInt64 = 5, dtStrsz: UInt64 = 10
    static let dtSoname: UInt64 = 14, dtRpath: UInt64 = 15, dtRunpath: UInt64 = 29

    /// A short machine name for messages: x86_64, aarch64, arm, i386, riscv, mips, powerpc….
    public var machineName: String {
        switch machine {
        case 3: return "i386"
        case 8: return "mips"
        case 20: return "powerpc"
        case 21: return "powerpc64"
        case 40: return "arm"
        case 62: return "x86_64"
        case 183: return "aarch64"
        case 243: return "riscv"
        default: return "machine \(machine)"
        }
    }

    /// Whether a file starts with the ELF magic.
    public static func isELF(_ prefix: [UInt8]) -> Bool { prefix.starts(with: [0x7F, 0x45, 0x4C, 0x46]) }

    public static func read(_ path: String) throws -> ELFFile {
        let size = try FileIO.size(of: path)
        let ident = try FileIO.read(path, offset: 0, count: min(size, 64))
        guard ident.count >= 52, isELF(ident) else {
            throw ELFError(path: path, offset: 0, message: "expected the ELF magic 7f 45 4c 46 and a header, found \(ident.count) bytes starting \(hexString(ident.prefix(4)))")
        }
        let cls: Class
        switch ident[4] {
        case 1: cls = .elf32
        case 2: cls = .elf64
        default: throw ELFError(path: path, offset: 4, message: "EI_CLASS: expected 1 or 2, found \(ident[4])")
        }
        let order: ByteOrder
        switch ident[5] {
        case 1: order = .little
        case 2: order = .big
        default: throw ELFError(path: path, offset: 5, message: "EI_DATA: expected 1 or 2, found \(ident[5])")
        }
        guard cls == .elf32 || ident.count >= 64 else { throw ELFError(path: path, offset: 0, message: "64-bit header cut short") }
        let h = ByteReader(ident)
        let is64 = cls == .elf64
        /// A 64-bit offset or size from the file: beyond the file (and so beyond `Int`) is an error
        /// naming the field, never a conversion that traps.
        func offset(_ v: UInt64, _ field: String, at o: Int) throws -> Int {
            guard let x = Int(exactly: v), x <= size else {
                throw ELFError(path: path, offset: o, message: "\(field) 0x\(String(v, radix: 16)): expected at most the file size \(hex(size))")
            }
            return x
        }
        let type = try h.get(UInt16.self, at: 16, order, field: "e_type")
        let machine = try h.get(UInt16.self, at: 18, order, field: "e_machine")
        let phoff = is64 ? try offset(try h.get(UInt64.self, at: 32, order, field: "e_phoff"), "e_phoff", at: 32) : Int(try h.get(UInt32.self, at: 28, order, field: "e_phoff"))
        let phentsize = Int(try h.get(UInt16.self, at: is64 ? 54 : 42, order, field: "e_phentsize"))
        let phnum = Int(try h.get(UInt16.self, at: is64 ? 56 : 44, order, field: "e_phnum"))
        guard phentsize >= (is64 ? 56 : 32), phnum <= 4096, phoff >= 0, phoff <= size, phnum * phentsize <= size - phoff else {
            throw ELFError(path: path, offset: is64 ? 32 : 28, message: "program headers (\(phnum) × \(phentsize) at \(hex(phoff))) do not fit the \(size)-byte file")
        }
        let ph = ByteReader(try FileIO.read(path, offset: phoff, count: phnum * phentsize), baseOffset: phoff)
        struct Segment { var type: UInt32; var offset: Int; var vaddr: UInt64; var filesz: Int }
        var segments: [Segment] = []
        for i in 0..<phnum {
            let b = i * phentsize
            let pType = try ph.get(UInt32.self, at: b, order, field: "p_type")
            let rawOff = is64 ? try ph.get(UInt64.self, at: b + 8, order, field: "p_offset") : UInt64(try ph.get(UInt32.self, at: b + 4, order, field: "p_offset"))
            let vaddr = is64 ? try ph.get(UInt64.self, at: b + 16, order, field: "p_vaddr") : UInt64(try ph.get(UInt32.self, at: b + 8, order, field: "p_vaddr"))
            let rawSize = is64 ? try ph.get(UInt64.self, at: b + 32, order, field: "p_filesz") : UInt64(try ph.get(UInt32.self, at: b + 16, order, field: "p_filesz"))
            guard let off = Int(exactly: rawOff), let filesz = Int(exactly: rawSize), off <= size, filesz <= size - off else {
                throw ELFError(path: path, offset: phoff + b, message: "segment \(i): \(rawSize) bytes at 0x\(String(rawOff, radix: 16)) run past the end of the file")
            }
            // The segment's addresses must not wrap: DT_STRTAB is looked up in [p_vaddr, p_vaddr + p_filesz).
            guard !vaddr.addingReportingOverflow(rawSize).overflow else {
                throw ELFError(path: path, offset: phoff + b, message: "segment \(i): p_vaddr 0x\(String(vaddr, radix: 16)) + p_filesz \(rawSize) wraps around the address space")
            }
            segments.append(Segment(type: pType, offset: off, vaddr: vaddr, filesz: filesz))
        }
        var elf = ELFFile(path: path, elfClass: cls, byteOrder: order, machine: machine, type: type, interpreter: nil, needed: [], rpath: [], runpath: [], soname: nil)
        if let interp = segments.first(where: { $0.type == ptInterp }) {
            let bytes = try FileIO.read(path, offset: interp.offset, count: min(interp.filesz, 4096))
            elf.interpreter = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        guard let dyn = segments.first(where: { $0.type == ptDynamic }) else { return elf }
        let entry = is64 ? 16 : 8
        let d = ByteReader(try FileIO.read(path, offset: dyn.offset, count: min(dyn.filesz, 1 << 20)), baseOffset: dyn.offset)
        var tags: [(UInt64, UInt64)] = []
        var i = 0
        while i + entry <= d.bytes.count {
            let tag = is64 ? try d.get(UInt64.self, at: i, order) : UInt64(try d.get(UInt32.self, at: i, order))
            let val = is64 ? try d.get(UInt64.self, at: i + 8, order) : UInt64(try d.get(UInt32.self, at: i + 4, order))
            if tag == dtNull { break }
            tags.append((tag, val))
            i += entry
        }
        guard let strtab = tags.first(where: { $0.0 == dtStrtab })?.1 else { return elf }
        // DT_STRSZ is only a hint for how much to read: the read stops at the segment's end anyway.
        let strsz = Int(clamping: tags.first { $0.0 == dtStrsz }?.1 ?? 0)
        // DT_STRTAB is an address: find the PT_LOAD segment that maps it.
        guard let load = segments.first(where: { $0.type == ptLoad && strtab >= $0.vaddr && strtab < $0.vaddr + UInt64($0.filesz) }) else {
            throw ELFError(path: path, offset: dyn.offset, message: "DT_STRTAB 0x\(String(strtab, radix: 16)) is in no PT_LOAD segment")
        }
        let strOff = load.offset + Int(strtab - load.vaddr)
        let segmentLeft = load.filesz - Int(strtab - load.vaddr)
        let strBytes = try FileIO.read(path, offset: strOff, count: min(strsz > 0 ? strsz : 65536, segmentLeft, 16 << 20))
        func string(_ o: UInt64) throws -> String {
            guard o < UInt64(strBytes.count) else {
                throw ELFError(path: path, offset: strOff, message: "string offset \(o) beyond the \(strBytes.count)-byte DT_STRTAB")
            }
            return String(decoding: strBytes[Int(o)...].prefix { $0 != 0 }, as: UTF8.self)
        }
        for (tag, val) in tags {
            switch tag {
            case dtNeeded: elf.needed.append(try string(val))
            case dtRpath: elf.rpath += try string(val).split(separator: ":").map(String.init)
            case dtRunpath: elf.runpath += try string(val).split(separator: ":").map(String.init)
            case dtSoname: elf.soname = try string(val)
            default: break
            }
        }
        return elf
    }
}

public struct ELFError: FlashsmithError, Equatable {
    public var path: String
    public var offset: Int
    public var message: String

    public init(path: String, offset: Int, message: String) {
        self.path = path
        self.offset = offset
        self.message = message
    }

    public var category: ErrorCategory { .data }
    public var description: String { "\(path): offset \(hex(offset)): \(message)" }
}
