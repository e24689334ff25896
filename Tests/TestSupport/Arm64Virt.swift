import FlashsmithCore
import Foundation

/// QEMU's arm64 `virt` machine as the end-to-end tests use it: fixed machine options, Debian's
/// qemu_arm64 U-Boot as firmware, and the machine's device tree dumped with those same options.
public enum Arm64Virt {
    /// Debian's U-Boot for this machine (package u-boot-qemu).
    public static let uboot = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"
    public static let cpu = "cortex-a57"
    public static let memoryMiB = 1024

    /// `-M virt -cpu cortex-a57 -m 1024`, plus `-bios <U-Boot>` when `bios`. The guest's DTB depends on
    /// all of them (with firmware, QEMU swaps the pl061 GPIO for an ACPI GED device).
    public static func machineArguments(bios: Bool) -> [String] {
        ["-M", "virt", "-cpu", cpu, "-m", String(memoryMiB)] + (bios ? ["-bios", uboot] : [])
    }

    /// The common run options: TCG, serial on stdio, exit instead of reboot, no NIC.
    public static func arguments(bios: Bool) -> [String] {
        machineArguments(bios: bios) + ["-accel", "tcg", "-nographic", "-no-reboot", "-nic", "none"]
    }

    /// The virt DTB exactly as QEMU builds it for ``machineArguments(bios:)`` (`-M virt,dumpdtb=…`),
    /// repacked by `dtc` when present (QEMU pads it to 1 MiB). Cached under
    /// ``DebianArtifacts/cacheDirectory``, keyed by the QEMU version, the options and the firmware.
    /// Without `bios` it does not fit a U-Boot boot: the kernel dies on the missing pl061.
    public static func dtb(bios: Bool = true) throws -> String {
        guard let qemu = which("qemu-system-aarch64") else { throw HarnessError("qemu-system-aarch64 not found") }
        let version = try mustRun(qemu, ["--version"]).out.split(separator: "\n").first.map(String.init) ?? ""
        var key = "\(version)|\(machineArguments(bios: bios).joined(separator: " "))"
        if bios { key += "|\(CRC32.zlib(try readBytes(uboot)))" }
        let name = String(format: "virt-%@-%dM%@-%08x.dtb", cpu, memoryMiB, bios ? "-bios" : "", CRC32.zlib(Array(key.utf8)))
        return try DebianArtifacts.withCache { cache in
            let dir = "\(cache)/dtb"
            let path = "\(dir)/\(name)"
            if FileManager.default.fileExists(atPath: path) { return path }
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let work = try TempDir("flashsmith-dumpdtb")
            let raw = work.file("virt-raw.dtb")
            var args = machineArguments(bios: bios)
            args[1] = "virt,dumpdtb=\(raw)"
            // QEMU exits right after the dump; the runner kills it on any other way out.
            let r = try QEMU.run(qemu, args + ["-nographic", "-nic", "none"], log: work.file("qemu.log"), timeout: .seconds(30))
            guard r.exitStatus == 0, FileManager.default.fileExists(atPath: raw) else {
                throw HarnessError("dumpdtb failed: \(r.summary)\n\(r.tail())")
            }
            let out = work.file("virt.dtb")
            if let dtc = which("dtc") {
                try mustRun(dtc, ["-I", "dtb", "-O", "dtb", "-q", "-o", out, raw])
            } else {
                try FileManager.default.copyItem(atPath: raw, toPath: out)
            }
            try? FileManager.default.removeItem(atPath: path)
            try FileManager.default.moveItem(atPath: out, toPath: path)
            return path
        }
    }

    /// Size of each of virt's two CFI pflash banks; U-Boot's env is at offset 0 of bank 1 (ENV_ADDR
    /// 0x4000000), 0x40000 bytes, one copy (Debian's `config.qemu_arm64.gz`).
    public static let flashBankSize = 64 << 20
    public static let envSize = 0x40000

    /// Writes a 64 MiB erased (0xFF) flash bank at `path` and `environment` (`name=value` lines) into it
    /// with `flashsmith env create -c` (`<path>.fw_env.config`, `<path>.env.txt` beside it). The env
    /// replaces U-Boot's whole default env: give it everything the boot needs (`bootdelay=0`, a
    /// `bootcmd` ending in `poweroff`, `bootargs`).
    public static func writeEnvFlash(_ path: String, environment: String) throws {
        try Data(repeating: 0xFF, count: flashBankSize).write(to: URL(fileURLWithPath: path))
        let config = "\(path).fw_env.config"
        try Data("\(path) 0x0 0x\(String(envSize, radix: 16))\n".utf8).write(to: URL(fileURLWithPath: config))
        let text = "\(path).env.txt"
        try Data(environment.utf8).write(to: URL(fileURLWithPath: text))
        let r = try flashsmith("env", "create", "-c", config, text)
        guard r.status == 0 else { throw HarnessError("flashsmith env create -c \(config) failed (\(r.status)): \(r.err)") }
    }

    /// `-device loader,file=FILE,addr=ADDR,force-raw=on`: QEMU copies the file into guest RAM as it is
    /// (without force-raw QEMU parses a uImage itself and U-Boot sees `Wrong Image Format`).
    public static func loader(_ file: String, at address: String) -> [String] {
        ["-device", "loader,file=\(file),addr=\(address),force-raw=on"]
    }

    /// Boots Debian's U-Boot on virt with `flash` as pflash bank 1 (the env) and `extra` arguments
    /// (loaders, disks), killed on every way out by ``QEMU/run(_:_:log:timeout:markers:killOn:killDelay:)``.
    public static func bootUBoot(
        flash: String, extra: [String], log: String, timeout: Duration = .seconds(60),
        markers: [String] = [], killOn: [String] = []
    ) throws -> QEMUResult {
        try QEMU.run(
            "qemu-system-aarch64",
            arguments(bios: true) + ["-drive", "if=pflash,format=raw,index=1,file=\(flash)"] + extra,
            log: log, timeout: timeout, markers: markers, killOn: killOn
        )
    }

    /// A busybox initramfs for arm64 guests: Debian's arm64 `busybox-static` (private apt state,
    /// cached), applet links made at boot, `/init` from ``Initramfs/setInit(testScript:resultMarker:)``
    /// (prints `FLASHSMITH-GUEST-UP`, runs `testScript`, prints the result marker, powers off).
    /// Written as newc cpio to `path`, gzip-compressed when `gzip`.
    public static func busyboxInitramfs(testScript: String, to path: String, gzip: Bool = false) throws {
        let initramfs = try Initramfs()
        try initramfs.addForeignBusybox(try DebianArtifacts.busybox(architecture: "arm64"))
        try initramfs.setInit(testScript: testScript)
        try initramfs.write(to: path, gzip: gzip)
    }
}
