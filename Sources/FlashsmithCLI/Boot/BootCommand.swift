import ArgumentParser
import Board
import FlashsmithCore

/// `flashsmith boot OUTDIR`: QEMU on what `flashsmith build` wrote for a board with `qemu:`.
struct BootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Start QEMU on a board's build output (a board with qemu: in its board.yaml), serial console on this terminal.",
        discussion: """
            Runs OUTDIR/qemu.args (drive file names relative to OUTDIR). The chip image is opened with snapshot=on: what the guest writes \
            (saveenv) does not change the build's output, unless --persist. Leave QEMU with Ctrl-A X. \
            --until TEXT stops QEMU (exit 0) once TEXT appears on the console; --fail-on TEXT stops it with an error (65); \
            --timeout SECONDS stops it with exit code 124. QEMU never outlives flashsmith.

            --net boots through the environment's netboot from QEMU's built-in TFTP, which serves OUTDIR \
            (QEMU's user network: the board 10.0.2.15, the server 10.0.2.2), whatever the board's boot:; \
            it boots a private copy of the chip whose environment says bootcmd=run netboot.

            --nfs boots the same way through nfsboot (a board built with boot: nfs: OUTDIR/nfsroot and, for a kernel \
            that needs it, the initramfs that mounts it in the FIT), the NFS root served by NFS-Ganesha (Debian: nfs-ganesha \
            nfs-ganesha-vfs rpcbind) that boot starts beside QEMU in a private network, mount and PID namespace and stops \
            with it. Needs root. Edit files in OUTDIR/nfsroot in place while the board runs (replacing the folder, as a \
            new build does, leaves the guest with stale file handles).

            Input that is not a terminal (a pipe, a file) is held until --send-after TEXT appears (without it: the \
            --until TEXT), then sent to the console, so printf 'cmd\\n' | flashsmith boot OUTDIR --send-after MARKER \
            --until TEXT drives the board's shell (U-Boot would otherwise take the first byte as an autoboot interrupt). \
            With --send-after, --until counts only after it; without, the input goes at the --until TEXT and the run \
            lasts until QEMU exits (end the input with poweroff) or --timeout.
            """
    )

    @Argument(help: "The output folder of flashsmith build.")
    var output: String

    @Option(name: .long, help: "Stop QEMU and exit 0 once this text appears on the console.")
    var until: String?

    @Option(name: .long, help: "Send piped input once this text appears on the console.")
    var sendAfter: String?

    @Option(name: .long, help: "Stop QEMU and fail (exit 65) once this text appears (repeatable).")
    var failOn: [String] = []

    @Option(name: .long, help: "Stop QEMU and fail (exit 124) after this many seconds.")
    var timeout: Double?

    @Flag(name: .long, help: "Let the guest's writes to the flash reach the chip image.")
    var persist = false

    @Flag(name: .long, help: "Boot through U-Boot's netboot from QEMU's TFTP (serving OUTDIR), whatever the board's boot:.")
    var net = false

    @Flag(name: .long, help: "Boot through U-Boot's nfsboot, the root on NFS from OUTDIR/nfsroot served by NFS-Ganesha (needs root; build with boot: nfs).")
    var nfs = false

    @Flag(name: .long, help: "Print the QEMU command line (run in OUTDIR) and exit.")
    var print = false

    func validate() throws {
        if let timeout, !(timeout.isFinite && timeout > 0 && timeout <= 86_400) { throw ValidationError("--timeout: expected seconds between 0 and 86400, found \(timeout)") }
        for (name, text) in [("--until", until), ("--send-after", sendAfter)] + failOn.map({ ("--fail-on", $0) }) where text?.isEmpty == true {
            throw ValidationError("\(name): expected a text to watch for, found an empty one")
        }
        if nfs && (net || persist) { throw ValidationError("--nfs boots a copy of the chip through nfsboot: give it without \(net ? "--net" : "--persist")") }
        if net && persist { throw ValidationError("--net boots a copy of the chip with its bootcmd changed; --persist keeps the guest's writes in the build's chip: give one of them") }
    }

    func run() throws {
        if print {
            try FlashsmithCLI.output(try BoardBoot.arguments(outputFolder: output, persist: persist, net: net || nfs).joined(separator: " ") + "\n")
            return
        }
        let options = BoardBoot.Options(persist: persist, net: net, until: until, sendAfter: sendAfter, failOn: failOn, timeout: timeout, nfs: nfs)
        let r = try BoardBoot.run(outputFolder: output, options: options) { chunk in
            try FileIO.writeStdout(chunk)
        }
        if let until, !r.reached {
            throw BoardBoot.Failure(message: "boot \(output): QEMU exited (status \(r.exitStatus ?? -1)) before '\(until)' appeared", category: .data)
        }
        if let s = r.exitStatus, s != 0 { throw BoardBoot.Failure(message: "boot \(output): QEMU exited with status \(s)", category: .io) }
    }
}
