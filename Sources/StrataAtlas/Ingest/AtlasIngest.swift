import Crypto
import Foundation
import StrataAtlasModel
import StrataCore

/// Producers for the Atlas topics: SBOM files, OpenGrants exports, local git history, registry
/// responses. Each reads and validates everything first and returns drafts; nothing is appended
/// when any input is bad.
public struct AtlasIngest: Sendable {
    public let schemas: SchemaCatalog

    public init(schemas: SchemaCatalog) { self.schemas = schemas }

    // MARK: SBOMs

    /// One `sbom.submitted` event per SBOM. `repository` (owner/repo) is required when a document
    /// does not name its repository (GitHub's export does).
    /// `repositoryOption` names, in errors, how the caller passes `repository` (a CLI flag, a query parameter).
    public func sbomDraft(
        _ bytes: [UInt8], source: String, repository: String?, submittedBy: String? = nil, repositoryOption: String = "--repository OWNER/REPO",
        oidc: JSONValue? = nil
    ) throws -> EventDraft {
        let at = InputLocation(source: source)
        let parsed: (document: JSONValue, sbom: SBOMDocument)
        var tagValue: String?
        switch SBOMParser.sniff(bytes) {
        case .tagValue(let text):
            // SPDX tag-value: the log keeps the text itself, so a better reader later is a replay.
            do {
                parsed = try SPDXTagValue.parse(text)
            } catch {
                throw StrataError(.invalidInput, "invalid SPDX tag-value SBOM: \(error.description)", at: at)
            }
            tagValue = text
        case .json(let bytes):
            let value: JSONValue
            do {
                value = try JSONParser.parse(bytes)
            } catch {
                throw StrataError(.malformedJSON, "\(error.description) (an SBOM is SPDX 2.2/2.3 JSON or tag-value, or CycloneDX 1.2-1.6 JSON)",
                    at: InputLocation(source: source, line: error.line, column: error.column))
            }
            do {
                parsed = try SBOMParser(schemas: schemas).parse(value)
            } catch {
                throw StrataError(.invalidInput, "invalid SBOM: \(error.description)", at: at)
            }
        }
        guard let repo = repository ?? SBOMParser.repository(of: parsed.sbom) else {
            throw StrataError(.invalidInput, "the SBOM does not name its repository; pass \(repositoryOption)", at: at)
        }
        guard repo.split(separator: "/").count == 2 else {
            throw StrataError(.invalidInput, "repository must be OWNER/REPO, got '\(repo)'", at: at)
        }
        var payload: [String: JSONValue] = [
            "repository": .string(repo), "format": .string(parsed.sbom.format.rawValue), "semantic_hash": .string(parsed.sbom.semanticHash),
        ]
        if let tagValue { payload["document_tag_value"] = .string(tagValue) } else { payload["document"] = parsed.document }
        if let submittedBy { payload["submitted_by"] = .string(submittedBy) }
        // The verified claims of the GitHub Actions OIDC token it was submitted with.
        if let oidc { payload["oidc"] = oidc }
        // The id is the dependency graph's hash: a re-export with new timestamps is the same submission.
        var draft = EventDraft(topic: AtlasEvents.sbomTopic, key: repo, type: AtlasEvents.sbomSubmitted,
            id: "sbom:\(repo):\(parsed.sbom.semanticHash)", source: "ingest:sbom", payload: .object(payload), location: at)
        draft.semanticID = true
        return draft
    }

    public func sbomDrafts(paths: [String], repository: String?) throws -> [EventDraft] {
        try files(paths, extensions: [".json", ".spdx", ".tag", ".tv"]).map { file in
            try sbomDraft(try read(file), source: file, repository: repository)
        }
    }

    // MARK: Grants

    /// OpenGrants API pages (`{"data": [...], "pagination": ...}`, optionally gzipped) of projects,
    /// grant pools and applications.
    public func grantDrafts(paths: [String]) throws -> [EventDraft] {
        var drafts: [EventDraft] = []
        for file in try files(paths, extensions: [".json", ".json.gz"]) {
            drafts += try Self.grantDrafts(page: try read(file), source: file, producer: "ingest:grants").drafts
        }
        return drafts
    }

    /// One OpenGrants API page (gzipped or not): its items as events, and the page's `pagination`.
    public static func grantDrafts(page: [UInt8], source file: String, producer: String) throws -> (drafts: [EventDraft], pagination: JSONValue?) {
        var drafts: [EventDraft] = []
        var bytes = page
        if Gunzip.isGzip(bytes) { bytes = try Gunzip.decompress(bytes, source: file) }
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw StrataError(.malformedJSON, error.description, at: InputLocation(source: file, line: error.line, column: error.column))
        }
        guard let items = value["data"]?.arrayValue else {
            throw StrataError(.invalidInput, "expected an OpenGrants response: an object with a \"data\" array", at: InputLocation(source: file))
        }
        for (i, item) in items.enumerated() {
            let at = InputLocation(source: "\(file) data[\(i)]")
            let kind = item["type"]?.stringValue ?? ""
            let id = item["id"]?.stringValue ?? ""
            let (type, key): (String, String)
            if kind.contains("Application") || item["grantPoolId"] != nil {
                (type, key) = (AtlasEvents.grantApplication, item["projectId"]?.stringValue ?? id)
            } else if kind.contains("Pool") || id.contains(":grantPool:") {
                (type, key) = (AtlasEvents.grantPool, id)
            } else {
                (type, key) = (AtlasEvents.grantProject, id)
            }
            guard !key.isEmpty else { throw StrataError(.invalidInput, "item has no id", at: at) }
            drafts.append(EventDraft(topic: AtlasEvents.grantsTopic, key: key, type: type, source: producer, payload: item, location: at))
        }
        return (drafts, value["pagination"])
    }

    // MARK: Git

    public struct Commit: Sendable, Equatable {
        public var sha: String
        public var authorName: String
        public var emailHash: String
        public var authoredAt: Date
    }

    /// The SHA-256 of a lower-cased, trimmed email, hex: how contributors are identified.
    public static func emailHash(_ email: String) -> String {
        let normalized = email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        return SHA256.hash(data: Array(normalized.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Bots do not count as contributors (PG Atlas's rule).
    public static func isBot(name: String, email: String) -> Bool {
        let n = name.lowercased()
        let e = email.lowercased()
        return n.hasSuffix("[bot]") || ["dependabot", "greenkeeper", "bitnami bot", "upptime bot"].contains(where: n.contains)
            || (e.hasSuffix("@users.noreply.github.com") && e.contains("[bot]"))
    }

    /// Commits events for `commits` of `repository`, in chunks of 1,000.
    public static func commitDrafts(_ commits: [Commit], repository: String, source: String) -> [EventDraft] {
        let sorted = commits.sorted { ($0.authoredAt, $0.sha) < ($1.authoredAt, $1.sha) }
        return stride(from: 0, to: sorted.count, by: 1000).map { start in
            let chunk = sorted[start..<min(start + 1000, sorted.count)]
            let items: [JSONValue] = chunk.map {
                ["sha": .string($0.sha), "author_email_sha256": .string($0.emailHash), "author_name": .string($0.authorName),
                 "authored_at": .string(RFC3339.format($0.authoredAt))]
            }
            return EventDraft(topic: AtlasEvents.commitsTopic, key: repository, type: AtlasEvents.commitsObserved,
                source: source == "git" ? "ingest:git" : "http:webhook",
                payload: ["repository": .string(repository), "source": .string(source), "commits": .array(items)])
        }
    }

    /// Reads a local repository's history with `git log` (no network): non-merge commits of the last
    /// `months` months (nil: all), bots excluded.
    public static func readGitHistory(path: String, months: Int?) throws -> (repository: String?, commits: [Commit]) {
        var arguments = ["-C", path, "log", "--no-merges", "--format=%H%x00%aN%x00%aE%x00%aI"]
        if let months { arguments.append("--since=\(months).months.ago") }
        let log = try GitCommand.run(arguments, path: path)
        var commits: [Commit] = []
        for line in log.split(separator: "\n") {
            let f = line.split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 4, !f[2].isEmpty, let date = RFC3339.parse(f[3]) else { continue }
            if isBot(name: f[1], email: f[2]) { continue }
            commits.append(Commit(sha: f[0], authorName: f[1], emailHash: emailHash(f[2]), authoredAt: date))
        }
        let remote = try? GitCommand.run(["-C", path, "remote", "get-url", "origin"], path: path)
        return (remote.flatMap { AtlasEvents.ownerRepo(fromURL: $0.trimmingCharacters(in: .whitespacesAndNewlines)) }, commits)
    }

    // MARK: Files

    func files(_ paths: [String], extensions: [String]) throws -> [String] {
        var result: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw StrataError(.invalidInput, "no such file or directory", at: InputLocation(source: path))
            }
            if isDirectory.boolValue {
                for entry in try FileManager.default.contentsOfDirectory(atPath: path).sorted() where extensions.contains(where: entry.hasSuffix) {
                    result.append(URL(fileURLWithPath: path).appendingPathComponent(entry).path)
                }
            } else {
                result.append(path)
            }
        }
        return result
    }

    func read(_ file: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw StrataError(.invalidInput, "cannot read file", at: InputLocation(source: file))
        }
        return Array(data)
    }
}

/// Runs git and returns its standard output.
enum GitCommand {
    /// A `git log` of a large repository takes seconds; a git waiting on a lock or a credential
    /// prompt is stopped here.
    static let deadline = Duration.seconds(600)

    static func run(_ arguments: [String], path: String) throws -> String {
        var environment = ProcessInfo.processInfo.environment
        environment["GIT_TERMINAL_PROMPT"] = "0"
        let output: SpawnedProcess.Output
        do {
            output = try SpawnedProcess.run("git", arguments, searchPath: true, environment: environment, timeout: deadline)
        } catch {
            throw StrataError(.invalidInput, "cannot run git: \(error)", at: InputLocation(source: path))
        }
        guard output.status == .exited(0) else {
            throw StrataError(.invalidInput, "git \(arguments.dropFirst(2).first ?? "") failed: \(String(decoding: output.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))",
                at: InputLocation(source: path))
        }
        return String(decoding: output.stdout, as: UTF8.self)
    }
}
