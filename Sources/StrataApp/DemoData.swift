import Foundation
import StrataCore

/// Sample data for `strata serve --demo`: something in every view on a fresh install. Idempotent:
/// loading twice adds nothing.
public enum DemoData {
    public static func load(into strata: StrataContext) async throws {
        var drafts: [EventDraft] = []
        for i in 0..<1000 {
            drafts.append(EventDraft(topic: "demo", key: "account-\(i % 20)", type: "demo.event", id: "demo-\(i)", source: "demo",
                payload: ["amount": .int((i * 37) % 500), "note": .string("demo event \(i)")]))
        }
        let receipts = try await strata.producer.append(drafts)
        let added = receipts.filter { !$0.duplicate }.count
        FileHandle.standardError.write(Data("demo: \(added) demo events appended (\(receipts.count - added) were already there)\n".utf8))
    }
}
