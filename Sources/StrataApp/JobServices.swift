import Foundation
import StrataCore
import StrataJobs
import StrataProjections

extension StrataContext {
    /// The jobs file to use: `explicit` (`--jobs`, `STRATA_JOBS`), else `jobs.yaml` beside the
    /// topology when it exists; nil when there is none.
    public func jobsFile(_ explicit: String?) throws -> URL? {
        if let explicit, !explicit.isEmpty {
            let url = URL(fileURLWithPath: explicit)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw StrataError(.invalidConfiguration, "jobs file \(url.path) not found")
            }
            return url
        }
        let beside = configuration.topologyFile.deletingLastPathComponent().appendingPathComponent("jobs.yaml")
        return FileManager.default.fileExists(atPath: beside.path) ? beside : nil
    }

    /// The scheduler for the jobs `file` declares (nil when it declares none), running `strata:`
    /// jobs with this process's database, log, topology and schemas.
    public func jobScheduler(file: URL, workerID: String, leaseTTL: Duration, tick: Duration = .seconds(1), health: SourceHealth? = nil) throws -> JobScheduler? {
        let specs = try JobsFile.load(from: file)
        guard !specs.isEmpty else { return nil }
        guard topology.topics[JobEvents.topic] != nil else {
            throw StrataError(.invalidConfiguration, "\(file.path) declares jobs, but the topology has no '\(JobEvents.topic)' topic to record them on")
        }
        var settings = JobSchedulerSettings(workerID: workerID)
        settings.leaseTTL = leaseTTL
        settings.tick = tick
        settings.health = health
        settings.environment = childEnvironment()
        settings.workingDirectory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        return JobScheduler(specs: specs, log: log, producer: producer, client: client, settings: settings, logger: logger)
    }

    /// What a `strata` child needs to reach the same database and log.
    func childEnvironment() -> [String: String] {
        var env: [String: String] = [
            "STRATA_TOPOLOGY": configuration.topologyFile.path, "STRATA_SCHEMAS": configuration.schemaDirectory.path,
            "STRATA_DATA_DIR": configuration.dataDirectory.path,
        ]
        if let url = configuration.databaseURL { env["STRATA_DATABASE_URL"] = url }
        if let log = configuration.logURL { env["STRATA_LOG"] = log }
        return env
    }
}
