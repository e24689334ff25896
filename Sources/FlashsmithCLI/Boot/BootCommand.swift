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
            --until TEXT stops QEMU (exit 0) once TEXT appears on the console; --timeout SECONDS stops it \
            with an error. QEMU never outlives flashsmith.
            """
    )

    @Argument(help: "The output folder of flashsmith build.")
    var output: String

    @Option(name: .long, help: "Stop QEMU and exit 0 once this text appears on the console.")
    var until: String?

    @Option(name: .long, help: "Stop QEMU and fail after this many seconds.")
    var timeout: Double?

    @Flag(name: .long, help: "Let the guest's writes to the flash reach the chip image.")
    var persist = false

    @Flag(name: .long, help: "Print the QEMU command line (run in OUTDIR) and exit.")
    var print = false

    func validate() throws {
        if let timeout, !(timeout.isFinite && timeout > 0 && timeout <= 86_400) { throw ValidationError("--timeout: expected seconds between 0 and 86400, found \(timeout)") }
    }

    func run() throws {
        if print {
            try FlashsmithCLI.output(try BoardBoot.arguments(outputFolder: output, persist: persist).joined(separator: " ") + "\n")
            return
        }
        let r = try BoardBoot.run(outputFolder: output, persist: persist, until: until, timeout: timeout) { chunk in
            try FileIO.writeStdout(chunk)
        }
        if let until, !r.reached {
            throw BoardBoot.Failure(message: "boot \(output): QEMU exited (status \(r.exitStatus ?? -1)) before '\(until)' appeared", category: .data)
        }
        if let s = r.exitStatus, s != 0 { throw BoardBoot.Failure(message: "boot \(output): QEMU exited with status \(s)", category: .io) }
    }
}
