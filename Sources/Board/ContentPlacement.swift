import FlashsmithCore

/// Where content goes on a chip with known bad blocks, as U-Boot's `nand write`, Linux's nandwrite
/// and U-Boot's env_nand see it: a run of bytes is written from the first good block of its range
/// on, skipping bad blocks, and never past the end of its range.
/// - A partition's image is one run; its range is the whole partition.
/// - A redundant environment is one run per copy, each in its own range: the partition split in
///   halves (fw_env.config's sector count, U-Boot's `CONFIG_ENV_RANGE`). U-Boot's env_nand and
///   libubootenv read each copy from the first good block at or after the start of its range, so
///   that is where it is written; a bad block in copy 1's range never pushes it into copy 2's.
struct ContentRun: Equatable {
    enum Kind: Equatable {
        /// A partition's whole image.
        case image
        /// Copy N (1 or 2) of an environment.
        case envCopy(Int)
    }

    var kind: Kind
    /// The bytes of the partition image this run holds.
    var source: Int
    var count: Int
    /// Its range on the chip: first erase block and number of blocks.
    var firstBlock: Int
    var blocks: Int

    /// A partition's whole image of `bytes`.
    static func image(_ p: BoardLayout.Partition, bytes: Int, eraseBlock: Int) -> ContentRun {
        ContentRun(kind: .image, source: 0, count: bytes, firstBlock: p.offset / eraseBlock, blocks: p.blocks)
    }
}

extension BoardLayout {
    /// Known bad blocks in `range`, in order.
    func knownBad(in range: Range<Int>) -> [Int] { badBlocks.filter { range.contains($0) }.sorted() }

    /// Erase blocks `count` bytes take.
    func blocksFor(_ count: Int) -> Int { (count + flash.eraseBlockSize - 1) / flash.eraseBlockSize }

    /// The chip blocks `run` is written to: the first good blocks of its range; an error naming the
    /// partition, the range and its bad blocks when there are not enough.
    func placement(_ run: ContentRun, in p: Partition) throws -> [Int] {
        let needed = blocksFor(run.count)
        let range = run.firstBlock..<(run.firstBlock + run.blocks)
        let good = range.lazy.filter { !self.badBlocks.contains($0) }.prefix(needed)
        guard good.count == needed else {
            let bad = knownBad(in: range)
            let badList = bad.isEmpty ? "" : ", \(bad.count) bad: " + bad.map(String.init).joined(separator: ", ")
            switch run.kind {
            case .image:
                let room = (run.blocks - bad.count) * flash.eraseBlockSize
                throw Failure(message: "\(source):\(p.line): partition '\(p.name)': content is \(run.count) bytes (\(hex(run.count))), the partition holds \(room) (\(run.blocks) blocks\(badList))")
            case let .envCopy(c):
                throw Failure(message: "\(source):\(p.line): partition '\(p.name)': env copy \(c) needs \(needed) good block(s) in its range, chip blocks \(range.lowerBound)…\(range.upperBound - 1), which has \(run.blocks - bad.count) (\(run.blocks) blocks\(badList))")
            }
        }
        return Array(good)
    }

    /// How many more blocks may go bad in `run`'s range before it no longer fits (never negative).
    func spare(_ run: ContentRun) -> Int {
        let range = run.firstBlock..<(run.firstBlock + run.blocks)
        return max(0, run.blocks - knownBad(in: range).count - blocksFor(run.count))
    }

    /// Known bad blocks past the chip (board.yaml's `bad-blocks:` or `--bad-blocks`): an error.
    func checkBadBlocksOnChip() throws {
        guard let bad = badBlocks.filter({ $0 < 0 || $0 >= flash.blocks }).min() else { return }
        throw Failure(message: "\(source): bad-blocks: block \(bad) is past the chip's \(flash.blocks) blocks (0…\(flash.blocks - 1))")
    }
}
