import ArgumentParser
import Board
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// `flashsmith build BOARD -o OUTDIR`: every image and file the board needs, from its board.yaml.
struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build everything a board needs from its one description: chip image (with and without OOB), partition images, UBI with UBIFS, environment, mtdparts, device tree, fw_env.config, U-Boot flashing script, report.",
        discussion: "BOARD: layouts/NAME or its board.yaml. --sysroot replaces the board's sysroot: (where ${sysroot}/boot/vmlinuz-* and the like are found). Long steps show progress on a terminal (standard error)."
    )

    @Argument(help: "The board: a folder holding board.yaml, the file itself, or the name of a shipped board (qemu-arm64, nandsim, …).")
    var board: String

    @Option(name: .shortAndLong, help: "The output folder.")
    var output: String

    @Flag(name: .long, help: "Replace the output folder even if Flashsmith did not write it (it holds other files and no .flashsmith-output marker).")
    var force = false

    @Option(name: .long, help: "Known bad erase blocks (chip block numbers, comma-separated), added to the board's: content skips them, the OOB image marks them.")
    var badBlocks: BlockList?

    @Option(name: .long, help: "How the built env's bootcmd boots, instead of the board's boot: — flash, tftp (the FIT over TFTP) or nfs (that, with the rootfs as an NFS root in OUT/nfsroot). One board file for the development loop and the factory image.")
    var boot: String?

    @OptionGroup var layers: RootFSLayerOptions

    func run() throws {
        // --sysroot (from the layer options) replaces the board's sysroot: (${sysroot} in board.yaml).
        var b = try BoardLayout.load(locateBoard(board), sysroot: layers.sysroot == "/" ? nil : layers.sysroot)
        if b.flash.kind == .nor, !(badBlocks?.blocks ?? []).isEmpty { throw ValidationError("--bad-blocks: board \(b.name) is NOR, which has no bad blocks") }
        for v in badBlocks?.blocks ?? [] {
            guard v < b.flash.blocks else { throw ValidationError("--bad-blocks: block \(v) is past the chip's \(b.flash.blocks) blocks") }
            b.badBlocks.insert(v)
        }
        if let boot {
            guard let m = BootMethod(rawValue: boot) else {
                let hint = Spelling.nearest(to: boot, among: BootMethod.allCases.map(\.rawValue)).map { "; did you mean '\($0)'?" } ?? ""
                throw ValidationError("--boot: expected flash, tftp or nfs, found '\(boot)'\(hint)")
            }
            if m.usesNetwork && b.network.server == nil {
                throw ValidationError("--boot \(boot): board \(b.name) has no network: (server: the TFTP\(m == .nfs ? "/NFS" : "") server's address, client: the board's or dhcp) and no qemu: to take QEMU's user network from")
            }
            b.boot = m
        }
        let tty = isatty(STDERR_FILENO) == 1
        let report = try BoardBuild.run(b, output: output, options: BoardBuild.Options(skeletonPaths: layers.skeletonPaths(), force: force, command: invocation()) { step in
            if tty { printError("flashsmith build: \(step) …") }
        })
        try FlashsmithCLI.output(report + "  outputs: \(output)/\n")
    }
}

/// The command line as the user typed it (for the marker an output folder keeps).
func invocation() -> String {
    (["flashsmith"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
}
