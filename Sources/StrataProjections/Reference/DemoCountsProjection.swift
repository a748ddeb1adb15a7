import Foundation
import PostgresNIO
import StrataCore
import StrataPostgres

/// The reference projection the runtime is proven with: per-key event counts and amount sums over
/// the `demo` topic, plus an index row per event.
///
/// `refuseFailing` makes events whose payload has `"fail": true` fail every attempt, the way a bug
/// in a projection would; a "fixed" instance (`refuseFailing: false`) applies them.
public struct DemoCountsProjection: Projection {
    public let name: String
    public let topics: [String]
    public let version = 1
    public let poisonPolicy: PoisonPolicy
    public let refuseFailing: Bool

    public init(name: String = "demo_counts", topic: String = "demo", poisonPolicy: PoisonPolicy = .skip, refuseFailing: Bool = true) {
        self.name = name
        self.topics = [topic]
        self.poisonPolicy = poisonPolicy
        self.refuseFailing = refuseFailing
    }

    public func createTables(_ context: ProjectionContext) async throws {
        try await context.execute("""
            CREATE TABLE \(context.table("key_counts")) (
                key text PRIMARY KEY,
                events bigint NOT NULL,
                amount_sum numeric NOT NULL,
                last_partition int NOT NULL,
                last_offset bigint NOT NULL
            )
            """)
        try await context.execute("""
            CREATE TABLE \(context.table("event_index")) (
                partition int NOT NULL,
                log_offset bigint NOT NULL,
                key text NOT NULL,
                amount bigint NOT NULL,
                appended_at timestamptz NOT NULL,
                PRIMARY KEY (partition, log_offset)
            )
            """)
    }

    private static let members = ["amount", "fail"]

    public func apply(_ events: [Event], _ context: ProjectionContext) async throws {
        var index = CopyTextRows(reservingBytes: events.count * 64)
        struct Sum {
            var events: Int64 = 0, amount: Int64 = 0, partition: Int32 = 0, offset: Int64 = 0
            mutating func add(_ value: Int64, at event: Event) {
                events += 1
                amount += value
                partition = Int32(event.partition)
                offset = event.offset
            }
        }
        var sums: [String: Sum] = [:]
        for event in events {
            let members = try event.payloadMembers(Self.members)
            if refuseFailing, members[1]?.boolValue == true {
                throw ProjectionError("event \(event.position) is marked to fail (\"fail\": true)")
            }
            let amount = members[0]?.int64Value ?? 0
            index.append(event.partition)
            index.append(event.offset)
            index.append(event.key)
            index.append(amount)
            index.append(event.appendedAt)
            index.endRow()
            sums[event.key, default: Sum()].add(amount, at: event)
        }
        try await context.copy(into: "event_index", columns: ["partition", "log_offset", "key", "amount", "appended_at"], index)
        let sortedKeys = sums.keys.sorted()
        try await context.query("""
            INSERT INTO \(unescaped: context.table("key_counts")) AS k (key, events, amount_sum, last_partition, last_offset)
            SELECT * FROM unnest(\(sortedKeys), \(sortedKeys.map { sums[$0]!.events }), \(sortedKeys.map { sums[$0]!.amount })::numeric[],
                                 \(sortedKeys.map { sums[$0]!.partition }), \(sortedKeys.map { sums[$0]!.offset }))
            ON CONFLICT (key) DO UPDATE
               SET events = k.events + EXCLUDED.events, amount_sum = k.amount_sum + EXCLUDED.amount_sum,
                   last_partition = EXCLUDED.last_partition, last_offset = EXCLUDED.last_offset
            """)
    }
}
