import Disk
import FlashsmithCore
import Foundation
import Testing
import TestSupport

let KiB = 1 << 10, MiB = 1 << 20, GiB = 1 << 30

/// `sfdisk --json` of an image: the partitiontable object.
func sfdiskJSON(_ path: String) throws -> [String: Any] {
    let r = try run("sfdisk", ["--json", path])
    #expect(r.status == 0, "sfdisk --json: \(r.err)")
    let o = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any])
    return try #require(o["partitiontable"] as? [String: Any])
}

func sfdiskPartitions(_ path: String) throws -> [[String: Any]] {
    try sfdiskJSON(path)["partitions"] as? [[String: Any]] ?? []
}

/// A table named for test output.
struct Layout: CustomTestStringConvertible, Sendable {
    var name: String
    var table: PartitionTable
    var testDescription: String { name }
}

func gpt(_ size: Int, _ parts: [Partition], location: Int? = nil, id: GUID? = nil, seed: String = "test-board") -> PartitionTable {
    PartitionTable(kind: .gpt, diskSize: size, diskID: id.map { .guid($0) }, entriesOffset: location, seed: seed, partitions: parts)
}

func mbr(_ size: Int, _ parts: [Partition], id: UInt32? = nil, seed: String = "test-board") -> PartitionTable {
    PartitionTable(kind: .mbr, diskSize: size, diskID: id.map { .mbr($0) }, seed: seed, partitions: parts)
}

func type(_ name: String, _ kind: PartitionTable.Kind) -> PartitionType {
    (try? PartitionType.parse(name, for: kind)) ?? .mbr(0)
}

/// The error text a throwing call gave, or nil.
func errorText(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return "\(error)"
    }
}
