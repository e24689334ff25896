import ArgumentParser
import FlashsmithCore
import MTD
#if canImport(Glibc)
import Glibc
#endif

/// `flashsmith flash <verb>`: MTD devices on the board itself (libmtd).
struct FlashCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flash",
        abstract: "Write, format and read MTD devices on the device (libmtd): bad blocks skipped, writes verified.",
        subcommands: [Write.self, UBIFormat.self, Read.self]
    )

    static func open(_ path: String, writable: Bool) throws -> MTDDevice {
        guard let d = try MTDDevice.openIfMTD(path, writable: writable) else {
            throw MTDError(device: path, operation: "open", block: nil, reason: "expected an MTD character device (/dev/mtdN), found none")
        }
        return d
    }

    static func progress(_ what: String) -> (Int, Int) -> Void {
        let tty = isatty(STDERR_FILENO) == 1
        return { done, total in
            if tty && (done == total || done % 16 == 0) { printError("\(what): \(done)/\(total) blocks") }
        }
    }

    struct Write: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "write",
            abstract: "Erase, write and verify an image into an MTD partition, skipping bad blocks (as nandwrite -p; fails before erasing when it cannot fit)."
        )
        @Argument(help: "The MTD device, e.g. /dev/mtd2.") var device: String
        @Argument(help: "The image.") var image: String

        func run() throws {
            let d = try FlashCommand.open(device, writable: true)
            let r = try MTDWriter.write(d, image: image, progress: FlashCommand.progress("flash write \(device)"))
            try output("\(device): \(r.blocksWritten) block(s) written and verified\(r.skippedBad.isEmpty ? "" : ", bad block(s) skipped: \(r.skippedBad.map(String.init).joined(separator: ","))")\n")
        }
    }

    struct UBIFormat: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ubiformat",
            abstract: "Write a UBI image as ubiformat does: erase counters kept and incremented, bad blocks skipped, the rest of the partition formatted."
        )
        @Argument(help: "The MTD device.") var device: String
        @Argument(help: "The UBI image.") var image: String

        func run() throws {
            let d = try FlashCommand.open(device, writable: true)
            let r = try MTDWriter.ubiformat(d, image: image, progress: FlashCommand.progress("flash ubiformat \(device)"))
            try output("\(device): \(r.blocksWritten) PEB(s) of the image written, \(r.erasedOnly) formatted, mean erase counter \(r.meanEraseCounter)\(r.skippedBad.isEmpty ? "" : ", bad: \(r.skippedBad.map(String.init).joined(separator: ","))")\n")
        }
    }

    struct Read: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "read", abstract: "Read a whole MTD device to a file (bad blocks as 0xff), with --oob each page followed by its OOB.")
        @Argument(help: "The MTD device.") var device: String
        @Option(name: .shortAndLong, help: "The file.") var output: String
        @Flag(name: .long, help: "Interleave each page's OOB.") var oob = false

        func run() throws {
            let d = try FlashCommand.open(device, writable: false)
            let r = try MTDWriter.read(d, to: output, oob: oob)
            try FlashsmithCLI.output("\(device): \(r.blocksWritten) blocks read to \(output)\(r.skippedBad.isEmpty ? "" : ", bad: \(r.skippedBad.map(String.init).joined(separator: ","))")\n")
        }
    }
}
