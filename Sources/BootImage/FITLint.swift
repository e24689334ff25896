import DeviceTree
import FlashsmithCore

/// What U-Boot will reject or trip over in a FIT, said before it ships (U-Boot `boot/image-fit.c`,
/// `boot/image-fit-sig.c`, `boot/bootm.c`; PEERS.md §2.5–2.6).
public enum FITLint {
    public enum Severity: String, Sendable { case error, warning }

    public struct Finding: Sendable, Equatable {
        public var severity: Severity
        public var path: String
        public var message: String
        public var text: String { "\(severity.rawValue): \(path): \(message)" }
    }

    /// U-Boot's `CONFIG_SYS_BOOTM_LEN` default for an architecture (its Kconfig: 64 MiB on PowerPC and
    /// arm64, 16 MiB on x86, 8 MiB otherwise).
    public static func defaultBootmLen(arch: String?) -> Int {
        switch arch {
        case "arm64", "powerpc", "ppc": return 0x400_0000
        case "x86", "x86_64": return 0x100_0000
        default: return 0x80_0000
        }
    }

    public struct Options: Sendable {
        public var bootmLen: Int?
        /// Where the FIT itself is loaded (`bootm ADDR`), to catch images loaded over it.
        public var fitAddress: UInt64?
        public var controlDTB: DeviceTree?
        /// Free bytes in the control DTB (room for the public keys mkimage -K adds).
        public var controlDTBFree: Int?

        public init() {}
    }

    /// The bytes an image of `size` occupies at `address` (at least one), nil past 2^64.
    static func region(_ address: UInt64, _ size: Int) -> Range<UInt64>? {
        let (end, overflow) = address.addingReportingOverflow(UInt64(max(size, 1)))
        return overflow ? nil : address..<end
    }

    /// What U-Boot 2023.01's bootm refuses (boot/bootm.c bootm_find_os, boot/image-fit.c fit_image_load).
    static let kernelTypes = ["kernel", "kernel_noload", "firmware", "tee"]
    static let bootableOSes = ["linux", "u-boot", "tee", "openrtos", "efi", "vxworks"]

    /// Images bootm cannot use: names U-Boot does not know, a kernel/firmware/standalone image
    /// without a load address, and per configuration what bootm_find_os and fit_image_load check
    /// of the kernel (type, compression, os, arch, load, entry) and the ramdisk (type, os).
    static func bootmRules(_ fit: FITInfo) -> [Finding] {
        var out: [Finding] = []
        var said = Set<String>()
        func add(_ p: String, _ m: String) { if said.insert(p + "\u{0}" + m).inserted { out.append(Finding(severity: .error, path: p, message: m)) } }
        func noLoad(_ img: FITInfo.Image) { add(img.path, "\(img.string("type") ?? "image") without a load address: bootm refuses it (\"Can't get image load address!\")") }
        let tables: [(String, [UImageName])] = [("type", UImageTables.fitTypes), ("arch", UImageTables.arch), ("os", UImageTables.os), ("compression", UImageTables.comp)]
        for img in fit.images {
            for (key, table) in tables {
                if let v = img.string(key), UImageTables.lookup(table, v) == nil || v == "invalid" { add(img.path, "\(key) '\(v)' is not one of U-Boot's: bootm cannot use this image") }
            }
            if img.properties["type"] == nil { add(img.path, "no type: U-Boot cannot tell what the image is (\"Can't get image type!\")") }
            if let t = img.string("type"), ["kernel", "firmware", "standalone"].contains(t), img.address("load") == nil { noLoad(img) }
        }
        let byName = Dictionary(fit.images.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for c in fit.configurations {
            if let name = (c.strings("kernel") + c.strings("firmware")).first, let k = byName[name] {
                for (key, quote) in [("compression", "compression"), ("os", "OS"), ("arch", "ARCH")] where k.properties[key] == nil {
                    add(k.path, "no \(key): bootm refuses a kernel without it (\"Can't get image \(quote)!\")")
                }
                if let t = k.string("type"), !kernelTypes.contains(t) { add(k.path, "type '\(t)' used as \(c.name)'s kernel: bootm wants \(kernelTypes.joined(separator: ", "))") }
                if let os = k.string("os"), !bootableOSes.contains(os) { add(k.path, "os '\(os)': U-Boot 2023.01 boots only \(bootableOSes.joined(separator: ", ")) (\"No \(os) … Kernel Image\")") }
                if k.address("load") == nil { noLoad(k) }
                if k.address("entry") == nil { add(k.path, "no entry point: bootm refuses the kernel (\"Can't get entry point property!\")") }
            }
            for name in c.strings("ramdisk") {
                guard let rd = byName[name] else { continue }
                if let t = rd.string("type"), t != "ramdisk", t != "firmware" { add(rd.path, "type '\(t)' used as \(c.name)'s ramdisk: bootm wants ramdisk") }
                if !bootableOSes.contains(rd.string("os") ?? "") {
                    add(rd.path, "os '\(rd.string("os") ?? "(none)")' on a ramdisk: U-Boot 2023.01 loads one only for os \(bootableOSes.joined(separator: ", ")) (\"No … Ramdisk Image\")")
                }
            }
        }
        return out
    }

    public static func check(_ fit: FITInfo, options: Options) -> [Finding] {
        var out: [Finding] = []
        func add(_ s: Severity, _ p: String, _ m: String) { out.append(Finding(severity: s, path: p, message: m)) }
        let byName = Dictionary(fit.images.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let signing = fit.images.contains { !$0.signatures.isEmpty } || fit.configurations.contains { !$0.signatures.isEmpty }

        if signing {
            for img in fit.images where img.name.contains("@") {
                add(.error, img.path, "node name has '@': U-Boot refuses unit addresses in a signed FIT (\"Signature checking prevents use of unit addresses (@) in nodes\")")
            }
            for c in fit.configurations where c.name.contains("@") {
                add(.error, "\(FIT.configurations)/\(c.name)", "node name has '@': U-Boot refuses unit addresses in a signed FIT")
            }
        }
        if fit.configurations.isEmpty { add(.warning, FIT.configurations, "no configuration: bootm needs an explicit image name") }
        if let d = fit.defaultConfiguration, !fit.configurations.contains(where: { $0.name == d }) {
            add(.error, "\(FIT.configurations)/default", "names '\(d)', which is not a configuration")
        }
        if fit.defaultConfiguration == nil && !fit.configurations.isEmpty {
            add(.warning, "\(FIT.configurations)/default", "missing: `bootm ADDR` without #CONFIGURATION finds no configuration (\"Could not find configuration node\")")
        }
        out += bootmRules(fit)

        for c in fit.configurations {
            let cpath = "\(FIT.configurations)/\(c.name)"
            let roles = ["kernel", "firmware", "fdt", "ramdisk", "loadables", "script", "fpga"]
            var members: [(role: String, image: FITInfo.Image)] = []
            for role in roles {
                for ref in c.strings(role) {
                    guard let img = byName[ref] else {
                        add(.error, "\(cpath)/\(role)", "names image '\(ref)', which does not exist")
                        continue
                    }
                    members.append((role, img))
                }
            }
            if c.strings("kernel").isEmpty && c.strings("firmware").isEmpty {
                add(.error, cpath, "has neither kernel nor firmware: bootm has nothing to run")
            }
            for m in members where m.image.hashes.isEmpty {
                add(c.signatures.isEmpty ? .warning : .error, m.image.path,
                    "used by \(c.name) as \(m.role) but has no hash-N node: U-Boot cannot check it\(c.signatures.isEmpty ? "" : ", and the configuration's signature does not cover its data")")
            }
            for m in members where m.role == "fdt" && (m.image.string("compression") ?? "none") != "none" && c.properties["compatible"] == nil {
                add(.error, cpath, "fdt '\(m.image.name)' is compressed (\(m.image.string("compression") ?? "?")) but the configuration has no compatible: U-Boot's best-match cannot read it")
            }
            // Images that U-Boot copies to their load address must not overlap one another or the FIT.
            var regions: [(String, Range<UInt64>)] = []
            for m in members {
                guard let load = m.image.address("load") else { continue }
                guard let r = region(load, m.image.dataSize) else {
                    add(.error, m.image.path, "load 0x\(String(load, radix: 16)) + \(m.image.dataSize) bytes runs past the end of the address space")
                    continue
                }
                regions.append((m.image.name, r))
            }
            if let at = options.fitAddress {
                if let r = region(at, fit.fileSize) {
                    regions.append(("the FIT itself", r))
                } else {
                    add(.error, cpath, "the FIT at 0x\(String(at, radix: 16)) (--fit-address) + \(fit.fileSize) bytes runs past the end of the address space")
                }
            }
            for i in 0..<regions.count {
                for j in (i + 1)..<regions.count where regions[i].1.overlaps(regions[j].1) {
                    let a = regions[i], b = regions[j]
                    add(.error, cpath, "\(a.0) at 0x\(String(a.1.lowerBound, radix: 16))…0x\(String(a.1.upperBound, radix: 16)) overlaps \(b.0) at 0x\(String(b.1.lowerBound, radix: 16))…0x\(String(b.1.upperBound, radix: 16))")
                }
            }
            if let kernel = c.strings("kernel").first.flatMap({ byName[$0] }) {
                let len = options.bootmLen ?? defaultBootmLen(arch: kernel.string("arch"))
                let compressed = (kernel.string("compression") ?? "none") != "none"
                if kernel.dataSize > len {
                    add(.error, kernel.path, "\(kernel.dataSize) bytes\(compressed ? " compressed" : ""): larger than BOOTM_LEN 0x\(String(len, radix: 16)) (\"Image too large: increase CONFIG_SYS_BOOTM_LEN\")")
                } else if compressed && kernel.dataSize * 3 > len {
                    add(.warning, kernel.path, "compressed \(kernel.dataSize) bytes: uncompressed it may exceed BOOTM_LEN 0x\(String(len, radix: 16))")
                }
                if let load = kernel.address("load"), let entry = kernel.address("entry"), let r = region(load, kernel.dataSize), !r.contains(entry) {
                    add(.warning, kernel.path, "entry 0x\(String(entry, radix: 16)) lies outside the image loaded at 0x\(String(load, radix: 16))")
                }
            }
        }

        for s in fit.images.flatMap(\.signatures) + fit.configurations.flatMap(\.signatures) {
            if s.padding == "pss" {
                add(.warning, s.node, "padding = \"pss\": Debian's u-boot-qemu 2023.01 has no RSASSA-PSS (\"Unknown signature algorithm\")")
            }
            if s.algo.contains("ecdsa") {
                add(.warning, s.node, "\(s.algo): U-Boot verifies ECDSA only through a hardware driver; Debian's qemu_arm64 U-Boot checks nothing")
            }
        }
        for c in fit.configurations {
            let used = c.properties.keys.filter { !["description", "compatible", "default"].contains($0) }.flatMap { c.strings($0) }
                .filter { name in fit.images.contains { $0.name == name } }
            for s in c.signatures {
                guard let listed = s.signImages else { continue }
                let covered = listed.flatMap { c.strings($0) }
                let missing = Set(used).subtracting(covered).sorted()
                if !missing.isEmpty {
                    add(.error, s.node, "sign-images leaves out \(missing.joined(separator: ", ")): U-Boot (with the CVE-2026-46728 fix, as Debian's) checks every image the configuration uses and refuses this")
                }
            }
        }

        if let control = options.controlDTB {
            let keys = control.root.node(at: "signature")?.children ?? []
            let signatures = fit.images.flatMap(\.signatures) + fit.configurations.flatMap(\.signatures)
            for s in signatures where !keys.contains(where: { $0.name == "key-\(s.keyNameHint)" }) {
                var msg = "key-name-hint '\(s.keyNameHint)' has no /signature/key-\(s.keyNameHint) in the control DTB: U-Boot will not check this signature"
                if let free = options.controlDTBFree, free < 1024 { msg += " (and the DTB has only \(free) bytes free for mkimage -K to add it)" }
                add(.error, s.node, msg)
            }
            for k in keys {
                let required = k.property("required")?.stringValue
                if required == "conf" && !fit.configurations.contains(where: { !$0.signatures.isEmpty }) {
                    add(.error, "/signature/\(k.name)", "required = \"conf\" in the control DTB, but no configuration of this FIT is signed: U-Boot will refuse to boot it")
                }
                if required == "image" && !fit.images.contains(where: { !$0.signatures.isEmpty }) {
                    add(.error, "/signature/\(k.name)", "required = \"image\" in the control DTB, but no image of this FIT is signed: U-Boot will refuse to boot it")
                }
            }
        }
        return out
    }
}
