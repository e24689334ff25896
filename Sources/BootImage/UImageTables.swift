/// U-Boot's legacy-image name tables (`boot/image.c`: `uimage_arch`, `uimage_os`, `uimage_type`,
/// `uimage_comp`; ids from `include/image.h` `IH_ARCH_*`, `IH_OS_*`, `IH_TYPE_*`, `IH_COMP_*`):
/// the id stored in the header, the short name mkimage takes, the long name `mkimage -l` prints.
public struct UImageName: Sendable, Equatable {
    public var id: UInt8
    public var short: String
    public var long: String
}

public enum UImageTables {
    public static let arch: [UImageName] = [
        .init(id: 0, short: "invalid", long: "Invalid ARCH"), .init(id: 1, short: "alpha", long: "Alpha"),
        .init(id: 2, short: "arm", long: "ARM"), .init(id: 3, short: "x86", long: "Intel x86"),
        .init(id: 4, short: "ia64", long: "IA64"), .init(id: 12, short: "m68k", long: "M68K"),
        .init(id: 14, short: "microblaze", long: "MicroBlaze"), .init(id: 5, short: "mips", long: "MIPS"),
        .init(id: 6, short: "mips64", long: "MIPS 64 Bit"), .init(id: 15, short: "nios2", long: "NIOS II"),
        .init(id: 7, short: "powerpc", long: "PowerPC"), .init(id: 7, short: "ppc", long: "PowerPC"),
        .init(id: 8, short: "s390", long: "IBM S390"), .init(id: 9, short: "sh", long: "SuperH"),
        .init(id: 10, short: "sparc", long: "SPARC"), .init(id: 11, short: "sparc64", long: "SPARC 64 Bit"),
        .init(id: 16, short: "blackfin", long: "Blackfin"), .init(id: 17, short: "avr32", long: "AVR32"),
        .init(id: 20, short: "nds32", long: "NDS32"), .init(id: 21, short: "or1k", long: "OpenRISC 1000"),
        .init(id: 19, short: "sandbox", long: "Sandbox"), .init(id: 22, short: "arm64", long: "AArch64"),
        .init(id: 23, short: "arc", long: "ARC"), .init(id: 24, short: "x86_64", long: "AMD x86_64"),
        .init(id: 25, short: "xtensa", long: "Xtensa"), .init(id: 26, short: "riscv", long: "RISC-V"),
    ]

    public static let os: [UImageName] = [
        .init(id: 0, short: "invalid", long: "Invalid OS"), .init(id: 25, short: "arm-trusted-firmware", long: "ARM Trusted Firmware"),
        .init(id: 5, short: "linux", long: "Linux"), .init(id: 2, short: "netbsd", long: "NetBSD"),
        .init(id: 22, short: "ose", long: "Enea OSE"), .init(id: 23, short: "plan9", long: "Plan 9"),
        .init(id: 18, short: "rtems", long: "RTEMS"), .init(id: 26, short: "tee", long: "Trusted Execution Environment"),
        .init(id: 17, short: "u-boot", long: "U-Boot"), .init(id: 14, short: "vxworks", long: "VxWorks"),
        .init(id: 16, short: "qnx", long: "QNX"), .init(id: 21, short: "integrity", long: "INTEGRITY"),
        .init(id: 4, short: "4_4bsd", long: "4_4BSD"), .init(id: 11, short: "dell", long: "Dell"),
        .init(id: 7, short: "esix", long: "Esix"), .init(id: 3, short: "freebsd", long: "FreeBSD"),
        .init(id: 9, short: "irix", long: "Irix"), .init(id: 12, short: "ncr", long: "NCR"),
        .init(id: 1, short: "openbsd", long: "OpenBSD"), .init(id: 15, short: "psos", long: "pSOS"),
        .init(id: 10, short: "sco", long: "SCO"), .init(id: 8, short: "solaris", long: "Solaris"),
        .init(id: 6, short: "svr4", long: "SVR4"), .init(id: 24, short: "openrtos", long: "OpenRTOS"),
        .init(id: 27, short: "opensbi", long: "RISC-V OpenSBI"), .init(id: 28, short: "efi", long: "EFI Firmware"),
    ]

    /// The general-purpose legacy types (mkimage's SoC boot-ROM formats and the FIT-only types are not
    /// legacy images).
    public static let type: [UImageName] = [
        .init(id: 7, short: "filesystem", long: "Filesystem Image"), .init(id: 5, short: "firmware", long: "Firmware"),
        .init(id: 8, short: "flat_dt", long: "Flat Device Tree"), .init(id: 2, short: "kernel", long: "Kernel Image"),
        .init(id: 14, short: "kernel_noload", long: "Kernel Image (no loading done)"), .init(id: 0, short: "invalid", long: "Invalid Image"),
        .init(id: 4, short: "multi", long: "Multi-File Image"), .init(id: 3, short: "ramdisk", long: "RAMDisk Image"),
        .init(id: 6, short: "script", long: "Script"), .init(id: 1, short: "standalone", long: "Standalone Program"),
    ]

    /// Types that exist only inside FIT images (`IH_TYPE_*` ids; mkimage cannot make legacy images of them).
    public static let fitOnlyTypes: [UImageName] = [
        .init(id: 22, short: "loadable", long: "A list of typeless images"), .init(id: 29, short: "fpga", long: "FPGA Image"),
        .init(id: 31, short: "tee", long: "Trusted Execution Environment Image"), .init(id: 39, short: "copro", long: "Coprocessor Image"),
        .init(id: 45, short: "tfa-bl31", long: "TFA BL31 Image"),
    ]

    /// Every type a FIT image node may have.
    public static var fitTypes: [UImageName] { type + fitOnlyTypes }

    public static let comp: [UImageName] = [
        .init(id: 0, short: "none", long: "uncompressed"), .init(id: 2, short: "bzip2", long: "bzip2 compressed"),
        .init(id: 1, short: "gzip", long: "gzip compressed"), .init(id: 3, short: "lzma", long: "lzma compressed"),
        .init(id: 4, short: "lzo", long: "lzo compressed"), .init(id: 5, short: "lz4", long: "lz4 compressed"),
        .init(id: 6, short: "zstd", long: "zstd compressed"),
    ]

    public static let multiType: UInt8 = 4
    public static let scriptType: UInt8 = 6

    /// The entry for a short name (case-insensitive), or nil.
    public static func lookup(_ table: [UImageName], _ short: String) -> UImageName? {
        table.first { $0.short == short.lowercased() }
    }

    /// The entry for an id; unknown ids get a synthetic "unknown (N)" name.
    public static func name(_ table: [UImageName], _ id: UInt8) -> UImageName {
        table.first { $0.id == id } ?? UImageName(id: id, short: "\(id)", long: "Unknown (\(id))")
    }
}
