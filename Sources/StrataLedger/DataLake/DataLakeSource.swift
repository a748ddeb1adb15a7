import Foundation
import Logging
import Metrics
import ServiceLifecycle
import StrataCore
import StrataStellarXDR

/// Reads a Galexie data lake into the `ledger_meta` topic: backfills a range, and with `follow`
/// keeps polling for the next object as Galexie writes it.
///
/// The position is the log's: the topic's highest ledger (`LedgerMetaLog.position`), read at start,
/// so a restart after a crash (even mid-object) continues at the next ledger, and appends of the
/// same ledger again are duplicates. Continuity is checked against it: a missing object (while a
/// later one exists, or below `to`) or a ledger that does not carry the hash of the one before stops
/// the source with an error naming the ledger and the object. Nothing is ever skipped.
public struct DataLakeSource: Service {
    public struct Options: Sendable {
        /// Where to start when the topic is empty; with a non-empty topic it may not be above the
        /// ledger after the highest (that would leave a gap), and below it the source continues
        /// after the highest.
        public var from: UInt32?
        /// The last ledger to read (inclusive); nil for the data lake's end (or forever, with `follow`).
        public var to: UInt32?
        public var follow = false
        /// How often to look for the next object when following.
        public var pollInterval: Duration = .seconds(2)
        /// Ledgers per append transaction.
        public var ledgersPerAppend = 16

        public init(from: UInt32? = nil, to: UInt32? = nil, follow: Bool = false) {
            self.from = from
            self.to = to
            self.follow = follow
        }
    }

    /// What a run did, for its caller.
    public struct Progress: Sendable, Equatable {
        public var appended = 0
        public var duplicates = 0
        public var objects = 0
        public var highest: UInt32?
    }

    /// Every read and append of the log is bounded: a database that stops answering fails the
    /// source (`timeout`) instead of hanging it.
    static let logDeadline: Duration = .seconds(30)

    public let store: any LedgerObjectStore
    public let options: Options
    public let ledgers: LedgerMetaLog
    public let logger: Logger
    private let layout: GalexieLayout?
    /// Where it reports how it stands (`/health`), under `name`.
    public var health: SourceHealth?
    public var name = "datalake"

    /// `layout` nil reads the data lake's `.config.json`.
    public init(store: any LedgerObjectStore, layout: GalexieLayout? = nil, options: Options, ledgers: LedgerMetaLog, logger: Logger) {
        self.store = store
        self.layout = layout
        self.options = options
        self.ledgers = ledgers
        self.logger = logger
    }

    public func run() async throws {
        _ = try await cancelWhenGracefulShutdown { try await self.ingest() }
    }

    /// Reads the data lake's manifest, or fails saying how to go without one.
    public func resolveLayout() async throws -> GalexieLayout {
        if let layout { return layout }
        guard let config = try await store.fetch(GalexieLayout.configName) else {
            throw StrataError(.invalidConfiguration, """
                \(store.location) has no \(GalexieLayout.configName) (Galexie writes one since v23); \
                pass --ledgers-per-file and --files-per-partition
                """)
        }
        return try GalexieLayout.parse(config: config, source: "\(store.location)/\(GalexieLayout.configName)")
    }

    /// Tells `/health` and `strata_datalake_up` the source is working (when it runs supervised).
    private func reportUp(_ detail: String) {
        guard let health else { return }
        health.report(name, up: true, detail: detail)
        Gauge(label: "strata_datalake_up").record(1)
    }

    /// Runs until `to`, the end of the data lake (without `follow`), cancellation, or an error.
    @discardableResult
    public func ingest() async throws -> Progress {
        var layout = try await resolveLayout()
        let ledgers = self.ledgers
        var position = try await withDeadline(Self.logDeadline, "reading the highest ledger of \(LedgerMetaLog.topic)") {
            try await ledgers.position()
        }
        var next: UInt32
        if let top = position {
            guard top.sequence < UInt32.max else { return Progress(highest: top.sequence) }
            if let from = options.from, from > top.sequence + 1 {
                throw StrataError(.invalidConfiguration, """
                    the highest ledger in \(LedgerMetaLog.topic) is \(top.sequence): starting at \(from) would leave \
                    \(top.sequence + 1)-\(from - 1) out; start at \(top.sequence + 1) or below
                    """)
            }
            next = top.sequence + 1
        } else {
            guard let from = options.from else {
                throw StrataError(.invalidConfiguration, "\(LedgerMetaLog.topic) holds no ledgers yet: pass --from LEDGER")
            }
            next = from
        }
        var progress = Progress(highest: position?.sequence)
        if let to = options.to, next > to {
            logger.info("the log already holds every ledger asked for", metadata: ["highest": "\(position?.sequence ?? 0)", "to": "\(to)"])
            return progress
        }
        logger.info("reading the data lake", metadata: [
            "store": "\(store.location)", "next": "\(next)", "to": "\(options.to.map(String.init) ?? "-")", "follow": "\(options.follow)",
            "ledgers_per_batch": "\(layout.ledgersPerBatch)", "batches_per_partition": "\(layout.batchesPerPartition)",
        ])
        let highestGauge = Gauge(label: "strata_datalake_ledger")
        let appendedCounter = Counter(label: "strata_datalake_ledgers_appended_total")
        let clock = ContinuousClock()
        var reported = clock.now
        var appendedSinceReport = 0
        var suffixKnown = false
        while !Task.isCancelled {
            let key = layout.objectKey(next)
            guard let object = try await fetch(next, layout: &layout, suffixKnown: &suffixKnown) else {
                try await missing(next, key: key, layout: layout)
                reportUp("waiting for ledger \(next) (\(key))")
                if options.follow {
                    try await Task.sleep(for: options.pollInterval)
                    continue
                }
                logger.info("reached the end of the data lake", metadata: ["highest": "\(position?.sequence ?? 0)"])
                return progress
            }
            progress.objects += 1
            // The key as found (`fetch` may have switched to the other suffix).
            let origin = "\(store.location)/\(layout.objectKey(next))"
            let raw: [UInt8]
            do { raw = try Zstd.decompress(object) } catch {
                throw StrataError(.invalidInput, "\(error) (the object for ledger \(next))", at: InputLocation(source: origin))
            }
            let batch = try LedgerMetaFiles.batch(raw, origin: origin)
            guard let first = batch.first?.summary.sequence, let last = batch.last?.summary.sequence, first <= next, next <= last else {
                throw StrataError(.invalidInput, """
                    the object for ledger \(next) holds ledgers \(batch.first?.summary.sequence ?? 0)-\(batch.last?.summary.sequence ?? 0)
                    """, at: InputLocation(source: origin))
            }
            let stop = min(last, options.to ?? last)
            let wanted = batch.filter { $0.summary.sequence >= next && $0.summary.sequence <= stop }
            for start in stride(from: 0, to: wanted.count, by: max(1, options.ledgersPerAppend)) {
                let chunk = Array(wanted[start..<min(start + max(1, options.ledgersPerAppend), wanted.count)])
                let (after, network) = (position, layout.networkPassphrase)
                let (top, appended) = try await withDeadline(Self.logDeadline, "appending ledgers \(next)-\(stop)") {
                    try await ledgers.append(chunk, after: after, network: network, source: "datalake")
                }
                position = top
                progress.appended += appended
                progress.duplicates += chunk.count - appended
                appendedSinceReport += appended
                appendedCounter.increment(by: appended)
            }
            progress.highest = position?.sequence
            if let highest = position?.sequence {
                highestGauge.record(Int64(highest))
                reportUp("at ledger \(highest)")
            }
            if clock.now - reported > .seconds(10) || (options.to.map { stop >= $0 } ?? false) {
                let elapsed = (clock.now - reported).components
                let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
                logger.info("data lake progress", metadata: [
                    "highest": "\(position?.sequence ?? 0)", "appended": "\(progress.appended)",
                    "ledgers_per_second": "\(String(format: "%.1f", Double(appendedSinceReport) / max(seconds, 0.001)))",
                ])
                reported = clock.now
                appendedSinceReport = 0
            }
            if let to = options.to, stop >= to { return progress }
            guard stop < UInt32.max else { return progress }
            next = stop + 1
        }
        return progress
    }

    /// The object holding `sequence`; until an object has been found, also tries the other suffix
    /// (pre-v23 `.xdr.zstd`) and keeps to the one that was found.
    private func fetch(_ sequence: UInt32, layout: inout GalexieLayout, suffixKnown: inout Bool) async throws -> [UInt8]? {
        if let bytes = try await store.fetch(layout.objectKey(sequence)) {
            suffixKnown = true
            return bytes
        }
        guard !suffixKnown else { return nil }
        let other = layout.fileExtension == GalexieLayout.currentExtension ? GalexieLayout.legacyExtension : GalexieLayout.currentExtension
        guard let bytes = try await store.fetch(layout.objectKey(sequence, fileExtension: other)) else { return nil }
        logger.notice("the data lake's objects end in \(other)", metadata: ["store": "\(store.location)"])
        layout.fileExtension = other
        suffixKnown = true
        return bytes
    }

    /// An object is missing: an error if the range asked for needs it or a later object exists
    /// (a hole in the data lake); otherwise the data lake ends here (for now). Returns normally
    /// when it should be looked for again.
    private func missing(_ sequence: UInt32, key: String, layout: GalexieLayout) async throws {
        let end = layout.batchEnd(sequence)
        if end < UInt32.max {
            let later = layout.objectKey(end + 1)
            // Objects appear in order: if the later one exists and this one still does not (asked
            // again, as both may have appeared between the two requests), this one is a hole.
            if try await store.fetch(later) != nil, try await store.fetch(key) == nil {
                throw StrataError(.invalidInput, """
                    ledger \(sequence) is missing from the data lake: there is no \(key), but the later \(later) exists
                    """, at: InputLocation(source: store.location))
            }
        }
        if !options.follow, let to = options.to, sequence <= to {
            throw StrataError(.invalidInput, "ledger \(sequence) is not in the data lake (no \(key)); ledgers up to \(to) were asked for",
                at: InputLocation(source: store.location))
        }
    }
}

/// Runs a following data lake source inside a long-running process (`strata serve --datalake`):
/// an error (a hole in the data lake, a broken chain, the store unreachable) marks the source down
/// in `/health` (degraded, with the error as the reason) and in `strata_datalake_up`, and the
/// source is retried every `retryInterval` from the log's position until the data lake is fixed.
public struct SupervisedDataLakeSource: Service {
    public let source: DataLakeSource
    public let health: SourceHealth
    public var retryInterval: Duration

    public init(source: DataLakeSource, health: SourceHealth, retryInterval: Duration = .seconds(30)) {
        var source = source
        source.health = health
        self.source = source
        self.health = health
        self.retryInterval = retryInterval
    }

    public func run() async throws {
        let up = Gauge(label: "strata_datalake_up")
        health.report(source.name, up: true, detail: "starting")
        // 1 from the start, 0 from a failure until the source makes progress again (its own
        // reports set it back), not while a retry is merely under way.
        up.record(1)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                _ = try await cancelWhenGracefulShutdown { try await self.source.ingest() }
                if Task.isCancelled || Task.isShuttingDownGracefully || !source.options.follow { return }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                up.record(0)
                let message = "\(error)"
                health.report(source.name, up: false, detail: message)
                source.logger.error("data lake source stopped; retrying", metadata: [
                    "error": "\(message)", "retry_in": "\(retryInterval)",
                ])
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.retryInterval) }
        }
    }
}
