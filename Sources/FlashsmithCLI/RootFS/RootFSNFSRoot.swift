import ArgumentParser
import FlashsmithCore
import RootFS
#if canImport(Glibc)
import Glibc
#endif

extension RootFSCommand {
    /// `flashsmith rootfs nfsroot [SPEC] [layer flags] -o DIR --server IP [--client IP|dhcp] …`.
    struct NFSRoot: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nfsroot",
            abstract: "Write a root filesystem as a folder to export over NFS, with the /etc/exports line, the kernel bootargs and the U-Boot environment that boot it.",
            discussion: """
                The kernel mounts it with root=/dev/nfs nfsroot=SERVER:DIR,v3,tcp (NFS client and root-over-NFS built in, \
                CONFIG_ROOT_NFS and CONFIG_IP_PNP). v3 because U-Boot's nfs command and many kernels' nfsroot do not speak \
                v4; the server must offer v3 (Debian's nfs-kernel-server does unless RPCNFSDOPTS says --no-nfs-version 3). \
                As a normal user the tree cannot hold real owners or device nodes: DIR.mtree records them; run as root (or \
                unpack the tar of 'rootfs build' as root) for an export that is right on the wire.
                """
        )

        @Argument(help: "A YAML spec listing the layers (optional).")
        var spec: String?

        @OptionGroup var layers: RootFSLayerOptions

        @Option(name: .shortAndLong, help: "The folder to export.")
        var output: String

        @Flag(name: .long, help: "Replace the folder even if Flashsmith did not write it (it holds other files and no user.flashsmith marker).")
        var force = false

        @Option(name: .long, help: "The NFS server's address, as the board reaches it.")
        var server: String

        @Option(name: .long, help: "The board's address, or dhcp.")
        var client: String = "dhcp"

        @Option(name: .long, help: "Netmask for a static address.")
        var netmask: String = "255.255.255.0"

        @Option(name: .long, help: "Gateway for a static address (default: none).")
        var gateway: String = ""

        @Option(name: .long, help: "The board's host name (ip=, the U-Boot env); given, it is also written to the tree's /etc/hostname (default for ip=: flashsmith).")
        var hostname: String?

        @Option(name: .long, help: "The board's network interface (default: the kernel picks).")
        var interface: String = ""

        @Option(name: .long, help: "The kernel console, e.g. ttyS0,115200 or ttyAMA0.")
        var console: String = "ttyS0,115200"

        @OptionGroup var json: JSONOption

        func validate() throws {
            if spec == nil && layers.isEmpty { throw ValidationError("expected a SPEC or at least one layer flag") }
            for (name, v) in [("--server", server)] + (client == "dhcp" ? [] : [("--client", client)]) where !Self.isIPv4(v) {
                throw ValidationError("\(name): expected an IPv4 address, found '\(v)'")
            }
            if let hostname, let problem = Self.hostnameProblem(hostname) { throw ValidationError("--hostname '\(hostname)': \(problem)") }
        }

        /// Why `name` cannot be a host name (RFC 1123: dot-separated labels of letters, digits and
        /// inner hyphens, 63 characters each, 253 in all; it also goes into ip=, where ':' separates fields), else nil.
        static func hostnameProblem(_ name: String) -> String? {
            guard !name.isEmpty, name.utf8.count <= 253 else { return "expected 1 to 253 characters, found \(name.utf8.count)" }
            for label in name.split(separator: ".", omittingEmptySubsequences: false) {
                guard (1...63).contains(label.utf8.count) else { return "expected labels of 1 to 63 characters between the dots, found '\(label)'" }
                if let bad = label.first(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-")) }) {
                    return "expected letters, digits and '-', found '\(bad)'"
                }
                if label.hasPrefix("-") || label.hasSuffix("-") { return "a label cannot start or end with '-' ('\(label)')" }
            }
            return nil
        }

        /// The export of a DHCP client goes to every host (`*`) with no_root_squash: one line saying
        /// so, with the server's subnet to put instead.
        func exportWarning() -> String? {
            guard client == "dhcp" else { return nil }
            let mask = IPv4Mask(netmask)
            let subnet = mask.flatMap { m in Self.ipValue(server).map { (Self.ipText($0 & m.value), m.prefix) } }
            let suggestion = subnet.map { "\($0.0)/\($0.1)" } ?? "your LAN's subnet"
            return "the exports line gives \(output) to every host (*) with no_root_squash (anyone who reaches the server can write it as root): put the board's subnet instead of *, e.g. \(suggestion)"
        }

        struct IPv4Mask {
            var value: UInt32
            var prefix: Int
            init?(_ text: String) {
                guard let v = NFSRoot.ipValue(text) else { return nil }
                let ones = (~v).leadingZeroBitCount
                guard ones == 32 || v << UInt32(ones) == 0 else { return nil }
                value = v
                prefix = ones
            }
        }

        static func ipValue(_ s: String) -> UInt32? {
            guard isIPv4(s) else { return nil }
            return s.split(separator: ".").reduce(UInt32(0)) { $0 << 8 | UInt32(UInt8($1) ?? 0) }
        }

        static func ipText(_ v: UInt32) -> String { [24, 16, 8, 0].map { String((v >> UInt32($0)) & 0xFF) }.joined(separator: ".") }

        static func isIPv4(_ s: String) -> Bool {
            let p = s.split(separator: ".", omittingEmptySubsequences: false)
            return p.count == 4 && p.allSatisfy { UInt8($0) != nil }
        }

        func run() throws {
            var manifest = try layers.spec(file: spec).build()
            if let hostname {
                var e = Manifest.Entry(path: "/etc/hostname", kind: .file, mode: 0o644, source: "--hostname")
                e.content = .bytes(Array((hostname + "\n").utf8))
                e.mtime = manifest.sourceDateEpoch
                try manifest.add(e, replace: true)
            }
            let hostname = hostname ?? "flashsmith"
            var dir = output
            if !dir.hasPrefix("/") {
                var buf = [CChar](repeating: 0, count: 4096)
                if getcwd(&buf, buf.count) != nil { dir = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/" + dir }
            }
            dir = "/" + dir.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
            let ip = client == "dhcp" ? "dhcp" : "\(client):\(server):\(gateway):\(netmask):\(hostname):\(interface):off"
            let bootargs = "console=\(console) root=/dev/nfs rw nfsroot=\(server):\(dir),v3,tcp ip=\(ip)"
            let exports = "\(dir) \(client == "dhcp" ? "*" : client)(rw,sync,no_root_squash,no_subtree_check)"
            var env: [(String, String)] = [("serverip", server)]
            if client != "dhcp" {
                env += [("ipaddr", client), ("netmask", netmask)]
                if !gateway.isEmpty { env.append(("gatewayip", gateway)) }
            }
            env += [("hostname", hostname), ("rootpath", dir), ("bootargs", bootargs)]
            let envText = env.map { "\($0.0)=\($0.1)\n" }.joined()
            try RootFSCommand.write(
                manifest, kind: .dir, compression: .none, level: nil, to: output, force: force, json: json.json,
                extra: [
                    ("exports", .string(exports)), ("bootargs", .string(bootargs)),
                    ("ubootEnv", .object(env.map { ($0.0, .string($0.1)) })),
                ]
            )
            if let w = exportWarning() { printError("flashsmith: warning: \(w)") }
            if !json.json {
                try FlashsmithCLI.output(
                    """
                    /etc/exports (on \(server), then exportfs -ra):
                      \(exports)
                    kernel command line:
                      \(bootargs)
                    U-Boot environment (flashsmith env set … or setenv; mkenvimage text):
                    \(envText.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))

                    """
                )
            }
        }
    }
}
