import FlashsmithCore

/// Differences between two environments, by variable name (the last definition of a name counts,
/// as in U-Boot's import).
public struct EnvDiff: Sendable {
    public enum Entry: Sendable, Equatable {
        case removed(EnvVariable)
        case added(EnvVariable)
        case changed(old: EnvVariable, new: EnvVariable)
    }

    public var entries: [Entry] = []

    public init(_ a: [EnvVariable], _ b: [EnvVariable]) {
        func lastByName(_ vs: [EnvVariable]) -> ([[UInt8]], [[UInt8]: EnvVariable]) {
            var order: [[UInt8]] = []
            var map: [[UInt8]: EnvVariable] = [:]
            for v in vs {
                if map[v.name] == nil { order.append(v.name) }
                map[v.name] = v
            }
            return (order, map)
        }
        let (orderA, mapA) = lastByName(a), (orderB, mapB) = lastByName(b)
        for n in orderA {
            guard let old = mapA[n] else { continue }
            if let new = mapB[n] {
                if new.value != old.value { entries.append(.changed(old: old, new: new)) }
            } else {
                entries.append(.removed(old))
            }
        }
        for n in orderB where mapA[n] == nil {
            if let v = mapB[n] { entries.append(.added(v)) }
        }
    }

    public var json: JSON {
        func v(_ x: EnvVariable) -> JSON { .object([("name", jsonBytes(x.name)), ("value", jsonBytes(x.value))]) }
        var removed: [JSON] = [], added: [JSON] = [], changed: [JSON] = []
        for e in entries {
            switch e {
            case let .removed(x): removed.append(v(x))
            case let .added(x): added.append(v(x))
            case let .changed(o, n): changed.append(.object([("name", jsonBytes(o.name)), ("old", jsonBytes(o.value)), ("new", jsonBytes(n.value))]))
            }
        }
        return .object([("equal", .bool(entries.isEmpty)), ("removed", .array(removed)), ("added", .array(added)), ("changed", .array(changed))])
    }
}
