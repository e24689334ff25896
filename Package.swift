// swift-tools-version: 6.2
import PackageDescription

/// Flashsmith: one tool and one board description for embedded Linux images.
///
/// Targets are split by concern (see ../shared/docs/ARCHITECTURE.md). C lives only in the `C…` module
/// targets; every binary format is written in Swift with explicit byte order.
/// Our own targets build with every warning as an error (dependencies are not affected).
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "Flashsmith",
    products: [
        .executable(name: "flashsmith", targets: ["flashsmith"]),
        // Fuzzing campaigns over every parser (scripts/fuzz.sh; docs/fuzzing.md). Not installed.
        .executable(name: "flashsmith-fuzz", targets: ["flashsmith-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        // C libraries: a module map and an umbrella header each, nothing compiled.
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CFDT", providers: [.apt(["libfdt-dev"])]),
        .systemLibrary(name: "CMTD", providers: [.apt(["libmtd-dev"])]),
        // glibc's xattr calls and device-number macros (not in Swift's Glibc module).
        .systemLibrary(name: "CLinux"),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // UBIFS data-node compressors (zlib is CZlib, raw deflate).
        .systemLibrary(name: "CLZO", providers: [.apt(["liblzo2-dev"])]),
        .systemLibrary(name: "CZstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),

        // Byte order, CRC32, sizes, atomic files, errors, the format registry behind `inspect`.
        .target(name: "FlashsmithCore", dependencies: ["CLinux"], swiftSettings: strict),
        // libyaml wrapper: ordered YAML nodes for specs (no Foundation).
        .target(name: "YAML", dependencies: ["CYAML", "FlashsmithCore"], swiftSettings: strict),
        // Flash: UBI images (writer as ubinize, reader for any), raw NAND images with OOB and ECC, UBIFS.
        .target(name: "Flash", dependencies: ["FlashsmithCore", "CLZO", "CZlib", "CZstd", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        // libmtd wrapper: MTD character devices (erase blocks, bad blocks, read/erase/write).
        .target(name: "MTD", dependencies: ["CMTD", "FlashsmithCore", "Flash"], swiftSettings: strict),
        // U-Boot environment: blobs, text syntaxes, fw_env.config, stores (file, MTD), default env.
        .target(name: "UBootEnv", dependencies: ["FlashsmithCore", "MTD"], swiftSettings: strict),

        // libarchive wrapper: raw compression filters, archives (tar, cpio, mtree) written and read; gzip on every core (zlib).
        .target(name: "Archive", dependencies: ["CArchive", "CZlib", "FlashsmithCore"], swiftSettings: strict),
        // libfdt wrapper: a device tree model, written with libfdt's sequential-write API, read after full validation.
        .target(name: "DeviceTree", dependencies: ["CFDT", "FlashsmithCore"], swiftSettings: strict),
        // Root filesystems: a manifest built from layers (skeletons, overlays, tables, busybox, modules, bundled
        // binaries with their libraries) and written as a folder, tar or cpio, without root.
        .target(
            name: "RootFS",
            dependencies: ["CLinux", "FlashsmithCore", "Archive", "Flash", "YAML", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // Boards: one description of the flash (geometry, partitions) and everything derived from it.
        .target(name: "Board", dependencies: ["FlashsmithCore", "Flash", "YAML", "Archive", "RootFS", "UBootEnv", "DeviceTree", "BootImage", "Migration", "Disk"], swiftSettings: strict),
        // Disks: GPT and MBR partition tables (written, read, checked) and vfat images (mkfs.vfat + mtools).
        .target(name: "Disk", dependencies: ["FlashsmithCore", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        // Process migration: kernel configuration checks (criu, ubifs, nfsroot, devtmpfs).
        .target(name: "Migration", dependencies: ["FlashsmithCore", "Archive"], swiftSettings: strict),
        // Network: a read-only TFTP server (RFC 1350, 2347-2349, 7440) on POSIX sockets, confined to a folder.
        .target(name: "Network", dependencies: ["FlashsmithCore"], swiftSettings: strict),
        // Boot images: legacy uImage and FIT.
        .target(
            name: "BootImage",
            dependencies: [
                "FlashsmithCore", "DeviceTree", "YAML", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),

        // The CLI: one folder per noun, one file per verb.
        .target(
            name: "FlashsmithCLI",
            dependencies: [
                "FlashsmithCore", "UBootEnv", "MTD", "BootImage", "DeviceTree", "Archive", "RootFS", "Migration", "Flash", "Board", "Network", "Disk",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "flashsmith", dependencies: ["FlashsmithCLI"], swiftSettings: strict),

        // Fuzzing: seeded mutators and the table of parsers (shared by FuzzTests and flashsmith-fuzz).
        .target(
            name: "FlashsmithFuzz",
            dependencies: [
                "FlashsmithCore", "UBootEnv", "BootImage", "DeviceTree", "Flash", "Archive", "RootFS", "Migration", "Board", "YAML", "FlashsmithCLI", "Disk",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "flashsmith-fuzz", dependencies: ["FlashsmithFuzz"], swiftSettings: strict),

        // Shared test helpers: temp dirs, running peer tools, the QEMU harness.
        .target(name: "TestSupport", dependencies: ["FlashsmithCore", "RootFS"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(
            name: "FlashsmithCoreTests",
            dependencies: ["FlashsmithCore", "TestSupport", .product(name: "PropertyBased", package: "swift-property-based")], swiftSettings: strict
        ),
        .testTarget(
            name: "UBootEnvTests",
            dependencies: ["UBootEnv", "TestSupport", .product(name: "PropertyBased", package: "swift-property-based")], swiftSettings: strict
        ),
        .testTarget(
            name: "DeviceTreeTests",
            dependencies: ["DeviceTree", "TestSupport", .product(name: "PropertyBased", package: "swift-property-based")], swiftSettings: strict
        ),
        .testTarget(name: "MigrationTests", dependencies: ["Migration", "RootFS", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "FlashTests", dependencies: ["Flash", "Board", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ArchiveTests", dependencies: ["Archive", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "RootFSTests", dependencies: ["RootFS", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "CModulesTests", dependencies: ["CArchive", "CFDT", "CMTD", "MTD", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "CLITests", dependencies: ["UBootEnv", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "BootImageTests",
            dependencies: ["BootImage", "TestSupport", .product(name: "PropertyBased", package: "swift-property-based")], swiftSettings: strict
        ),
        .testTarget(name: "InteropTests", dependencies: ["UBootEnv", "BootImage", "DeviceTree", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "FuzzTests", dependencies: ["FlashsmithFuzz", "TestSupport"], exclude: ["Seeds", "Regressions"], swiftSettings: strict),
        .testTarget(name: "DiskTests", dependencies: ["Disk", "FlashsmithCore", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "NetworkTests", dependencies: ["Network", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "E2ETests", dependencies: ["UBootEnv", "TestSupport"], swiftSettings: strict),
    ]
)
