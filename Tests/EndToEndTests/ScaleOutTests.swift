import CurlTransport
import Foundation
import Synchronization
import Testing
import WebhookTestSupport

/// A fresh database on the test cluster (`CLIPPING_WORKER_TEST_DATABASE_URL`, started by
/// `scripts/test.sh`), made with `psql`, so that `serve` processes get a schema of their own.
struct ScratchDatabase {
    let url: String

    /// Whether PostgreSQL tests run: without the cluster's URL they fail (say how to get one),
    /// unless the developer opted out with `CLIPPING_WORKER_TEST_SKIP_POSTGRES=1`.
    static var enabled: Bool { ProcessInfo.processInfo.environment["CLIPPING_WORKER_TEST_SKIP_POSTGRES"] != "1" }

    static func create() async throws -> ScratchDatabase {
        guard let base = ProcessInfo.processInfo.environment["CLIPPING_WORKER_TEST_DATABASE_URL"],
            let components = URLComponents(string: base), let host = components.host, let port = components.port,
            let user = components.user
        else {
            throw WorkerProcessError(
                message: "CLIPPING_WORKER_TEST_DATABASE_URL is not set: run scripts/test.sh, or start "
                    + "scripts/pg-test-cluster.sh, or set CLIPPING_WORKER_TEST_SKIP_POSTGRES=1")
        }
        let name = "scaleout_" + UUID().uuidString.prefix(8).lowercased()
        let psql = try await TestProgram.run(
            "/usr/bin/env", ["psql", "-h", host, "-p", "\(port)", "-U", user, "-d", "postgres", "-q", "-c", "CREATE DATABASE \(name)"])
        guard psql.status == 0 else { throw WorkerProcessError(message: "psql could not create \(name): \(psql.error)") }
        var url = components
        url.path = "/" + name
        return ScratchDatabase(url: url.string!)
    }
}

/// SPEC section 8 end to end with the built binary: three `serve` processes on one database, a
/// receiver that fails a share of the webhooks, one worker killed with SIGKILL mid-run.
@Suite(.serialized, .timeLimit(.minutes(4)), .enabled(if: ScratchDatabase.enabled, "CLIPPING_WORKER_TEST_SKIP_POSTGRES=1"))
struct ScaleOutTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let lease = 3

    /// One received webhook, in arrival order.
    struct Arrival: Sendable {
        let job: String
        let sequence: Int
        let event: String
        let webhookID: String
        let answered: Int
        let at: ContinuousClock.Instant
    }

    /// Serves the video; answers webhooks 503 at random (`failShare`), else 204; records each.
    final class Receiver: Sendable {
        final class Arrivals: Sendable {
            let list = Mutex<[Arrival]>([])
        }

        final class Share: Sendable {
            let value: Mutex<Double>
            init(_ value: Double) { self.value = Mutex(value) }
        }

        let server: ScriptedHTTPServer
        private let recorded = Arrivals()
        private let share: Share

        /// Everything received so far, in arrival order.
        var arrivals: [Arrival] { recorded.list.withLock { $0 } }

        /// The share of webhooks answered 503 from now on.
        var failShare: Double {
            get { share.value.withLock { $0 } }
            set { share.value.withLock { $0 = newValue } }
        }

        init(failShare: Double) async throws {
            let arrivals = recorded
            let share = Share(failShare)
            self.share = share
            server = try await ScriptedHTTPServer.start(record: false) { request in
                if request.method == "GET" { return .status(200, body: Array(repeating: 3, count: 4_000)) }
                struct Payload: Decodable {
                    var job_id: String
                    var sequence: Int
                    var event: String
                }
                let answer = Double.random(in: 0..<1) < share.value.withLock({ $0 }) ? 503 : 204
                if let payload = try? JSONDecoder().decode(Payload.self, from: Data(request.body)) {
                    let arrival = Arrival(
                        job: payload.job_id, sequence: payload.sequence, event: payload.event,
                        webhookID: request.header("webhook-id") ?? "", answered: answer, at: .now)
                    arrivals.list.withLock { $0.append(arrival) }
                }
                return answer == 204 ? .noContent : .status(503)
            }
        }
    }

    func call(_ method: String, _ url: String, body: String? = nil) async throws -> HTTPClientResponse {
        try await CurlHTTPClient.withClient(configuration: .init(networkPolicy: nil)) { client in
            try await client.request(
                method, url: url, headers: body == nil ? [] : ["Content-Type: application/json"], body: body.map { Array($0.utf8) })
        }
    }

    func json(_ response: HTTPClientResponse) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] ?? [:]
    }

    func gauge(_ base: String, _ name: String) async -> Double? {
        guard let response = try? await call("GET", base + "/metrics") else { return nil }
        return String(decoding: response.body, as: UTF8.self).split(separator: "\n")
            .first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }

    /// What every worker of these tests gets: the database, one secret, loopback only, the
    /// simulated engine; `extra` on top.
    func environment(database url: String, _ extra: [String: String]) -> [String: String] {
        var values = [
            "CLIPPING_WORKER_DATABASE_URL": url, "WEBHOOK_SECRET": Self.secret,
            "CLIPPING_WORKER_ALLOWED_NETWORKS": "127.0.0.0/8", "CLIPPING_WORKER_ENGINE": "simulated",
        ]
        values.merge(extra) { _, new in new }
        return values
    }

    /// Starts `count` workers, each with a data directory of its own.
    func startWorkers(_ count: Int, _ environment: [String: String], named name: String) async throws -> [WorkerProcess] {
        var workers = [WorkerProcess]()
        for index in 0..<count {
            let worker = try WorkerProcess(
                dataDirectory: NSTemporaryDirectory() + "\(name)-\(index)-\(UUID().uuidString)", environment: environment)
            try await worker.start()
            workers.append(worker)
        }
        return workers
    }

    @Test func threeWorkersOneKilledEveryJobEndsInOrder() async throws {
        let database = try await ScratchDatabase.create()
        let receiver = try await Receiver(failShare: 0.2)
        let environment = environment(database: database.url, [
            "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "0.1", "WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS": "0.1",
            "CLIPPING_WORKER_LEASE_SECONDS": "\(Self.lease)", "WEBHOOK_RETRY_SCHEDULE": "1s", "CLIPPING_WORKER_LOG_FORMAT": "json",
        ])
        let workers = try await startWorkers(3, environment, named: "scaleout")
        // 300 jobs, submitted round-robin; the first worker is killed half-way, while it runs a
        // job and with work still coming (submitting can take as long as running, and a worker
        // killed once the queue has drained holds nothing to take over).
        let bases = workers.map(\.base)
        let video = receiver.server.url("/v.mp4")
        let hook = receiver.server.url("/hook")
        var ids = [String]()
        var killedAt = ContinuousClock.now
        var killedAtWallClock = Date()
        for index in 0..<300 {
            if index == 150 {
                let began = ContinuousClock.now
                while await (gauge(bases[0], "clipping_worker_jobs_running") ?? 0) < 1, ContinuousClock.now - began < .seconds(30) {
                    try await Task.sleep(for: .milliseconds(5))
                }
                workers[0].killHard()
                killedAt = ContinuousClock.now
                killedAtWallClock = Date()
            }
            let base = index < 150 ? bases[index % 3] : bases[1 + index % 2]
            let response = try await call(
                "POST", base + "/ai-clipping/jobs", body: #"{"video_url": "\#(video)", "callback_url": "\#(hook)"}"#)
            #expect(response.status == 202)
            ids.append(try #require(try json(response)["job_id"] as? String))
        }

        // Every job ends, seen the same from both survivors.
        var unfinished = Set(ids)
        while !unfinished.isEmpty, ContinuousClock.now - killedAt < .seconds(150) {
            for id in unfinished.prefix(40) {
                let job = try json(try await call("GET", bases[1] + "/ai-clipping/jobs/\(id)"))
                if job["status"] as? String == "completed" { unfinished.remove(id) }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(unfinished.isEmpty, "\(unfinished.count) jobs did not complete")
        for id in ids.prefix(20) {
            let first = try json(try await call("GET", bases[1] + "/ai-clipping/jobs/\(id)"))["status"] as? String
            let second = try json(try await call("GET", bases[2] + "/ai-clipping/jobs/\(id)"))["status"] as? String
            #expect(first == second)
        }
        // Every terminal event is delivered (a 2xx), in time.
        let deadline = ContinuousClock.now + .seconds(60)
        var delivered = Set<String>()
        while ContinuousClock.now < deadline {
            delivered = Set(receiver.arrivals.filter { $0.event == "job.completed" && $0.answered == 204 }.map(\.job))
            if delivered.isSuperset(of: ids) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(delivered.isSuperset(of: ids), "\(Set(ids).subtracting(delivered).count) terminal events undelivered")

        // At the receiver, per job: sequences never go back (a repeat after a crash keeps its
        // webhook-id), and nothing arrives after the terminal event but that event again.
        let arrivals = receiver.arrivals
        var byJob = [String: [Arrival]]()
        for arrival in arrivals { byJob[arrival.job, default: []].append(arrival) }
        var inversions = 0
        var afterTerminal = 0
        var offenders = [String]()
        var idsPerSequence = [String: Set<String>]()
        for (job, list) in byJob {
            for (earlier, later) in zip(list, list.dropFirst()) where later.sequence < earlier.sequence {
                inversions += 1
                offenders.append(job + " inverted: " + list.map { "\($0.sequence)\($0.event.dropFirst(4).prefix(4))/\($0.answered)" }.joined(separator: " "))
            }
            if let terminal = list.firstIndex(where: { $0.event == "job.completed" }) {
                let late = list[(terminal + 1)...].filter { $0.event != "job.completed" }
                afterTerminal += late.count
                if !late.isEmpty {
                    offenders.append(job + ": " + list.map { "\($0.sequence)\($0.event.dropFirst(4).prefix(4))/\($0.answered)" }.joined(separator: " "))
                }
            }
            for arrival in list { idsPerSequence["\(job)#\(arrival.sequence)", default: []].insert(arrival.webhookID) }
        }
        #expect(inversions == 0, "\(offenders)")
        #expect(afterTerminal == 0, "\(offenders)")
        #expect(idsPerSequence.values.allSatisfy { $0.count == 1 }, "one webhook-id per job and sequence")

        // Takeover: every job of the dead worker was taken over within the lease + 5 s (the
        // survivors log each takeover, JSON lines with millisecond times).
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var takeovers = [Double]()
        for worker in workers[1...] {
            for line in try String(contentsOfFile: worker.logPath, encoding: .utf8).split(separator: "\n")
            where line.contains("taking over a job whose worker stopped") {
                guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    let text = object["ts"] as? String, let time = formatter.date(from: text)
                else { continue }
                takeovers.append(time.timeIntervalSince(killedAtWallClock))
            }
        }
        #expect(!takeovers.isEmpty, "no job was taken over")
        #expect((takeovers.max() ?? 0) <= Double(Self.lease + 5), "takeovers after \(takeovers.sorted()) s")
        #expect(arrivals.last.map { $0.at > killedAt } ?? false)

        for worker in workers[1...] { #expect(try await worker.terminate() == 0) }
        try await receiver.server.shutdown()
    }

    /// `LISTEN/NOTIFY`: a job submitted to a busy worker is started by an idle one at once, not
    /// at its next poll (a third of the lease: 20 s here).
    @Test func anIdleWorkerStartsAJobSubmittedToABusyOneAtOnce() async throws {
        let database = try await ScratchDatabase.create()
        let receiver = try await Receiver(failShare: 0)
        let environment = environment(database: database.url, [
            "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "2", "CLIPPING_WORKER_LEASE_SECONDS": "60", "CLIPPING_WORKER_MAX_CONCURRENT_JOBS": "1",
        ])
        let workers = try await startWorkers(2, environment, named: "notify")
        // Both workers are past their first poll: only a notification can bring the second job.
        try await Task.sleep(for: .seconds(1))
        let body = #"{"video_url": "\#(receiver.server.url("/v.mp4"))"}"#
        let first = try #require(try json(try await call("POST", workers[0].base + "/ai-clipping/jobs", body: body))["job_id"] as? String)
        let began = ContinuousClock.now
        while try json(try await call("GET", workers[0].base + "/ai-clipping/jobs/\(first)"))["status"] as? String == "queued",
            ContinuousClock.now - began < .seconds(10)
        {
            try await Task.sleep(for: .milliseconds(20))
        }
        // The first worker is busy with the first job (one slot); the second job goes to it too.
        let second = try #require(try json(try await call("POST", workers[0].base + "/ai-clipping/jobs", body: body))["job_id"] as? String)
        let submitted = ContinuousClock.now
        var started: Duration?
        while ContinuousClock.now - submitted < .seconds(15) {
            let status = try json(try await call("GET", workers[1].base + "/ai-clipping/jobs/\(second)"))["status"] as? String
            if status != "queued" {
                started = ContinuousClock.now - submitted
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let waited = try #require(started, "the second job never started")
        #expect(waited < .seconds(5), "started after \(waited)")
        for worker in workers { #expect(try await worker.terminate() == 0) }
        try await receiver.server.shutdown()
    }

    /// A cluster of this test's own (`scripts/pg-test-cluster.sh`), so that restarting it does not
    /// disturb the other PostgreSQL tests running at the same time.
    struct OwnCluster {
        static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/pg-test-cluster.sh").path
        let url: String
        let directory: String

        /// Runs the script with `posix_spawn` and `waitpid`, its output in a file. (Foundation's
        /// `Process` never saw this script end once it had started a server: the server keeps
        /// what the script inherited, and the wait for the end never returned.)
        static func shell(_ arguments: [String]) throws -> String {
            let outputPath = NSTemporaryDirectory() + "pg-cluster-\(UUID().uuidString).out"
            defer { try? FileManager.default.removeItem(atPath: outputPath) }
            let command = ([script] + arguments).map { "'\($0)'" }.joined(separator: " ") + " >'\(outputPath)' </dev/null"
            let argv = ["/bin/bash", "-c", command]
            var cArguments = argv.map { strdup($0) } + [nil]
            defer { for pointer in cArguments { free(pointer) } }
            var pid: pid_t = 0
            guard posix_spawn(&pid, "/bin/bash", nil, nil, &cArguments, environ) == 0 else {
                throw WorkerProcessError(message: "could not start pg-test-cluster.sh")
            }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            guard status == 0 else {
                throw WorkerProcessError(message: "pg-test-cluster.sh \(arguments.joined(separator: " ")) failed (\(status))")
            }
            return (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        }

        init() throws {
            var url = "", directory = ""
            for line in try Self.shell(["start"]).split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let value = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "'"))
                if parts[0].hasSuffix("CLIPPING_WORKER_TEST_DATABASE_URL") { url = value }
                if parts[0].hasSuffix("CLIPPING_WORKER_TEST_PG_DIR") { directory = value }
            }
            self.url = url
            self.directory = directory
        }

        func restart(down seconds: Int) throws { _ = try Self.shell(["restart", directory, "\(seconds)"]) }
        func stop() { _ = try? Self.shell(["stop", directory]) }
    }

    /// PostgreSQL goes away for a few seconds while two workers run jobs: the workers go unready
    /// and come back by themselves, and nothing stored is lost.
    @Test
    func aDatabaseRestartMidRunLosesNothing() async throws {
        let cluster = try OwnCluster()
        defer { cluster.stop() }
        let receiver = try await Receiver(failShare: 0)
        let environment = environment(database: cluster.url, [
            "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "0.1", "CLIPPING_WORKER_LEASE_SECONDS": "\(Self.lease)", "WEBHOOK_RETRY_SCHEDULE": "1s",
        ])
        let workers = try await startWorkers(2, environment, named: "restart")
        let body = #"{"video_url": "\#(receiver.server.url("/v.mp4"))", "callback_url": "\#(receiver.server.url("/hook"))"}"#
        var ids = [String]()
        for index in 0..<40 {
            ids.append(try #require(try json(try await call("POST", workers[index % 2].base + "/ai-clipping/jobs", body: body))["job_id"] as? String))
        }
        // Down for 3 s while jobs run; readiness says so meanwhile.
        let restart = Task.detached { try cluster.restart(down: 3) }
        try await Task.sleep(for: .seconds(1))
        #expect(try await call("GET", workers[0].base + "/readyz").status == 503)
        try await restart.value
        // Ready again by itself; every job completes and its terminal event arrives.
        let began = ContinuousClock.now
        while try await call("GET", workers[1].base + "/readyz").status != 200, ContinuousClock.now - began < .seconds(60) {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(try await call("GET", workers[1].base + "/readyz").status == 200)
        var delivered = Set<String>()
        while ContinuousClock.now - began < .seconds(90) {
            delivered = Set(receiver.arrivals.filter { $0.event == "job.completed" && $0.answered == 204 }.map(\.job))
            if delivered.isSuperset(of: ids) { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(delivered.isSuperset(of: ids), "\(Set(ids).subtracting(delivered).count) of \(ids.count) terminal events missing")
        for id in ids {
            let job = try json(try await call("GET", workers[0].base + "/ai-clipping/jobs/\(id)"))
            #expect(job["status"] as? String == "completed", "\(id): \(job["status"] ?? "?") \(job["current_step"] ?? "")")
        }
        if !delivered.isSuperset(of: ids) {
            for worker in workers {
                let log = (try? String(contentsOfFile: worker.logPath, encoding: .utf8)) ?? ""
                print("--- \(worker.logPath)\n" + log.split(separator: "\n").filter { !$0.contains(" info ") }.suffix(60).joined(separator: "\n"))
            }
        }
        var byJob = [String: [Arrival]]()
        for arrival in receiver.arrivals { byJob[arrival.job, default: []].append(arrival) }
        for (job, list) in byJob {
            #expect(zip(list, list.dropFirst()).allSatisfy { $0.sequence <= $1.sequence }, "job \(job) out of order")
        }
        for worker in workers { #expect(try await worker.terminate() == 0) }
        try await receiver.server.shutdown()
    }

    /// Moving up from one machine (SPEC section 8): jobs and events of an embedded store, some
    /// finished with their terminal webhook still failing, some running, some queued, move into
    /// PostgreSQL with `import-sqlite`, which refuses to run while `serve` holds the directory;
    /// a worker on PostgreSQL then finishes every job and delivers every event, ids and
    /// sequences kept (one webhook-id per job and sequence before and after the move).
    @Test func anEmbeddedStoreMovesIntoPostgreSQLAndItsWorkGoesOn() async throws {
        let database = try await ScratchDatabase.create()
        let receiver = try await Receiver(failShare: 1)
        let data = NSTemporaryDirectory() + "import-\(UUID().uuidString)"
        let embedded = try WorkerProcess(
            dataDirectory: data,
            environment: [
                "WEBHOOK_SECRET": Self.secret, "CLIPPING_WORKER_ALLOWED_NETWORKS": "127.0.0.0/8",
                "CLIPPING_WORKER_ENGINE": "simulated", "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "0.3",
                "WEBHOOK_RETRY_SCHEDULE": "1s", "CLIPPING_WORKER_MAX_CONCURRENT_JOBS": "1",
            ])
        try await embedded.start()
        let body = #"{"video_url": "\#(receiver.server.url("/v.mp4"))", "callback_url": "\#(receiver.server.url("/hook"))"}"#
        var ids = [String]()
        for _ in 0..<5 {
            ids.append(try #require(try json(try await call("POST", embedded.base + "/ai-clipping/jobs", body: body))["job_id"] as? String))
        }
        // The first job finishes (its terminal webhook failing: three quick attempts), the next runs.
        let began = ContinuousClock.now
        while try json(try await call("GET", embedded.base + "/ai-clipping/jobs/\(ids[0])"))["status"] as? String != "completed",
            ContinuousClock.now - began < .seconds(30)
        {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try json(try await call("GET", embedded.base + "/ai-clipping/jobs/\(ids[0])"))["status"] as? String == "completed")

        let cli = CLITests()
        let refused = try await cli.run(["import-sqlite", "--data-dir", data, "--database-url", database.url])
        #expect(refused.status == 1)
        #expect(refused.error.contains("in use"), "\(refused.error)")
        #expect(try await embedded.terminate() == 0)
        let before = receiver.arrivals

        let moved = try await cli.run(["import-sqlite", "--data-dir", data, "--database-url", database.url])
        #expect(moved.status == 0, "\(moved.error)")
        #expect(moved.output.contains("imported 5 jobs"), "\(moved.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: data).contains { $0.hasPrefix("clipping-worker.sqlite.imported-") })
        #expect(!FileManager.default.fileExists(atPath: data + "/clipping-worker.sqlite"))

        receiver.failShare = 0
        let shared = try WorkerProcess(
            dataDirectory: NSTemporaryDirectory() + "import-pg-\(UUID().uuidString)",
            environment: environment(database: database.url, [
                "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "0.1", "WEBHOOK_RETRY_SCHEDULE": "1s", "CLIPPING_WORKER_LEASE_SECONDS": "\(Self.lease)",
            ]))
        try await shared.start()
        var delivered = Set<String>()
        while ContinuousClock.now - began < .seconds(120) {
            delivered = Set(receiver.arrivals.filter { $0.event == "job.completed" && $0.answered == 204 }.map(\.job))
            if delivered.isSuperset(of: ids) { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(delivered.isSuperset(of: ids), "\(Set(ids).subtracting(delivered).count) terminal events undelivered")
        for id in ids {
            let job = try json(try await call("GET", shared.base + "/ai-clipping/jobs/\(id)"))
            #expect(job["status"] as? String == "completed")
            // Gapless sequences, every event final.
            let events = try json(try await call("GET", shared.base + "/ai-clipping/jobs/\(id)/deliveries"))["events"] as? [[String: Any]] ?? []
            let sequences = events.compactMap { $0["sequence"] as? Int }.sorted()
            #expect(sequences == Array(1...max(1, sequences.count)), "\(id): \(sequences)")
            #expect(events.allSatisfy { $0["state"] as? String != "pending" })
        }
        // What the receiver saw before the move and after: one webhook-id per job and sequence,
        // and per job no sequence below one already seen.
        var idsPerSequence = [String: Set<String>]()
        var byJob = [String: [Arrival]]()
        for arrival in receiver.arrivals {
            idsPerSequence["\(arrival.job)#\(arrival.sequence)", default: []].insert(arrival.webhookID)
            byJob[arrival.job, default: []].append(arrival)
        }
        #expect(idsPerSequence.values.allSatisfy { $0.count == 1 })
        for (job, list) in byJob {
            #expect(zip(list, list.dropFirst()).allSatisfy { $0.sequence <= $1.sequence }, "job \(job) out of order")
        }
        #expect(before.contains { $0.job == ids[0] && $0.event == "job.completed" }, "the first job's terminal event was tried before the move")
        #expect(try await shared.terminate() == 0)
        try await receiver.server.shutdown()
    }

    /// SPEC section 8: a local output is served by the worker that stored it; another worker
    /// answers 404 for it (it has no such file), never another job's file or an error page.
    @Test func localOutputsAreServedByTheWorkerThatStoredThem() async throws {
        let database = try await ScratchDatabase.create()
        let receiver = try await Receiver(failShare: 0)
        let workers = try await startWorkers(
            2, environment(database: database.url, ["CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "0.05"]), named: "media")
        let body = #"{"video_url": "\#(receiver.server.url("/v.mp4"))"}"#
        let id = try #require(try json(try await call("POST", workers[0].base + "/ai-clipping/jobs", body: body))["job_id"] as? String)
        var job = [String: Any]()
        let began = ContinuousClock.now
        while ContinuousClock.now - began < .seconds(30) {
            job = try json(try await call("GET", workers[1].base + "/ai-clipping/jobs/\(id)"))
            if job["status"] as? String == "completed" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let output = try #require(job["output"] as? [String: Any], "\(job)")
        let transcript = try #require(output["transcript_url"] as? String)
        let path = try #require(URLComponents(string: transcript)?.path)
        let owner = try #require(workers.firstIndex { transcript.hasPrefix($0.base + "/") }, "\(transcript)")
        #expect(try await call("GET", workers[owner].base + path).status == 200)
        #expect(try await call("GET", workers[1 - owner].base + path).status == 404)
        for worker in workers { #expect(try await worker.terminate() == 0) }
        try await receiver.server.shutdown()
    }

    /// SPEC section 8: any worker redelivers any event. A job run and delivered by one worker has
    /// its terminal event redelivered through the other: the receiver gets it again, same id.
    @Test func aRedeliveryThroughAnotherWorkerIsDelivered() async throws {
        let database = try await ScratchDatabase.create()
        let receiver = try await Receiver(failShare: 0)
        let workers = try await startWorkers(
            2, environment(database: database.url, ["CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "0.05"]), named: "redeliver")
        let body = #"{"video_url": "\#(receiver.server.url("/v.mp4"))", "callback_url": "\#(receiver.server.url("/hook"))"}"#
        let id = try #require(try json(try await call("POST", workers[0].base + "/ai-clipping/jobs", body: body))["job_id"] as? String)
        var terminal: Arrival?
        let began = ContinuousClock.now
        while terminal == nil, ContinuousClock.now - began < .seconds(30) {
            terminal = receiver.arrivals.first { $0.job == id && $0.event == "job.completed" && $0.answered == 204 }
            try await Task.sleep(for: .milliseconds(50))
        }
        let delivered = try #require(terminal, "the terminal event never arrived")
        let events = try json(try await call("GET", workers[1].base + "/ai-clipping/jobs/\(id)/deliveries"))["events"] as? [[String: Any]] ?? []
        let eventID = try #require(events.last { $0["event"] as? String == "job.completed" }?["event_id"] as? String)
        // Through each worker in turn: whichever ran the job or not.
        for (round, worker) in workers.reversed().enumerated() {
            #expect(try await call("POST", worker.base + "/deliveries/\(eventID)/redeliver").status == 202)
            let asked = ContinuousClock.now
            var copies = 0
            while copies < round + 2, ContinuousClock.now - asked < .seconds(20) {
                copies = receiver.arrivals.filter { $0.webhookID == delivered.webhookID }.count
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(copies == round + 2, "redelivery \(round + 1) through worker \(workers.count - 1 - round) not received")
        }
        for worker in workers { #expect(try await worker.terminate() == 0) }
        try await receiver.server.shutdown()
    }

    /// A cancel through a worker that does not run the job reaches the one that does at once
    /// (its periodic check is 20 s away here): the job ends `cancelled` with its `job.failed`.
    @Test func aCancelThroughAnotherWorkerStopsTheRunningJob() async throws {
        let database = try await ScratchDatabase.create()
        let receiver = try await Receiver(failShare: 0)
        let environment = environment(database: database.url, [
            "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "5", "CLIPPING_WORKER_LEASE_SECONDS": "60",
        ])
        let running = try WorkerProcess(
            dataDirectory: NSTemporaryDirectory() + "cancel-0-\(UUID().uuidString)", environment: environment)
        try await running.start()
        let body = #"{"video_url": "\#(receiver.server.url("/v.mp4"))", "callback_url": "\#(receiver.server.url("/hook"))"}"#
        let id = try #require(try json(try await call("POST", running.base + "/ai-clipping/jobs", body: body))["job_id"] as? String)
        let began = ContinuousClock.now
        while try json(try await call("GET", running.base + "/ai-clipping/jobs/\(id)"))["status"] as? String == "queued",
            ContinuousClock.now - began < .seconds(10)
        {
            try await Task.sleep(for: .milliseconds(20))
        }
        // A second worker, started once the first runs the job, takes the cancel.
        let other = try WorkerProcess(
            dataDirectory: NSTemporaryDirectory() + "cancel-1-\(UUID().uuidString)", environment: environment)
        try await other.start()
        #expect(try await call("POST", other.base + "/ai-clipping/jobs/\(id)/cancel").status == 202)
        let cancelled = ContinuousClock.now
        var status: String?
        while ContinuousClock.now - cancelled < .seconds(15) {
            status = try json(try await call("GET", other.base + "/ai-clipping/jobs/\(id)"))["status"] as? String
            if status == "cancelled" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(status == "cancelled")
        #expect(ContinuousClock.now - cancelled < .seconds(5), "took \(ContinuousClock.now - cancelled)")
        while ContinuousClock.now - cancelled < .seconds(15),
            !receiver.arrivals.contains(where: { $0.job == id && $0.event == "job.failed" })
        {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(receiver.arrivals.contains { $0.job == id && $0.event == "job.failed" && $0.answered == 204 })
        for worker in [running, other] { #expect(try await worker.terminate() == 0) }
        try await receiver.server.shutdown()
    }
}
