import ArgumentParser
import Foundation
import PostgresNIO
import StrataApp
import StrataCore
import StrataPostgres

/// `strata atproto hosts|repos|status`: what the atproto index holds, for operators.
struct ATProtoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "atproto",
        abstract: "What the ATProto index holds: hosts and their firehose cursors, repositories, totals.",
        discussion: "Reads the atproto projection's view (run `strata work` or `strata serve`). Crawling and following: `strata crawl atproto`.",
        subcommands: [Hosts.self, Repos.self, Status.self])

    static func rows(_ strata: StrataContext, _ query: PostgresQuery) async throws -> [JSONValue] {
        do {
            var out: [JSONValue] = []
            for try await text in try await strata.client.query(query, logger: strata.logger).decode(String.self) {
                out.append(try JSONParser.parse(Array(text.utf8)))
            }
            return out
        } catch where PostgresErrors.isMissingView(error) {
            throw StrataError(.notFound, "the atproto projection has no view yet: run `strata work` or `strata serve` with the atproto topic in the topology")
        }
    }

    static func text(_ v: JSONValue?) -> String {
        switch v {
        case .string(let s)?: s
        case .number(let n)?: n
        case .bool(let b)?: String(b)
        default: "-"
        }
    }

    struct Hosts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hosts listed to crawl, their state and firehose cursor.")
        @OptionGroup var options: GlobalOptions
        @Flag(help: "Print JSON lines.") var json = false

        func run() async throws {
            let json = self.json
            try await options.run { strata in
                let hosts = try await ATProtoCommand.rows(strata, """
                    SELECT json_build_object('hostname', h.hostname, 'state', h.state, 'cursor', h.cursor, 'cursor_at', h.cursor_at,
                        'repos', (SELECT count(*) FROM atproto.repos r WHERE r.host = h.hostname),
                        'desynchronized', (SELECT count(*) FROM atproto.repos r WHERE r.host = h.hostname AND r.sync_state = 'desynchronized'),
                        'requested_by', h.requested_by, 'reason', h.reason)::text
                      FROM atproto.hosts h ORDER BY h.hostname
                    """)
                if json { for h in hosts { printLine(JSONWriter.string(h)) }; return }
                if hosts.isEmpty { printLine("no hosts listed (POST /xrpc/com.atproto.sync.requestCrawl, POST /v1/atproto/hosts, or strata crawl atproto --follow)"); return }
                var table = [["HOST", "STATE", "CURSOR", "CURSOR AT", "REPOS", "DESYNCHRONIZED", "BY"]]
                for h in hosts {
                    table.append(["hostname", "state", "cursor", "cursor_at", "repos", "desynchronized", "requested_by"].map { ATProtoCommand.text(h[$0]) })
                }
                printLine(TextTable.render(table))
            }
        }
    }

    struct Repos: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Repositories in the index: revision, account status, sync state, records.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Only this host's.") var host: String?
        @Flag(help: "Only the desynchronized ones (waiting for a whole export).") var desynchronized = false
        @Option(help: "At most this many.") var limit = 100
        @Flag(help: "Print JSON lines.") var json = false

        func run() async throws {
            let (host, desynchronized, limit, json) = (self.host, self.desynchronized, max(1, min(self.limit, 100_000)), self.json)
            try await options.run { strata in
                let repos = try await ATProtoCommand.rows(strata, """
                    SELECT json_build_object('did', r.did, 'rev', r.rev, 'host', r.host, 'active', r.active, 'status', r.status, 'sync', r.sync_state,
                        'desync_reason', r.desync_reason, 'records', (SELECT coalesce(sum(c.records), 0) FROM atproto.collections c WHERE c.did = r.did))::text
                      FROM atproto.repos r
                     WHERE (\(host)::text IS NULL OR r.host = \(host)) AND (NOT \(desynchronized) OR r.sync_state = 'desynchronized')
                     ORDER BY r.did LIMIT \(limit)
                    """)
                if json { for r in repos { printLine(JSONWriter.string(r)) }; return }
                if repos.isEmpty { printLine("no repositories"); return }
                var table = [["DID", "REV", "HOST", "ACTIVE", "STATUS", "SYNC", "RECORDS", "REASON"]]
                for r in repos {
                    table.append(["did", "rev", "host", "active", "status", "sync", "records", "desync_reason"].map { String(ATProtoCommand.text(r[$0]).prefix(80)) })
                }
                printLine(TextTable.render(table))
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Totals: repositories (active, desynchronized), records, collections, hosts.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await options.run { strata in
                let totals = try await ATProtoCommand.rows(strata, """
                    SELECT json_build_object('repos', (SELECT count(*) FROM atproto.repos),
                        'active', (SELECT count(*) FROM atproto.repos WHERE active),
                        'desynchronized', (SELECT count(*) FROM atproto.repos WHERE sync_state = 'desynchronized'),
                        'records', (SELECT count(*) FROM atproto.records),
                        'collections', (SELECT count(DISTINCT collection) FROM atproto.collections),
                        'hosts', (SELECT count(*) FROM atproto.hosts WHERE state = 'active'))::text
                    """)
                printLine(JSONWriter.string(totals.first ?? .null))
            }
        }
    }
}
