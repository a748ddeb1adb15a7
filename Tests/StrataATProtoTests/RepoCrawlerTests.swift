import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import StrataAPI
import StrataATProto
import StrataATProtoIndex
import StrataApp
import StrataCore
import StrataCrawl
import StrataProjections
import StrataTestSupport
import Synchronization
import Testing

/// A PDS and a PLC directory on loopback serving indigo's real repository exports and DID
/// documents, with faults: a 500 on the first listRepos page, a 429 (Retry-After) on a getRepo.
final class FakePDS: Sendable {
    struct Account: Sendable {
        var did: String
        var rev: String
        var active: Bool
        var status: String?
        var car: [UInt8]?
        var didDocument: [UInt8]?
    }

    let state: Mutex<[Account]>
    var accounts: [Account] { state.withLock { $0 } }
    let requests = Mutex<[String]>([])
    let faults = Mutex<[String: String]>([:])

    init(accounts: [Account]) { state = Mutex(accounts) }

    /// Changes an account's status as the PDS reports it.
    func set(_ did: String, active: Bool, status: String?) {
        state.withLock { all in
            for i in all.indices where all[i].did == did {
                all[i].active = active
                all[i].status = status
            }
        }
    }

    func run(port: @escaping @Sendable (Int) async -> Void) async throws {
        let router = Router()
        router.get("**") { request, _ -> Response in
            let path = request.uri.path
            let target = path + (request.uri.query.map { "?" + $0 } ?? "")
            self.requests.withLock { $0.append(target) }
            switch self.faults.withLock({ $0.removeValue(forKey: target) }) {
            case "429": return Response(status: .tooManyRequests, headers: [.retryAfter: "1"])
            case "500": return Response(status: .internalServerError)
            default: break
            }
            func json(_ value: JSONValue) -> Response {
                Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: JSONWriter.string(value))))
            }
            switch path {
            case "/xrpc/com.atproto.server.describeServer":
                return json(["did": "did:web:pds.test", "availableUserDomains": .array([])])
            case "/xrpc/com.atproto.sync.listRepos":
                // Two accounts a page.
                let start = Int(request.uri.queryParameters["cursor"].map(String.init) ?? "0") ?? 0
                let accounts = self.accounts
                let page = accounts.dropFirst(start).prefix(2)
                var body: [String: JSONValue] = [
                    "repos": .array(page.map { a in
                        var repo: [String: JSONValue] = ["did": .string(a.did), "head": "bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454",
                            "rev": .string(a.rev), "active": .bool(a.active)]
                        if let s = a.status { repo["status"] = .string(s) }
                        return .object(repo)
                    }),
                ]
                if start + 2 < accounts.count { body["cursor"] = .string(String(start + 2)) }
                return json(.object(body))
            case "/xrpc/com.atproto.sync.getRepo":
                let did = request.uri.queryParameters["did"].map(String.init) ?? ""
                guard let car = self.accounts.first(where: { $0.did == did })?.car else {
                    return Response(status: .badRequest, body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"error":"RepoNotFound"}"#)))
                }
                return Response(status: .ok, headers: [.contentType: "application/vnd.ipld.car"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: car)))
            default:
                if path.hasPrefix("/plc/"), let doc = self.accounts.first(where: { "/plc/" + $0.did == path })?.didDocument {
                    return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: doc)))
                }
                return Response(status: .notFound)
            }
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in await port(channel.localAddress?.port ?? 0) })
        try await app.runService()
    }
}

@Suite(.serialized) struct RepoCrawlerTests {
    static func file(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: ATProtoDataModelTests.cars.appendingPathComponent(name))) }

    /// A crawl through a 500 and a 429 verifies and indexes every active repository whose commit
    /// its DID document signed, refuses the one whose document holds another key, records the
    /// inactive account, and keeps only the configured collections; a second crawl appends nothing
    /// and does not fetch an unchanged repository again.
    @Test func aPDSIsBackfilledVerifiedAndARecrawlAppendsNothing() async throws {
        let faker = try RepositoryExport(car: try Self.file("fakermaker.repo.car"))
        let green = try RepositoryExport(car: try Self.file("greenground.repo.car"))
        // greenground's DID resolves to a document holding fakermaker's key, which did not sign it.
        guard case .object(var forged) = try JSONParser.parse(try Self.file("fakermaker.didDoc.json")) else { Issue.record("no document"); return }
        forged["id"] = .string(green.commit.did)
        let accounts = [
            FakePDS.Account(did: faker.commit.did, rev: faker.commit.rev, active: true, car: try Self.file("fakermaker.repo.car"),
                didDocument: try Self.file("fakermaker.didDoc.json")),
            FakePDS.Account(did: "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", rev: "3kaaaaaaaaaaa", active: false, status: "takendown"),
            FakePDS.Account(did: green.commit.did, rev: green.commit.rev, active: true, car: try Self.file("greenground.repo.car"),
                didDocument: Array(JSONWriter.string(.object(forged)).utf8)),
        ]
        let prefix = try #require(faker.records.first?.collection.split(separator: ".").prefix(3).joined(separator: ".")) + "."
        let wanted = faker.records.filter { $0.collection.hasPrefix(prefix) }
        #expect(!wanted.isEmpty)
        let fake = FakePDS(accounts: accounts)
        fake.faults.withLock {
            $0["/xrpc/com.atproto.sync.listRepos?limit=1000"] = "500"
            $0["/xrpc/com.atproto.sync.getRepo?did=\(faker.commit.did)"] = "429"
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await http.shutdown() } }
        try await TestEnvironment.withStrata { strata in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let port = AsyncStream<Int>.makeStream()
                group.addTask { try await fake.run { port.continuation.yield($0) } }
                var iterator = port.stream.makeAsyncIterator()
                let bound = try #require(await iterator.next())
                var crawl = CrawlSettings()
                crawl.timeout = .seconds(5)
                crawl.backoff = .milliseconds(50)
                crawl.perHostRate = 0
                let client = CrawlClient(http: http, db: strata.client, settings: crawl, logger: TestEnvironment.logger)
                var settings = RepoCrawler.Settings()
                settings.collections = [prefix]
                settings.plcURL = "http://127.0.0.1:\(bound)/plc"
                settings.allowHighS = true  // fakermaker's 2023 commit is high-S
                let crawler = RepoCrawler(client: client, producer: strata.producer, db: strata.client, settings: settings, logger: TestEnvironment.logger)
                let host = "localhost:\(bound)"
                let first = try await crawler.crawl(host: host)
                #expect(first.listed == 3 && first.inactive == 1, "\(first)")
                #expect(first.fetched == 1 && first.records == wanted.count, "\(first)")
                #expect(first.failures.count == 1 && first.failures[0].did == green.commit.did, "\(first)")
                #expect(first.failures.first?.error.contains("not signed by") == true, "\(first)")
                #expect(fake.faults.withLock { $0.isEmpty }, "every fault was hit")
                #expect(fake.requests.withLock { $0 }.filter { $0.hasPrefix("/xrpc/com.atproto.sync.getRepo?did=\(faker.commit.did)") }.count == 2, "the 429 was retried")

                try await ProjectionHarness.runUntilCaughtUp(strata, [ATProtoIndexProjection()], timeout: .seconds(240))
                let app = Application(router: buildRouter(strata.apiDependencies(writeToken: nil, metrics: false), routes: [ATProtoRoutes()]), logger: strata.logger)
                try await app.test(.router) { client in
                    for collection in Set(wanted.map(\.collection)) {
                        let page = try await client.json("/xrpc/com.atproto.sync.listReposByCollection?collection=\(collection)")
                        #expect(page.json["repos"]?.arrayValue?.compactMap { $0["did"]?.stringValue } == [faker.commit.did])
                    }
                    let info = try await client.json("/v1/atproto/repos/\(faker.commit.did)")
                    #expect(info.json["host"]?.stringValue == host)
                    #expect(info.json["collections"]?.arrayValue?.allSatisfy { $0["collection"]?.stringValue?.hasPrefix(prefix) == true } == true)
                    #expect(info.json["collections"]?.arrayValue?.map { $0["records"]?.intValue ?? 0 }.reduce(0, +) == wanted.count)
                    let takendown = try await client.json("/v1/atproto/repos/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
                    #expect(takendown.json["active"] == .bool(false) && takendown.json["status"] == "takendown")
                    #expect(try await client.json("/v1/atproto/repos/\(green.commit.did)").status == .notFound)
                }

                let ends = try await strata.log.endOffsets(topic: ATProtoEvents.topic)
                let second = try await crawler.crawl(host: host)
                #expect(second.appended == 0, "\(second)")
                #expect(try await strata.log.endOffsets(topic: ATProtoEvents.topic) == ends)

                // The account is deactivated, then active again at the same revision: each change is
                // appended once and the listings follow it.
                @Sendable func listed() async throws -> Bool {
                    try await ProjectionHarness.runUntilCaughtUp(strata, [ATProtoIndexProjection()], timeout: .seconds(240))
                    return try await app.test(.router) { client in
                        let page = try await client.json("/xrpc/com.atproto.sync.listReposByCollection?collection=\(wanted[0].collection)")
                        return page.json["repos"]?.arrayValue?.contains { $0["did"]?.stringValue == faker.commit.did } == true
                    }
                }
                fake.set(faker.commit.did, active: false, status: "deactivated")
                let third = try await crawler.crawl(host: host)
                #expect(third.appended == 1 && third.inactive == 2, "\(third)")
                #expect(try await listed() == false)
                #expect(try await crawler.crawl(host: host).appended == 0, "still deactivated: nothing new")
                fake.set(faker.commit.did, active: true, status: nil)
                let fourth = try await crawler.crawl(host: host)
                #expect(fourth.appended == 1, "\(fourth)")
                #expect(try await listed() == true)
                group.cancelAll()
            }
        }
    }

    @Test func aHostThatIsNotAPDSIsAClearError() async throws {
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await http.shutdown() } }
        let fake = FakePDS(accounts: [])
        try await TestEnvironment.withStrata { strata in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let port = AsyncStream<Int>.makeStream()
                group.addTask { try await fake.run { port.continuation.yield($0) } }
                var iterator = port.stream.makeAsyncIterator()
                let bound = try #require(await iterator.next())
                var crawl = CrawlSettings()
                crawl.retries = 0
                let client = CrawlClient(http: http, db: strata.client, settings: crawl, logger: TestEnvironment.logger)
                let crawler = RepoCrawler(client: client, producer: strata.producer, db: strata.client, logger: TestEnvironment.logger)
                fake.faults.withLock { $0["/xrpc/com.atproto.server.describeServer"] = "500" }
                let error = await #expect(throws: StrataError.self) { try await crawler.crawl(host: "localhost:\(bound)") }
                #expect(error.map { "\($0)" }?.contains("describeServer") == true, "\(String(describing: error))")
                group.cancelAll()
            }
        }
    }
}
