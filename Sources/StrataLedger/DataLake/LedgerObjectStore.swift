import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import StrataCore

/// Where a data lake's objects are read from: a directory, or an HTTP(S) base URL (an S3, GCS or
/// B2 bucket's public endpoint, or any server laid out the same way).
public protocol LedgerObjectStore: Sendable {
    /// The store's root, for messages.
    var location: String { get }
    /// The object's bytes, or nil when there is no such object.
    func fetch(_ key: String) async throws -> [UInt8]?
}

/// The largest object a store reads (a Galexie batch of 64 ledgers is tens of MB).
let maximumObjectBytes = 1 << 30

/// A data lake in a local directory.
public struct DirectoryLedgerStore: LedgerObjectStore {
    public let root: URL
    public var location: String { root.path }

    public init(root: URL) { self.root = root }

    public func fetch(_ key: String) async throws -> [UInt8]? {
        let url = root.appendingPathComponent(key)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            let size = try handle.seekToEnd()
            guard size <= UInt64(maximumObjectBytes) else {
                throw StrataError(.invalidInput, "object is \(size) bytes, more than \(maximumObjectBytes)", at: InputLocation(source: url.path))
            }
            try handle.seek(toOffset: 0)
            return Array(try handle.readToEnd() ?? Data())
        } catch let error as StrataError {
            throw error
        } catch {
            throw StrataError(.upstream, "cannot read: \(error.localizedDescription)", at: InputLocation(source: url.path))
        }
    }
}

/// A data lake behind HTTP(S): `GET base/key`. 404 is "no such object"; 5xx, 429 and network
/// errors are retried with exponential backoff (honouring `Retry-After`), each request bounded by
/// `timeout`; other statuses are errors. A query string on the base URL (a pre-signed or
/// token-bearing endpoint) is kept on every request.
public struct HTTPLedgerStore: LedgerObjectStore {
    public let base: URL
    public let client: HTTPClient
    public var timeout: Duration
    public var attempts: Int
    public var logger: Logger
    public var location: String { base.absoluteString }

    public init(base: URL, client: HTTPClient, timeout: Duration = .seconds(60), attempts: Int = 5, logger: Logger) {
        self.base = base
        self.client = client
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.logger = logger
    }

    /// The URL of `key`: appended to the base's path, the base's query kept.
    public func url(of key: String) -> String {
        guard var components = URLComponents(url: base, resolvingAgainstBaseURL: false) else { return base.absoluteString + "/" + key }
        var path = components.percentEncodedPath
        if !path.hasSuffix("/") { path += "/" }
        let encodedKey = key.split(separator: "/", omittingEmptySubsequences: false).map {
            String($0).addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? String($0)
        }.joined(separator: "/")
        components.percentEncodedPath = path + encodedKey
        return components.string ?? base.absoluteString + "/" + key
    }

    public func fetch(_ key: String) async throws -> [UInt8]? {
        let url = url(of: key)
        var attempt = 0
        while true {
            attempt += 1
            var retryAfter: Duration?
            let failure: String
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .GET
                request.headers.add(name: "User-Agent", value: "strata-datalake")
                let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
                switch response.status.code {
                case 200:
                    let body = try await response.body.collect(upTo: maximumObjectBytes)
                    return Array(buffer: body)
                case 404:
                    return nil
                case 429, 500...599:
                    failure = "HTTP \(response.status.code)"
                    if let header = response.headers.first(name: "Retry-After"), let seconds = Int(header), seconds >= 0 {
                        retryAfter = .seconds(min(seconds, 300))
                    }
                default:
                    var hint = ""
                    if response.status.code == 403 {
                        hint = " (a bucket that does not allow listing answers 403 for a missing object as well)"
                    }
                    throw StrataError(.upstream, "HTTP \(response.status.code) \(response.status.reasonPhrase)\(hint)", at: InputLocation(source: url))
                }
            } catch let error as StrataError {
                throw error
            } catch {
                failure = "\(error)"
            }
            guard attempt < attempts else {
                throw StrataError(.upstream, "\(failure) after \(attempt) attempts", at: InputLocation(source: url))
            }
            let backoff = retryAfter ?? .milliseconds(min(30_000, 250 * (1 << min(attempt, 7))))
            logger.warning("data lake request failed; retrying", metadata: [
                "url": "\(url)", "attempt": "\(attempt)", "error": "\(failure)", "retry_in": "\(backoff)",
            ])
            try await Task.sleep(for: backoff)
        }
    }
}
