import CurlTransport
import DeliveryLog
import Foundation
import Logging
import OutboxSQLite
import ServiceLifecycle
import WebhookCore
import WebhookDispatch
import WebhookSigning
import WebhookTestSupport
import WorkerCore

/// `swift run -c release delivery-bench [options]`: see ``BenchOptions/usage``.
@main
struct DeliveryBench {
    static func main() async {
        let options: BenchOptions
        do {
            options = try BenchOptions.parse(Array(CommandLine.arguments.dropFirst()))
        } catch {
            if !error.message.isEmpty { print("delivery-bench: \(error.message)") }
            print(BenchOptions.usage)
            exit(error.message.isEmpty ? 0 : 64)
        }
        do {
            try await run(options)
        } catch {
            print("delivery-bench: failed: \(error)")
            exit(1)
        }
    }

    static let logger = Logger(label: "delivery-bench", factory: { _ in SwiftLogNoOpLogHandler() })

    static func run(_ options: BenchOptions) async throws {
        let directory = NSTemporaryDirectory() + "delivery-bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        print("delivery-bench: mode=\(options.mode) events=\(options.events) jobs=\(options.jobs) store=\(options.store)"
            + " durability=\(options.durability) log=\(options.deliveryLog) concurrency=\(options.perOriginConcurrency)"
            + " workers=\(options.workers) cores=\(ProcessInfo.processInfo.activeProcessorCount)")
        switch options.store {
        case "memory":
            try await measure(options, stores: [InMemoryOutboxStore()], directory: directory)
        case "postgres":
            try await PostgresBench.run(options, directory: directory)
        default:
            let store = try SQLiteOutboxStore(
                path: directory + "/outbox.sqlite", durability: options.durability == "full" ? .full : .normal)
            try await measure(options, stores: [store], directory: directory)
            store.close()
            let memory = SQLiteOutboxStore.sqliteMemory
            print(String(format: "SQLite memory: %.1f MiB now, %.1f MiB at most", Double(memory.current) / 1_048_576, Double(memory.highest) / 1_048_576))
            print(String(format: "store transactions committed: %d, writer CPU %.2f s; WAL checkpoints: %d in the background (CPU %.2f s), %d inline",
                         store.committedTransactions, store.writerCPUSeconds, store.checkpoints.background,
                         store.checkpointerCPUSeconds, store.checkpoints.inline))
        }
    }

    /// Measures the receiver, then runs one dispatcher per store (one per worker) against it.
    static func measure<Store: OutboxStore>(_ options: BenchOptions, stores: [Store], directory: String) async throws {
        let latencies = LatencyRecorder()
        // The built-in receiver records enqueue → receipt. An external one (`--url`) cannot, so
        // there the sender records enqueue → response (LatencyMeasuringSender).
        var receiver: ScriptedHTTPServer?
        var url: String
        var caFile = options.caFile
        // `--dead-receiver`: a port bound and never listened on, so every connection is refused.
        // No server is started: one started and stopped would leave its threads and pages in
        // the resident set the mode measures.
        var refusingPort: ClosedPort?
        if let external = options.url {
            url = external
        } else if options.mode == .deadReceiver {
            let port = try ClosedPort()
            refusingPort = port
            url = "http://127.0.0.1:\(port.port)/hook"
        } else {
            // `--tls`: HTTPS with a certificate of a CA made for this run (openssl).
            var tls: ScriptedHTTPServer.TLS?
            if options.tls {
                let certificates = try TestCertificates.make()
                tls = .init(certificates.server)
                caFile = certificates.authority
            }
            let server = try await ScriptedHTTPServer.start(threads: 1, record: false, tls: tls) { request in
                if let stamp = enqueueStamp(in: request.body) {
                    latencies.add(nanoseconds: monotonicNanoseconds() - stamp)
                }
                return .noContent
            }
            receiver = server
            url = server.url()
        }
        let receiverKind = options.url != nil ? "external" : refusingPort != nil ? "refusing (no listener)" : "built-in"
        print("delivery-bench: receiver \(receiverKind) \(url)")
        let clientConfiguration = loopbackClient(caFile: caFile)

        var capacity: Double?
        if options.mode != .deadReceiver {
            capacity = await CurlHTTPClient.withClient(configuration: clientConfiguration) { client in
                await receiverCapacity(client: client, url: url, concurrency: options.perOriginConcurrency)
            }
            print(String(format: "receiver capacity (bare curl loop, %d in flight): %.0f req/s", options.perOriginConcurrency, capacity!))
        }

        let log = options.deliveryLog ? try DeliveryLogWriter(directory: directory + "/logs") : nil
        let observer = BenchObserver(forwardingTo: log)
        try await CurlHTTPClient.withClient(configuration: clientConfiguration) { client in
            if options.url != nil {
                let sender = LatencyMeasuringSender(base: client, latencies: latencies)
                try await drive(options, stores: stores, sender: sender, url: url, observer: observer, latencies: latencies, capacity: capacity)
            } else {
                try await drive(options, stores: stores, sender: client, url: url, observer: observer, latencies: latencies, capacity: capacity)
            }
        }
        log?.close()
        if let receiver, receiver.scheme == "https" {
            // Connection reuse over TLS: handshakes per 10,000 deliveries (the capacity loop's included).
            let delivered = max(1, observer.delivered)
            print(String(format: "TLS handshakes at the receiver: %d for %d deliveries (%.1f per 10,000)",
                         receiver.handshakesCompleted, delivered, Double(receiver.handshakesCompleted) * 10_000 / Double(delivered)))
        }
        try await receiver?.shutdown()
        withExtendedLifetime(refusingPort) {}
    }

    /// Runs a dispatcher over each store (a worker each; they share `sender`) for the mode's workload.
    static func drive<Store: OutboxStore, Sender: WebhookSender>(
        _ options: BenchOptions, stores: [Store], sender: Sender, url: String, observer: BenchObserver,
        latencies: LatencyRecorder, capacity: Double?
    ) async throws {
        let configuration = dispatcherConfiguration(options)
        let signer = WebhookSigner(secrets: [WebhookSecret.generate()])
        let dispatchers = stores.map { store in
            WebhookDispatcher(
                store: store, sender: sender, clock: SystemClock(), signer: signer, configuration: configuration,
                observer: observer, logger: logger)
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: dispatchers, logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            switch options.mode {
            case .throughput:
                try await throughput(options, dispatchers: dispatchers, url: url, observer: observer, latencies: latencies, capacity: capacity!)
            case .latency:
                try await latency(options, dispatchers: dispatchers, url: url, observer: observer, latencies: latencies, capacity: capacity!)
            case .deadReceiver:
                try await deadReceiver(options, dispatchers: dispatchers, url: url, observer: observer)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// Every event stored and sent (the throttle off: nothing coalesces), `--concurrency` per origin.
    static func dispatcherConfiguration(_ options: BenchOptions) -> DispatcherConfiguration {
        var configuration = DispatcherConfiguration()
        configuration.progressMinInterval = .zero
        configuration.perOriginConcurrency = options.perOriginConcurrency
        configuration.evictParkedJobs = options.evictParkedJobs
        return configuration
    }

    /// The benchmark's curl client: loopback only (the policy is checked on every address curl
    /// connects to), short timeouts.
    static func loopbackClient(caFile: String? = nil) -> CurlClientConfiguration {
        CurlClientConfiguration(
            connectTimeout: .seconds(2), totalTimeout: .seconds(5),
            networkPolicy: NetworkPolicy(allowedNetworks: [CIDRBlock("127.0.0.0/8")!, CIDRBlock("::1/128")!]),
            caFile: caFile)
    }

    /// Requests/s a plain keep-alive curl loop gets from the receiver: the ceiling for the pipeline.
    static func receiverCapacity(client: CurlHTTPClient, url: String, concurrency: Int) async -> Double {
        let body = Array(#"{"event":"job.progress","event_id":"evt_bench","sequence":1}"#.utf8)
        let request = WebhookRequest(url: url, headers: ["Content-Type: application/json"], body: body)
        let duration = Int64(3_000_000_000)
        let start = monotonicNanoseconds()
        let completed = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var count = 0
                    while monotonicNanoseconds() - start < duration {
                        if (try? await client.send(request)) != nil { count += 1 }
                    }
                    return count
                }
            }
            return await group.reduce(0, +)
        }
        return Double(completed) / (Double(monotonicNanoseconds() - start) / 1e9)
    }

    static func draft(job: Int, url: String, padding: String = "") throws -> EventDraft {
        try EventDraft(
            kind: .progress, callbackURL: url,
            snapshot: JobSnapshot(
                timestamp: SystemClock().now, jobID: "bench-\(runID)-\(job)", externalJobID: "ext-\(job)", status: .rendering,
                progressPercent: 42, currentStep: "t=\(monotonicNanoseconds())" + padding, clipsCompleted: 2, totalClips: 5))
    }

    /// What `current_step` carries after the stamp so that a body is about `bytes` long.
    static func padding(toBodyBytes bytes: Int, url: String) throws -> String {
        guard bytes > 0 else { return "" }
        let base = try draft(job: 0, url: url).encodedSnapshot.count
        return String(repeating: " ", count: max(0, bytes - base))
    }

    /// Job ids differ between runs: a shared database keeps the jobs of earlier runs.
    static let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)

    static func waitForOutcomes(_ observer: BenchObserver, count: Int, timeout: Double) async throws {
        let start = monotonicNanoseconds()
        while observer.delivered + observer.failed < count {
            if Double(monotonicNanoseconds() - start) / 1e9 > timeout {
                print("delivery-bench: timed out with \(observer.delivered) delivered of \(count)")
                break
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        for failure in observer.sampleFailures { print("delivery-bench: not delivered at once: \(failure)") }
    }

    /// Publishes `perJob` events for each job, in order per job, from at most 1024 concurrent
    /// publishers (as a pipeline would: one publisher per running job); job `j` belongs to
    /// worker `j % workers`.
    static func publishAll<S, Sender, C>(
        jobs: Int, perJob: Int, dispatchers: [WebhookDispatcher<S, Sender, C>], url: String, padding: String = "",
        only owned: @escaping @Sendable (Int) -> Bool = { _ in true }
    ) async throws {
        let publishers = min(1024, jobs)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for publisher in 0..<publishers {
                group.addTask {
                    for job in stride(from: publisher, to: jobs, by: publishers) where owned(job) {
                        let dispatcher = dispatchers[job % dispatchers.count]
                        for _ in 0..<perJob { try await dispatcher.publish(draft(job: job, url: url, padding: padding)) }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    static func throughput<S, Sender, C>(
        _ options: BenchOptions, dispatchers: [WebhookDispatcher<S, Sender, C>], url: String, observer: BenchObserver,
        latencies: LatencyRecorder, capacity: Double
    ) async throws {
        let perJob = max(1, options.events / options.jobs)
        let total = perJob * options.jobs
        let cpuBefore = cpuSeconds()
        let switchesBefore = contextSwitches()
        let padding = try padding(toBodyBytes: options.bodyBytes, url: url)
        let start = monotonicNanoseconds()
        try await publishAll(jobs: options.jobs, perJob: perJob, dispatchers: dispatchers, url: url, padding: padding)
        let stored = Double(monotonicNanoseconds() - start) / 1e9
        try await waitForOutcomes(observer, count: total, timeout: 300)
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        let rate = Double(observer.delivered) / elapsed
        let cpu = cpuSeconds() - cpuBefore
        let switches = contextSwitches() - switchesBefore
        var bodyLoads = 0
        for dispatcher in dispatchers { bodyLoads += await dispatcher.status.bodyLoads }
        print("bodies read back from the store: \(bodyLoads)")
        print(String(format: "stored %d events in %.2f s (%.0f/s)", total, stored, Double(total) / stored))
        let cpuScope = options.url == nil ? "process, receiver included" : "this process, the receiver not included"
        print(String(format: "delivered %d in %.2f s: %.0f deliveries/s (%.0f%% of receiver capacity), %d attempts, %.1f µs CPU per delivery",
                     observer.delivered, elapsed, rate, 100 * rate / capacity, observer.attempts, cpu / Double(max(1, observer.delivered)) * 1e6)
            + " (\(cpuScope))")
        print(String(format: "%.2f context switches per delivery", Double(switches) / Double(max(1, observer.delivered))))
        let (p50, p99) = latencies.percentiles() ?? (0, 0)
        print(String(format: "RESULT deliveries_per_s=%.0f p50_ms=%.2f p99_ms=%.2f peak_rss_mib=%.1f receiver_capacity_per_s=%.0f",
                     rate, p50, p99, peakRSSMiB(), capacity))
    }

    static func latency<S, Sender, C>(
        _ options: BenchOptions, dispatchers: [WebhookDispatcher<S, Sender, C>], url: String, observer: BenchObserver,
        latencies: LatencyRecorder, capacity: Double
    ) async throws {
        let total = options.rate * options.seconds
        let interval = 1_000_000_000 / Int64(options.rate)
        let padding = try padding(toBodyBytes: options.bodyBytes, url: url)
        let start = monotonicNanoseconds()
        // A discarding group frees each publish task when it ends.
        try await withThrowingDiscardingTaskGroup { group in
            for index in 0..<total {
                let due = start + Int64(index) * interval
                let wait = due - monotonicNanoseconds()
                if wait > 0 { try await Task.sleep(for: .nanoseconds(wait)) }
                let job = index % options.jobs
                let dispatcher = dispatchers[job % dispatchers.count]
                group.addTask { try await dispatcher.publish(draft(job: job, url: url, padding: padding)) }
            }
        }
        try await waitForOutcomes(observer, count: total, timeout: 120)
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        let (p50, p99) = latencies.percentiles() ?? (0, 0)
        let p95 = latencies.percentile(0.95) ?? 0
        print(String(format: "offered %d events/s for %d s; delivered %d (%d measured) in %.2f s",
                     options.rate, options.seconds, observer.delivered, latencies.count, elapsed))
        print(String(format: "RESULT deliveries_per_s=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f peak_rss_mib=%.1f receiver_capacity_per_s=%.0f",
                     Double(observer.delivered) / elapsed, p50, p95, p99, peakRSSMiB(), capacity))
    }

    static func deadReceiver<S, Sender, C>(
        _ options: BenchOptions, dispatchers: [WebhookDispatcher<S, Sender, C>], url: String, observer: BenchObserver
    ) async throws {
        let perJob = max(1, options.events / options.jobs)
        let total = perJob * options.jobs
        let start = monotonicNanoseconds()
        try await publishAll(jobs: options.jobs, perJob: perJob, dispatchers: dispatchers, url: url)
        let stored = Double(monotonicNanoseconds() - start) / 1e9
        // Let the breaker settle and a probe or two happen.
        try await Task.sleep(for: .seconds(6))
        var (pending, paused, cached, evicted) = (0, 0, 0, 0)
        for dispatcher in dispatchers {
            let status = await dispatcher.status
            pending += status.pendingEvents
            paused += status.pausedOrigins
            cached += status.bodyCacheBytes
            evicted += status.jobsEvicted
        }
        print(String(format: "stored %d events in %.2f s; pending %d, attempts %d, paused origins %d, jobs evicted %d, body cache %.1f MiB",
                     total, stored, pending, observer.attempts, paused, evicted, Double(cached) / 1_048_576))
        let resident = residentSplitMiB()
        print(String(format: "RESULT pending=%d peak_rss_mib=%.1f rss_anon_mib=%.1f rss_file_mib=%.1f",
                     pending, peakRSSMiB(), resident.anonymous, resident.files))
    }
}
