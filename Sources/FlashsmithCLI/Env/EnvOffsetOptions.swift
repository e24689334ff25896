import ArgumentParser
import FlashsmithCore
import UBootEnv

/// `--offset OFF [--redundant OFF2]`: an environment inside a bigger image (a chip image, as
/// `flashsmith build` writes NAME.img), at byte offsets; `-s` gives the copy size, else it is where
/// the first copy's CRC checks. Read and written as a one- or two-line fw_env.config naming the file
/// (`build` writes one: OUTDIR/chip-fw_env.config).
struct EnvOffsetOptions: ParsableArguments {
    @Option(name: .long, help: "The environment is at this byte offset of FILE (a chip image): 0x100000, 1MiB. Copy size: -s, else where its CRC checks.")
    var offset: ByteSize?

    @Option(name: .long, help: "With --offset: the second copy of a redundant pair is at this byte offset of FILE.")
    var redundant: ByteSize?

    /// The environment at the offsets in `file`, or nil without --offset.
    func read(file: String?, layout: EnvLayoutOptions) throws -> EnvBlob? {
        guard let offset else {
            if redundant != nil { throw ValidationError("--redundant OFF2 needs --offset OFF (the first copy)") }
            return nil
        }
        if layout.config != nil { throw ValidationError("--offset addresses FILE; -c gives the places in a config: use one of them") }
        guard let file else { throw ValidationError("--offset needs a FILE (a chip image)") }
        let config = try EnvPartitionImage.config(path: file, offset: offset.bytes, redundantOffset: redundant?.bytes, size: layout.size?.bytes, hints: layout.hints())
        return try EnvBlob.read(config: config, hints: layout.hints())
    }
}
