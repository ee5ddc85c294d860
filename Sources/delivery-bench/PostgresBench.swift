import CurlTransport
import Foundation
import Logging
import OutboxPostgres
import PostgresNIO
import ServiceLifecycle
import WebhookCore
import WebhookDispatch
import WebhookSigning
import WebhookTestSupport

/// `--store postgres`: the workload through the shared store. One worker runs in this process;
/// `--workers N` (N > 1) starts N worker processes of this same binary on one database, each
/// publishing its share of the jobs and delivering them to the receiver this process runs, so
/// the figures are those of real scale-out (separate processes, leases, connections).
enum PostgresBench {
    static func run(_ options: BenchOptions, directory: String) async throws {
        let url = try PostgresURL(options.databaseURL ?? "")
        if options.workerIndex == nil {
            print("delivery-bench: database \(url), \(options.bodyBytes)-byte bodies, \(max(1, options.events / options.jobs)) events per job")
        }
        let logger = DeliveryBench.logger
        let client = PostgresClient(configuration: url.clientConfiguration(maximumConnections: 8), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let version = try await PostgresMigrator(client: client, logger: logger).migrate()
            if options.workerIndex == nil { print("delivery-bench: schema version \(version)") }
            let store = PostgresOutboxStore(client: client, configuration: PostgresStoreConfiguration(), logger: logger)
            if let index = options.workerIndex {
                try await runWorker(options, index: index, store: store)
            } else if options.workers > 1 {
                try await MultiProcessBench.run(options)
            } else {
                try await DeliveryBench.measure(options, stores: [store], directory: directory)
            }
        }
    }

    /// One worker process of a multi-worker run: publishes the jobs `j` with `j % workers ==
    /// index` (or its share of the offered rate) to the parent's receiver and reports its own
    /// counts; the parent measures.
    static func runWorker(_ options: BenchOptions, index: Int, store: PostgresOutboxStore) async throws {
        guard let url = options.url else { throw BenchUsageError(message: "--worker-index needs --url") }
        let observer = BenchObserver(forwardingTo: nil)
        let clientConfiguration = DeliveryBench.loopbackClient()
        let started = monotonicNanoseconds()
        try await CurlHTTPClient.withClient(configuration: clientConfiguration) { client in
            let dispatcher = WebhookDispatcher(
                store: store, sender: client, clock: SystemClock(), signer: WebhookSigner(secrets: [WebhookSecret.generate()]),
                configuration: DeliveryBench.dispatcherConfiguration(options), observer: observer, logger: DeliveryBench.logger)
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [dispatcher], logger: DeliveryBench.logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let padding = try DeliveryBench.padding(toBodyBytes: options.bodyBytes, url: url)
                let workers = options.workers
                var total = 0
                switch options.mode {
                case .latency:
                    let share = options.rate * options.seconds / workers
                    let interval = Int64(1_000_000_000) * Int64(workers) / Int64(options.rate)
                    let start = monotonicNanoseconds()
                    try await withThrowingDiscardingTaskGroup { publishers in
                        for number in 0..<share {
                            let due = start + Int64(number) * interval
                            let wait = due - monotonicNanoseconds()
                            if wait > 0 { try await Task.sleep(for: .nanoseconds(wait)) }
                            let job = (number * workers + index) % options.jobs
                            publishers.addTask { try await dispatcher.publish(DeliveryBench.draft(job: job, url: url, padding: padding)) }
                        }
                    }
                    total = share
                default:
                    let perJob = max(1, options.events / options.jobs)
                    try await DeliveryBench.publishAll(
                        jobs: options.jobs, perJob: perJob, dispatchers: [dispatcher], url: url, padding: padding,
                        only: { $0 % workers == index })
                    total = perJob * stride(from: index, to: options.jobs, by: workers).underestimatedCount
                }
                try await DeliveryBench.waitForOutcomes(observer, count: total, timeout: 300)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
        print(String(format: "worker %d: delivered %d, failed %d, attempts %d in %.2f s, peak RSS %.1f MiB",
                     index, observer.delivered, observer.failed, observer.attempts,
                     Double(monotonicNanoseconds() - started) / 1e9, peakRSSMiB()))
    }
}
