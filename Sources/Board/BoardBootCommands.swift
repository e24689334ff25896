import FlashsmithCore
import UBootEnv

/// The boot commands of the derived environment, whatever the board's `boot:`:
/// ```
/// flashboot  the image from the board's flash (bootm from mapped NOR, nand read then bootm)
/// netboot    the same image fetched over TFTP (tftpboot into RAM), then bootm
/// nfsboot    netboot with the kernel's root on NFS (root=/dev/nfs nfsroot=${serverip}:/nfsroot,v3,tcp ip=…)
/// bootcmd    run flashboot | run netboot | run nfsboot (boot:), unless override: bootcmd
/// ```
/// with the addresses the network commands use (`serverip`, `ipaddr`, `netmask`, `gatewayip`; none
/// that DHCP gives). A DHCP client's commands start with `setenv autoload no; dhcp` (without
/// `autoload no`, U-Boot's dhcp starts a TFTP download of its own); a DHCP server that names a
/// next-server replaces `serverip`, as U-Boot does.
struct BootCommands {
    var flashboot: String?
    var netboot: String?
    var nfsboot: String?
    /// The address netboot fetches the image to.
    var netAddress: String?
    var network: [EnvVariable] = []

    /// Where bootm copies the kernel and how long it is at most, when the build knows (the board's
    /// own FIT or uImage): the netboot address goes past it.
    struct Image {
        /// The file in the output folder (what TFTP fetches).
        var file: String
        var bytes: Int
        var load: Int?
        var compressed: Bool
    }

    /// The variable that boots the board's way (`boot:`), nil when the board has no such command.
    func command(for m: BootMethod) -> String? {
        switch m {
        case .flash: return flashboot.map { _ in m.command }
        case .tftp: return netboot.map { _ in m.command }
        case .nfs: return nfsboot.map { _ in m.command }
        }
    }

    var variables: [EnvVariable] {
        network + [("flashboot", flashboot), ("netboot", netboot), ("nfsboot", nfsboot)].compactMap { n, v in v.map { EnvVariable(n, $0) } }
    }

    static let mebibyte = 1 << 20
    /// The gap between the kernel's end and the fetched image (arm64's Image may ask for more than its file size: text_offset, BSS).
    static let netGap = 16 << 20

    /// `bootm` of the image at `at` (a FIT's configuration, the firmware's device tree when the
    /// image has none).
    static func bootm(_ k: BoardBuild.BootPlan, at: String) -> String {
        if k.isFIT {
            let image = "\(at)#\(k.configuration)"
            return k.hasFDT ? "bootm \(image)" : "bootm \(image) \(k.hasRamdisk ? image : "-") ${fdtcontroladdr}"
        }
        return k.hasFDT ? "bootm \(at)" : "bootm \(at) - ${fdtcontroladdr}"
    }

    /// Where netboot puts the image: `${loadaddr}` where flashboot reads it to RAM (NAND, as flashboot
    /// does); for a board booting in place from mapped NOR, past the kernel's load address and the
    /// kernel (bootm refuses an image overlapping what it unpacks: "new format image overwritten"),
    /// at a 16 MiB boundary; `${loadaddr}` when the image's load address is unknown (a FIT from its own spec).
    static func netAddress(_ b: BoardLayout, _ k: BoardBuild.BootPlan, _ image: Image) -> String {
        guard BoardBuild.mapped(b, b.partitions[k.index]) != nil, let load = image.load else { return "${loadaddr}" }
        // A gzip'ed kernel unpacks to about three times its size: room for four.
        let reach = image.bytes.multipliedReportingOverflow(by: image.compressed ? 4 : 1)
        let end = load.addingReportingOverflow(reach.partialValue)
        guard !reach.overflow, !end.overflow, end.partialValue <= 1 << 48 else { return "${loadaddr}" }
        let aligned = (end.partialValue + netGap - 1) / netGap * netGap
        return hex(aligned + netGap)
    }

    /// Every command the board can have: flashboot when it boots from flash at all, netboot and nfsboot
    /// when the build writes the image they fetch.
    static func derive(_ b: BoardLayout, plan: BoardBuild.BootPlan?, image: Image?, nfsArguments base: String) -> BootCommands {
        var c = BootCommands()
        let n = b.network
        if let s = n.server { c.network.append(EnvVariable("serverip", "\(s)")) }
        if case let .address(a) = n.client {
            c.network.append(EnvVariable("ipaddr", "\(a)"))
            if let m = n.netmask { c.network.append(EnvVariable("netmask", "\(m)")) }
            if let g = n.gateway { c.network.append(EnvVariable("gatewayip", "\(g)")) }
        }
        guard let plan else { return c }
        c.flashboot = BoardBuild.bootCommand(b, plan)
        guard let image else { return c }
        let at = netAddress(b, plan, image)
        c.netAddress = at
        let prelude = n.isDHCP ? "setenv autoload no; dhcp && " : ""
        let fetch = "tftpboot \(at) \(image.file) && \(bootm(plan, at: at))"
        c.netboot = prelude + fetch
        c.nfsboot = prelude + "setenv bootargs \(nfsBootargs(base, n)) && " + fetch
        return c
    }

    /// The kernel command line for an NFS root: the board's own arguments, then where its root is.
    /// ip= is the kernel's (and the initramfs's) `CLIENT:SERVER:GATEWAY:NETMASK:HOST:DEVICE:AUTOCONF`.
    static func nfsBootargs(_ base: String, _ n: BoardNetwork) -> String {
        let ip = n.isDHCP ? "dhcp" : "${ipaddr}:${serverip}:${gatewayip}:${netmask}::eth0:off"
        return (base.isEmpty ? "" : base + " ") + "root=/dev/nfs rw nfsroot=${serverip}:\(BoardNetwork.nfsRootPath),v3,tcp ip=\(ip)"
    }
}
