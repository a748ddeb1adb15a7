import Foundation
import StrataATProto
import StrataCore

/// The outbound stream in Jetstream's v1 JSON shape, read from the `atproto` topic: a record put is
/// a `commit` (`create`, or `update` when the firehose said so), a delete a `commit` `delete`, an
/// account status an `account`, an identity change an `identity`. `time_us` is the event's append time in microseconds.
///
/// A subscription reads every partition of the topic from the offsets its cursor gives and merges
/// them by append time: events of one repository arrive in log order, and replay and live are one
/// read of the log, so nothing is missed or sent twice where the replay catches up.
public enum Jetstream {
    /// Who wants what: `wantedCollections` (NSIDs, or prefixes `app.bsky.*`), `wantedDids`.
    public struct Filter: Sendable, Equatable {
        public var collections: Set<String> = []
        public var prefixes: [String] = []
        public var dids: Set<String> = []

        public static let maximumCollections = 100
        public static let maximumDids = 10_000

        public init() {}

        /// Reads the filters, naming the first one that is not valid.
        public init(collections: [String], dids: [String]) throws(ATProtoError) {
            guard collections.count <= Self.maximumCollections else { throw ATProtoError("at most \(Self.maximumCollections) wantedCollections") }
            guard dids.count <= Self.maximumDids else { throw ATProtoError("at most \(Self.maximumDids) wantedDids") }
            for c in collections {
                if c.hasSuffix(".*") {
                    let prefix = String(c.dropLast())
                    guard prefix.count > 1, Syntax.isValidNSID(prefix + "x") else { throw ATProtoError("wantedCollections: '\(c.prefix(100))' is not an NSID prefix") }
                    prefixes.append(prefix)
                } else {
                    guard Syntax.isValidNSID(c) else { throw ATProtoError("wantedCollections: '\(c.prefix(100))' is not an NSID") }
                    self.collections.insert(c)
                }
            }
            for d in dids {
                guard Syntax.isValidDID(d) else { throw ATProtoError("wantedDids: '\(d.prefix(100))' is not a DID") }
                self.dids.insert(d)
            }
        }

        /// Account events carry no collection: they pass the collection filter.
        public func wants(did: String, collection: String?) -> Bool {
            if !dids.isEmpty, !dids.contains(did) { return false }
            guard let collection, !collections.isEmpty || !prefixes.isEmpty else { return true }
            return collections.contains(collection) || prefixes.contains { collection.hasPrefix($0) }
        }
    }

    /// A message and the event it came from.
    public struct Message: Sendable {
        public var json: String
        public var timeUS: Int64
        public var partition: Int
        public var offset: Int64
    }

    public static func timeMicros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }

    /// The event as a Jetstream message, or nil for events the stream does not carry (syncs, hosts,
    /// cursors) and those the filter does not want.
    public static func message(_ event: Event, filter: Filter) -> String? {
        guard event.type == ATProtoEvents.recordPut || event.type == ATProtoEvents.recordDeleted || event.type == ATProtoEvents.accountStatus
            || event.type == ATProtoEvents.identity,
            let p = try? JSONParser.parse(event.payload), let did = p["did"]?.stringValue
        else { return nil }
        let time = timeMicros(event.appendedAt)
        switch event.type {
        case ATProtoEvents.identity:
            guard filter.wants(did: did, collection: nil) else { return nil }
            var identity: [String: JSONValue] = ["did": .string(did), "time": .string(RFC3339.format(event.appendedAt))]
            if let h = p["handle"] { identity["handle"] = h }
            if let s = p["seq"] { identity["seq"] = s }
            return JSONWriter.string(["did": .string(did), "time_us": .int(time), "kind": "identity", "identity": .object(identity)])
        case ATProtoEvents.accountStatus:
            guard filter.wants(did: did, collection: nil) else { return nil }
            var account: [String: JSONValue] = ["active": p["active"] ?? .bool(true), "did": .string(did), "time": .string(RFC3339.format(event.appendedAt))]
            if let s = p["status"] { account["status"] = s }
            if let s = p["seq"] { account["seq"] = s }
            return JSONWriter.string(["did": .string(did), "time_us": .int(time), "kind": "account", "account": .object(account)])
        default:
            guard let collection = p["collection"]?.stringValue, filter.wants(did: did, collection: collection) else { return nil }
            var commit: [String: JSONValue] = ["rev": p["rev"] ?? "", "collection": .string(collection), "rkey": p["rkey"] ?? ""]
            if event.type == ATProtoEvents.recordPut {
                commit["operation"] = p["operation"] ?? "create"
                commit["record"] = p["record"] ?? .null
                commit["cid"] = p["cid"] ?? .null
            } else {
                commit["operation"] = "delete"
            }
            return JSONWriter.string(["did": .string(did), "time_us": .int(time), "kind": "commit", "commit": .object(commit)])
        }
    }

    /// Where a subscription starts: per partition the first event appended at or after `cursor`
    /// (microseconds), or the end (live) without a cursor or with one in the future.
    public static func startOffsets(log: any EventLog, cursor: Int64?) async throws -> [Int64] {
        let ends = try await withDeadline(.seconds(30), "reading the atproto topic's end offsets") { try await log.endOffsets(topic: ATProtoEvents.topic) }
        guard let cursor, cursor <= timeMicros(Date()) else { return ends }
        var starts: [Int64] = []
        for (partition, end) in ends.enumerated() {
            var (lo, hi) = (Int64(0), end)
            while lo < hi {
                let mid = lo + (hi - lo) / 2
                let at = try await withDeadline(.seconds(30), "finding the cursor in the log") {
                    try await log.appendedAt(topic: ATProtoEvents.topic, partition: partition, offset: mid)
                }
                // An offset without an event (a gap on Kafka) counts as before the cursor.
                if let at, timeMicros(at) >= cursor { hi = mid } else { lo = mid + 1 }
            }
            starts.append(lo)
        }
        return starts
    }

    /// Reads the topic from `offsets`, merged by append time, and hands each run of messages to
    /// `emit` (an empty run after `keepAlive` without events). Returns when cancelled.
    public static func stream(log: any EventLog, from offsets: [Int64], filter: Filter, keepAlive: Duration = .seconds(15),
        emit: ([Message]) async throws -> Void) async throws
    {
        let topic = ATProtoEvents.topic
        var next = offsets
        var buffers = [[Event]](repeating: [], count: offsets.count)
        var heads = [Int](repeating: 0, count: offsets.count)
        var caughtUp = [Bool](repeating: false, count: offsets.count)
        while !Task.isCancelled {
            for p in buffers.indices where heads[p] >= buffers[p].count {
                let from = next[p]
                let batch = try await withDeadline(.seconds(60), "reading \(topic)/\(p)") {
                    try await log.read(topic: topic, partition: p, from: from, limit: 500, maxBytes: 8 << 20)
                }
                buffers[p] = batch
                heads[p] = 0
                caughtUp[p] = batch.isEmpty
                if let last = batch.last { next[p] = last.offset + 1 }
            }
            // Emit the earliest head while every partition has one or has nothing more now.
            var out: [Message] = []
            merging: while true {
                var best: Int?
                for p in buffers.indices {
                    if heads[p] < buffers[p].count {
                        if let b = best, buffers[b][heads[b]].appendedAt <= buffers[p][heads[p]].appendedAt { continue }
                        best = p
                    } else if !caughtUp[p] {
                        break merging
                    }
                }
                guard let p = best else { break }
                let event = buffers[p][heads[p]]
                heads[p] += 1
                if let m = message(event, filter: filter) { out.append(Message(json: m, timeUS: timeMicros(event.appendedAt), partition: p, offset: event.offset)) }
                if heads[p] >= buffers[p].count { caughtUp[p] = false; break }
            }
            if !out.isEmpty {
                try await emit(out)
                continue
            }
            guard buffers.indices.allSatisfy({ heads[$0] >= buffers[$0].count && caughtUp[$0] }) else { continue }
            // Everything read: wait for the next append on any partition.
            let woke = try await withThrowingTaskGroup(of: Bool.self) { group in
                for p in buffers.indices {
                    let beyond = next[p]
                    group.addTask { try await log.waitForEvents(topic: topic, partition: p, beyond: beyond, timeout: keepAlive) }
                }
                defer { group.cancelAll() }
                var any = false
                while let w = try await group.next() {
                    if w { any = true; break }
                }
                return any
            }
            if !woke { try await emit([]) }
        }
    }
}
