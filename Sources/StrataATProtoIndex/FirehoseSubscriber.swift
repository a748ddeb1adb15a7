import AsyncAlgorithms
import Foundation
import HummingbirdWSClient
import Logging
import Metrics
import NIOCore
import PostgresNIO
import ServiceLifecycle
import StrataATProto
import StrataCore
import StrataPostgres
import Synchronization

/// Follows one host's `com.atproto.sync.subscribeRepos` stream into the `atproto` topic.
///
/// Frames are read in batches (up to `batchFrames`, or what arrived within `batchInterval`); each
/// batch's events and the host's cursor (`atproto.host.cursor`, the last sequence number of the
/// batch) are appended together, all or nothing, so a crash never skips a frame nor doubles one: on
/// start the subscriber resumes after the last cursor in the log. Event ids are deterministic (the
/// record, revision and CID), so frames sent again after a reconnect add nothing.
///
/// Every `#commit` is checked (blocks against their CIDs, the commit's DID, rev and signature
/// against the account's DID document, each operation against its record block, and with sync 1.1
/// `prevData` the operations inverted on the tree). A commit that does not verify, one whose
/// `since` shows commits the index never saw, a `#sync`, a `tooBig` commit or an oversize frame
/// marks the repository desynchronized (`atproto.repo.desynchronized`) and it is fetched whole
/// again with getRepo; nothing of the failed commit is appended. A malformed frame is counted and
/// skipped. `#account` appends the account's status, `#identity` drops the cached key,
/// `#info OutdatedCursor` starts a backfill of the host (events older than the host keeps are not
/// on the stream any more), `FutureCursor` resumes from the live stream, and a closed or failed
/// connection is reopened with backoff from the stored cursor.
public struct FirehoseSubscriber: Service {
    public struct Settings: Sendable {
        /// Collections, signature checks and DID resolution, as the crawler has them.
        public var crawl = RepoCrawler.Settings()
        public var batchFrames = 500
        public var batchInterval: Duration = .milliseconds(200)
        /// How long connecting and the WebSocket handshake may take.
        public var connectTimeout: Duration = .seconds(15)
        /// Pings the host this often; a host that does not answer is disconnected.
        public var pingInterval: Duration = .seconds(30)
        public var backoff: Duration = .seconds(1)
        public var maximumBackoff: Duration = .seconds(60)
        /// Backfill the host with a crawl (listRepos, getRepo) while following it: `nil` does it when
        /// the log holds no cursor for the host yet.
        public var backfill: Bool?
        /// Repositories fetched again at once.
        public var refetchConcurrency = 2
        /// How often repositories left desynchronized (a refetch that failed) are tried again.
        public var refetchSweep: Duration = .seconds(300)
        /// How long a stopped subscriber waits before it starts again.
        public var retryInterval: Duration = .seconds(30)

        public init() {}
    }

    /// What the subscriber has done, for logs, `/health` and tests.
    public struct Progress: Sendable, CustomStringConvertible {
        public var host: String
        public var cursor: Int64?
        public var frames = 0
        public var commits = 0
        public var appended = 0
        public var rejected = 0
        public var desynchronized = 0
        public var refetched = 0
        public var connections = 0
        /// Backfills (crawls of the host) finished.
        public var backfills = 0
        public var lastError: String?

        public var description: String {
            "\(host): cursor \(cursor.map(String.init) ?? "none"), \(frames) frames (\(commits) commits), \(appended) events appended, "
                + "\(rejected) frames rejected, \(desynchronized) repositories desynchronized, \(refetched) refetched, \(connections) connections"
        }
    }

    public let host: String
    let crawler: RepoCrawler
    let producer: EventProducer
    let log: any EventLog
    let db: PostgresClient
    let settings: Settings
    let logger: Logger
    let health: SourceHealth?
    let state: State

    public init(host: String, crawler: RepoCrawler, producer: EventProducer, log: any EventLog, db: PostgresClient, settings: Settings = Settings(),
        health: SourceHealth? = nil, logger: Logger)
    {
        self.host = host
        self.crawler = crawler
        self.producer = producer
        self.log = log
        self.db = db
        self.settings = settings
        self.health = health
        self.logger = logger
        state = State(host: host)
    }

    public var progress: Progress { state.progress.withLock { $0 } }

    /// The name this source reports in `/health`.
    public var healthName: String { "atproto:\(host)" }

    /// The URL of the host's stream, resuming after `cursor`.
    public static func streamURL(_ host: String, cursor: Int64?) -> String {
        let base = RepoCrawler.baseURL(host).replacingOccurrences(of: "https://", with: "wss://").replacingOccurrences(of: "http://", with: "ws://")
        return "\(base)/xrpc/com.atproto.sync.subscribeRepos" + (cursor.map { "?cursor=\($0)" } ?? "")
    }

    // MARK: Running

    /// Follows the host until cancelled or the process shuts down gracefully. A failure that stops
    /// the subscriber (the database unreachable at start, a banned host) is reported down in
    /// `/health` and logged, and it starts again after `settings.retryInterval`.
    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await self.follow() }
                return
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                state.progress.withLock { $0.lastError = "\(error)" }
                report(up: false, "stopped: \(error); starting again in \(settings.retryInterval)")
                logger.error("firehose subscriber stopped; retrying", metadata: ["host": "\(host)", "error": "\(error)", "retry_in": "\(settings.retryInterval)"])
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.settings.retryInterval) }
        }
    }

    /// Follows the host until cancelled.
    public func follow() async throws {
        if try await hostState() == "banned" { throw StrataError(.invalidInput, "\(host) is banned: it is not followed") }
        let position = try await storedPosition()
        let stored = position?.seq
        state.progress.withLock { $0.cursor = stored }
        state.backfilled.withLock { $0 = position?.backfilled ?? false }
        report(up: true, "starting at cursor \(stored.map(String.init) ?? "none (live)")")
        let refetches = AsyncStream<String>.makeStream()
        state.refetchQueue.withLock { $0 = refetches.continuation }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.refetcher(refetches.stream) }
            group.addTask { try await self.sweeper() }
            if settings.backfill ?? (position?.backfilled != true), state.startBackfill() {
                group.addTask {
                    await self.backfill(stored == nil ? "no cursor was stored" : "no backfill of the host has finished yet")
                    state.backfilling.withLock { $0 = false }
                }
            }
            var failures = 0
            while !Task.isCancelled {
                let before = progress.frames
                do {
                    try await connectOnce()
                    report(up: true, "the host closed the stream at cursor \(progress.cursor.map(String.init) ?? "none"); reconnecting")
                } catch where Task.isCancelled {
                    break
                } catch {
                    let message = "\(error)"
                    state.progress.withLock { $0.lastError = message }
                    report(up: false, "disconnected: \(message)")
                    logger.warning("firehose disconnected", metadata: ["host": "\(host)", "error": "\(message)"])
                    Counter(label: "strata_atproto_firehose_disconnects_total", dimensions: [("host", host)]).increment()
                }
                failures = progress.frames > before ? 1 : failures + 1
                let delay = min(settings.maximumBackoff, settings.backoff * (1 << min(failures - 1, 10)))
                do { try await Task.sleep(for: delay) } catch { break }
            }
            refetches.continuation.finish()
            group.cancelAll()
        }
    }

    /// One connection: frames in batches until the host closes it or it fails.
    func connectOnce() async throws {
        let cursor = progress.cursor
        let configuration = WebSocketClientConfiguration(maxFrameSize: 16 * 1024 * 1024, autoPing: .enabled(timePeriod: settings.pingInterval))
        let connected = Flag()
        let url = Self.streamURL(host, cursor: cursor)
        state.progress.withLock { $0.connections += 1 }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) { inbound, _, _ in
                    connected.set()
                    self.report(up: true, "following from cursor \(cursor.map(String.init) ?? "none (live)")")
                    let batches = inbound.messages(maxSize: 16 * 1024 * 1024)
                        .chunks(ofCount: settings.batchFrames, or: .repeating(every: settings.batchInterval))
                    for try await batch in batches {
                        try await self.process(batch)
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: settings.connectTimeout)
                if !connected.isSet {
                    throw StrataError(.backend, "\(url): no WebSocket connection within \(settings.connectTimeout)")
                }
                // Connected: this task has nothing more to watch.
                try await Task.sleep(for: .seconds(86400 * 365))
            }
            defer { group.cancelAll() }
            _ = try await group.next()
        }
    }

    // MARK: Frames

    /// Applies a batch of frames: their events and the cursor after them, in one append.
    func process(_ messages: [WebSocketMessage]) async throws {
        var decoded: [FirehoseMessage] = []
        var lastSeq: Int64?
        var refetch: [String] = []
        var drafts: [EventDraft] = []
        var rejected = 0
        var stopError: (any Error)?
        for message in messages {
            guard case .binary(let buffer) = message else {
                rejected += 1
                reject("a text frame (the stream sends binary DAG-CBOR frames)")
                continue
            }
            let bytes = Array(buffer.readableBytesView)
            do {
                decoded.append(try Firehose.decode(bytes))
            } catch {
                // An oversize frame whose sequence and repository can still be read: the repository is
                // fetched whole instead; anything else is skipped.
                if bytes.count > Firehose.maximumFrameSize, let peek = Self.peek(bytes) {
                    decoded.append(.unknown(type: "oversize", seq: peek.seq))
                    if let did = peek.did {
                        drafts.append(ATProtoEvents.desynchronizedDraft(did: did, reason: "a \(bytes.count)-byte frame, larger than \(Firehose.maximumFrameSize)",
                            rev: nil, seq: peek.seq, host: host, source: source))
                        refetch.append(did)
                    }
                } else {
                    rejected += 1
                    reject("\(error)")
                }
            }
        }
        // The revisions the index holds for repositories not seen yet, and their keys.
        try await state.learnRevisions(decoded.compactMap { if case .commit(let c) = $0 { c.repo } else { nil } }, crawler)
        if settings.crawl.verifySignatures {
            await resolveKeys(Set(decoded.compactMap { if case .commit(let c) = $0, !c.tooBig { c.repo } else { nil } }))
        }
        var commits = 0
        // Revisions applied by this batch: remembered only once its append succeeded (a batch that
        // fails is read again from the stored cursor).
        var applied: [String: String] = [:]
        for message in decoded {
            switch message {
            case .commit(let commit):
                commits += 1
                drafts += commitDrafts(commit, applied: &applied, refetch: &refetch)
            case .sync(let sync):
                if let known = applied[sync.did] ?? state.revision(sync.did), !known.utf8.lexicographicallyPrecedes(sync.rev.utf8) { break }
                drafts.append(ATProtoEvents.desynchronizedDraft(did: sync.did, reason: "#sync at rev \(sync.rev): the repository is fetched whole",
                    rev: sync.rev, seq: sync.seq, host: host, source: source))
                refetch.append(sync.did)
            case .identity(let seq, let did, let handle, _):
                // The key may have rotated: resolved again at the next commit.
                state.keys.withLock { _ = $0.removeValue(forKey: did) }
                drafts.append(ATProtoEvents.identityDraft(did: did, handle: handle.flatMap { Syntax.isValidHandle($0) ? $0 : nil }, seq: seq, host: host, source: source))
            case .account(let seq, let did, let active, let status, _):
                drafts.append(ATProtoEvents.statusDraft(did: did, active: active, status: active ? nil : status ?? "inactive", seq: seq, host: host, source: source))
            case .info(let name, let message):
                logger.warning("firehose info", metadata: ["host": "\(host)", "name": "\(name)", "message": "\(message ?? "")"])
                if name == "OutdatedCursor", state.startBackfill() {
                    Task {
                        await self.backfill("the host answered OutdatedCursor: events before its window are not on the stream")
                        state.backfilling.withLock { $0 = false }
                    }
                }
            case .error(let name, let message):
                // The host closes the stream after an error frame.
                if name == "FutureCursor" {
                    logger.error("the stored cursor is ahead of the host's stream: following it live", metadata: ["host": "\(host)", "cursor": "\(progress.cursor.map(String.init) ?? "none")"])
                    state.progress.withLock { $0.cursor = nil }
                }
                stopError = StrataError(.backend, "\(host) sent \(name)\(message.map { ": \($0)" } ?? "")")
            case .unknown:
                break
            }
            if let seq = message.seq { lastSeq = seq }
        }
        if let lastSeq {
            drafts.append(ATProtoEvents.cursorDraft(hostname: host, seq: lastSeq, backfilled: state.backfilled.withLock { $0 }, at: Date(), source: source))
        }
        var appended = 0
        if !drafts.isEmpty {
            appended = try await producer.append(drafts).filter { !$0.duplicate }.count
        }
        for (did, rev) in applied { state.setRevision(did, rev) }
        state.progress.withLock { p in
            if let lastSeq { p.cursor = lastSeq }
            p.frames += messages.count
            p.commits += commits
            p.appended += appended
            p.rejected += rejected
            p.desynchronized += refetch.count
        }
        Counter(label: "strata_atproto_firehose_frames_total", dimensions: [("host", host)]).increment(by: messages.count)
        if let lastSeq { Gauge(label: "strata_atproto_firehose_cursor", dimensions: [("host", host)]).record(lastSeq) }
        for did in refetch { state.enqueueRefetch(did) }
        if let stopError { throw stopError }
    }

    var source: String { "firehose:\(host)" }

    func reject(_ reason: String) {
        logger.warning("firehose frame rejected", metadata: ["host": "\(host)", "error": "\(reason.prefix(500))"])
        Counter(label: "strata_atproto_firehose_rejected_total", dimensions: [("host", host)]).increment()
        state.progress.withLock { $0.lastError = "frame rejected: \(reason.prefix(500))" }
    }

    /// A commit's events, or the repository marked desynchronized.
    /// `applied`: the revisions this batch applied so far. A repository the index holds nothing of
    /// ("" known) is fetched whole when a commit that follows an earlier one touches the
    /// collections indexed; commits that touch none of them are passed over.
    func commitDrafts(_ commit: FirehoseCommit, applied: inout [String: String], refetch: inout [String]) -> [EventDraft] {
        let did = commit.repo
        let known = applied[did] ?? state.revision(did)
        // Already applied (a frame sent again, or an export at a later revision).
        if let known, !known.isEmpty, !known.utf8.lexicographicallyPrecedes(commit.rev.utf8) { return [] }
        let touchesIndexed = commit.ops.contains { settings.crawl.wants(String($0.collection)) }
        if known == "", commit.since != nil, !touchesIndexed { return [] }
        func desynchronized(_ reason: String) -> [EventDraft] {
            refetch.append(did)
            logger.notice("repository desynchronized", metadata: ["host": "\(host)", "did": "\(did)", "rev": "\(commit.rev)", "reason": "\(reason)"])
            return [ATProtoEvents.desynchronizedDraft(did: did, reason: reason, rev: commit.rev, seq: commit.seq, host: host, source: source)]
        }
        if let since = commit.since, let known, known.utf8.lexicographicallyPrecedes(since.utf8) {
            return desynchronized("commit \(commit.rev) follows \(since); the index holds \(known.isEmpty ? "nothing of the repository" : known): commits in between are missing")
        }
        if commit.tooBig { return desynchronized("commit \(commit.rev) is tooBig: its blocks are not in the frame") }
        let key: ATProtoPublicKey?
        if settings.crawl.verifySignatures {
            switch state.keys.withLock({ $0[did] }) {
            case .some(.success(let k)): key = k
            case .some(.failure(let error)): return desynchronized("commit \(commit.rev): \(did)'s key cannot be resolved: \(error)")
            case .none: return desynchronized("commit \(commit.rev): \(did)'s key was not resolved")
            }
        } else {
            key = nil
        }
        let verified: VerifiedCommit
        do {
            verified = try commit.verify(key: key, allowHighS: settings.crawl.allowHighS)
        } catch {
            return desynchronized("commit \(commit.rev) does not verify: \(error)")
        }
        var drafts: [EventDraft] = []
        for put in verified.puts where settings.crawl.wants(put.collection) {
            do {
                drafts.append(ATProtoEvents.putDraft(did: did, collection: put.collection, rkey: put.rkey, cid: put.cid,
                    record: try DataModelJSON.json(put.value), rev: commit.rev, host: host, source: source, operation: put.action.rawValue))
            } catch {
                return desynchronized("commit \(commit.rev): record \(put.collection)/\(put.rkey): \(error)")
            }
        }
        for delete in verified.deletes where settings.crawl.wants(delete.collection) {
            drafts.append(ATProtoEvents.deletedDraft(did: did, collection: delete.collection, rkey: delete.rkey, rev: commit.rev, source: source))
        }
        applied[did] = commit.rev
        return drafts
    }

    /// An oversize frame's sequence number and repository, if its header and body still decode.
    static func peek(_ frame: [UInt8]) -> (seq: Int64, did: String?)? {
        var offset = 0
        guard (try? DagCBOR.decode(frame, at: &offset)) != nil, let body = try? DagCBOR.decode(frame, at: &offset),
            let seq = body["seq"]?.integerValue
        else { return nil }
        return (seq, (body["repo"] ?? body["did"])?.stringValue.flatMap { Syntax.isValidDID($0) ? $0 : nil })
    }

    // MARK: Keys, refetches, backfill

    func resolveKeys(_ dids: Set<String>) async {
        let missing = dids.filter { did in state.keys.withLock { $0[did] == nil } }.sorted()
        guard !missing.isEmpty else { return }
        await withTaskGroup(of: (String, Result<ATProtoPublicKey, StrataError>).self) { group in
            var next = 0
            func start() {
                guard next < missing.count else { return }
                let did = missing[next]
                next += 1
                group.addTask {
                    do {
                        let document = try await crawler.resolve(did)
                        guard document["id"]?.stringValue == did else {
                            return (did, .failure(StrataError(.invalidInput, "the DID document names \(document["id"]?.stringValue ?? "no id")")))
                        }
                        return (did, .success(try RepositoryIngest.signingKey(document)))
                    } catch {
                        return (did, .failure(StrataError(.backend, "\(error)")))
                    }
                }
            }
            for _ in 0..<8 { start() }
            while let (did, key) = await group.next() {
                state.keys.withLock { $0[did] = key }
                start()
            }
        }
    }

    /// Fetches desynchronized repositories whole, a few at once, each once while it is queued.
    func refetcher(_ dids: AsyncStream<String>) async {
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await did in dids {
                if running >= max(1, settings.refetchConcurrency) {
                    await group.next()
                    running -= 1
                }
                running += 1
                group.addTask {
                    defer { state.refetching.withLock { _ = $0.remove(did) } }
                    // A key that rotated is resolved again.
                    state.keys.withLock { _ = $0.removeValue(forKey: did) }
                    do {
                        let fetched = try await crawler.fetchRepo(did, base: RepoCrawler.baseURL(host), host: host)
                        state.setRevision(did, fetched.rev)
                        state.progress.withLock { $0.refetched += 1 }
                        Counter(label: "strata_atproto_firehose_refetches_total", dimensions: [("host", host), ("outcome", "fetched")]).increment()
                    } catch {
                        logger.warning("desynchronized repository not fetched", metadata: ["host": "\(host)", "did": "\(did)", "error": "\(error)"])
                        Counter(label: "strata_atproto_firehose_refetches_total", dimensions: [("host", host), ("outcome", "failed")]).increment()
                    }
                }
            }
        }
    }

    /// Queues the repositories the index holds as desynchronized for this host, now and then.
    func sweeper() async throws {
        while !Task.isCancelled {
            do {
                for did in try await desynchronizedRepositories() { state.enqueueRefetch(did) }
            } catch {
                logger.warning("desynchronized repositories not listed", metadata: ["host": "\(host)", "error": "\(error)"])
            }
            try await Task.sleep(for: settings.refetchSweep)
        }
    }

    func backfill(_ why: String) async {
        logger.notice("backfilling the host", metadata: ["host": "\(host)", "why": "\(why)"])
        do {
            let report = try await crawler.crawl(host: host, fetched: { did, rev in state.setRevision(did, rev) })
            state.progress.withLock { $0.backfills += 1 }
            state.backfilled.withLock { $0 = true }
            // Stored now, so a restart does not crawl the host again (later batches carry it too).
            if let cursor = progress.cursor {
                _ = try await producer.append([ATProtoEvents.cursorDraft(hostname: host, seq: cursor, backfilled: true, at: Date(), source: source)])
            }
            logger.notice("backfilled", metadata: ["host": "\(host)", "report": "\(report)"])
        } catch {
            logger.error("backfill failed", metadata: ["host": "\(host)", "error": "\(error)"])
            state.progress.withLock { $0.lastError = "backfill failed: \(error)" }
        }
    }

    func report(up: Bool, _ detail: String) {
        let p = progress
        health?.report(healthName, up: up, detail: "\(detail); \(p.frames) frames, \(p.rejected) rejected, \(p.desynchronized) desynchronized, \(p.refetched) refetched")
    }

    // MARK: The stored cursor

    /// The last cursor of this host in the log: its partition read backwards (the cursor of a host
    /// being followed is near the end), else what the index holds.
    public func storedCursor() async throws -> Int64? { try await storedPosition()?.seq }

    /// The last cursor of this host in the log, and whether a backfill had finished by then.
    public func storedPosition() async throws -> (seq: Int64, backfilled: Bool)? {
        let topic = try await log.topic(named: ATProtoEvents.topic)
        let partition = Partitioner.partition(forKey: host, partitions: topic.partitions)
        let end = try await withDeadline(.seconds(30), "reading the atproto topic's end offsets") {
            try await log.endOffsets(topic: ATProtoEvents.topic)
        }
        var upper = end[partition]
        let window: Int64 = 2000
        for _ in 0..<50 where upper > 0 {
            let (from, limit) = (max(0, upper - window), Int(upper - max(0, upper - window)))
            let events = try await withDeadline(.seconds(60), "reading \(host)'s cursor from the log") {
                try await log.read(topic: ATProtoEvents.topic, partition: partition, from: from, limit: limit, maxBytes: nil)
            }
            for event in events.reversed() where event.type == ATProtoEvents.hostCursor && event.key == host {
                let payload = try? JSONParser.parse(event.payload)
                if let seq = payload?["seq"]?.intValue { return (Int64(seq), payload?["backfilled"]?.boolValue ?? false) }
            }
            upper = from
        }
        guard upper > 0 else { return nil }
        return try await viewCursor().map { ($0, false) }
    }

    func viewCursor() async throws -> Int64? {
        do {
            return try await withDeadline(.seconds(30), "reading \(host)'s cursor") {
                for try await cursor in try await db.query("SELECT cursor FROM atproto.hosts WHERE hostname = \(host)", logger: logger).decode(Int64?.self) {
                    return cursor
                }
                return nil
            }
        } catch where PostgresErrors.isMissingView(error) {
            return nil
        }
    }

    func hostState() async throws -> String? {
        do {
            return try await withDeadline(.seconds(30), "reading \(host)'s state") {
                for try await s in try await db.query("SELECT state FROM atproto.hosts WHERE hostname = \(host)", logger: logger).decode(String.self) { return s }
                return nil
            }
        } catch where PostgresErrors.isMissingView(error) {
            return nil
        }
    }

    func desynchronizedRepositories() async throws -> [String] {
        do {
            return try await withDeadline(.seconds(30), "listing \(host)'s desynchronized repositories") {
                var out: [String] = []
                for try await did in try await db.query("""
                    SELECT did FROM atproto.repos WHERE host = \(host) AND sync_state = 'desynchronized' ORDER BY did LIMIT 10000
                    """, logger: logger).decode(String.self) { out.append(did) }
                return out
            }
        } catch where PostgresErrors.isMissingView(error) {
            return []
        }
    }

    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    /// What the subscriber remembers between batches.
    final class State: Sendable {
        let host: String
        let progress: Mutex<Progress>
        /// Each repository's newest revision applied (or held by the index when first seen).
        let revisions = Mutex<[String: String]>([:])
        let keys = Mutex<[String: Result<ATProtoPublicKey, StrataError>]>([:])
        let refetching = Mutex<Set<String>>([])
        let refetchQueue = Mutex<AsyncStream<String>.Continuation?>(nil)
        let backfilling = Mutex(false)
        /// Whether a backfill finished since the host was first followed (as the stored cursor says).
        let backfilled = Mutex(false)

        /// Whether a backfill may start (none is running).
        func startBackfill() -> Bool { backfilling.withLock { running in defer { running = true }; return !running } }

        init(host: String) {
            self.host = host
            progress = Mutex(Progress(host: host))
        }

        func revision(_ did: String) -> String? { revisions.withLock { $0[did] } }

        /// Keeps the newer of the two revisions.
        func setRevision(_ did: String, _ rev: String) {
            revisions.withLock { all in
                if all[did].map({ $0.utf8.lexicographicallyPrecedes(rev.utf8) }) != false { all[did] = rev }
            }
        }

        /// Remembers the index's revision of each repository not seen yet ("" for none).
        func learnRevisions(_ dids: [String], _ crawler: RepoCrawler) async throws {
            let unknown = Array(Set(dids.filter { revision($0) == nil }))
            guard !unknown.isEmpty else { return }
            let held = try await crawler.indexedRevisions(unknown)
            revisions.withLock { all in
                for did in unknown where all[did] == nil { all[did] = held[did]?.rev ?? "" }
            }
        }

        func enqueueRefetch(_ did: String) {
            guard refetching.withLock({ $0.insert(did).inserted }) else { return }
            _ = refetchQueue.withLock { $0 }?.yield(did)
        }
    }
}
