import CurlTransport
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import WebhookCore
import WorkerCore
import WebhookDispatch
import WebhookSigning
import WebhookTestSupport

/// Builds a dispatcher on real parts (curl sender, the given store and clock), runs it in a
/// ServiceGroup for the body, then shuts it down gracefully.
struct DispatcherHarness {
    static let secret = WebhookSecret.generate()
    static let signer = WebhookSigner(secrets: [secret])
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func clientConfiguration(timeout: Duration = .seconds(2)) -> CurlClientConfiguration {
        CurlClientConfiguration(
            connectTimeout: .seconds(1), totalTimeout: timeout,
            networkPolicy: NetworkPolicy(allowedNetworks: [CIDRBlock("127.0.0.0/8")!]))
    }

    static func run<Store: OutboxStore, Clock: WorkerClock>(
        store: Store, clock: Clock, configuration: DispatcherConfiguration = DispatcherConfiguration(),
        client: CurlClientConfiguration = clientConfiguration(), observer: any DeliveryObserver = RecordingObserver(),
        metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        _ body: (WebhookDispatcher<Store, CurlHTTPClient, Clock>) async throws -> Void
    ) async throws {
        try await CurlHTTPClient.withClient(configuration: client) { sender in
            let dispatcher = WebhookDispatcher(
                store: store, sender: sender, clock: clock, signer: signer, configuration: configuration,
                observer: observer, logger: logger, metricsFactory: metrics)
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(services: [dispatcher], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                do {
                    try await body(dispatcher)
                } catch {
                    await group.triggerGracefulShutdown()
                    try? await tasks.waitForAll()
                    throw error
                }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    static func draft(
        _ kind: EventKind, job: String, url: String, percent: Int = 50, step: String = "Rendering"
    ) throws -> EventDraft {
        let status: JobStatus
        switch kind {
        case .started: status = .downloading
        case .progress: status = .rendering
        case .completed: status = .completed
        case .failed: status = .failed
        }
        return try EventDraft(
            kind: kind, callbackURL: url,
            snapshot: JobSnapshot(
                timestamp: Timestamp(milliseconds: 1_736_937_060_000), jobID: job, externalJobID: "ext-\(job)",
                status: status, progressPercent: kind == .completed ? 100 : percent, currentStep: step,
                error: kind == .failed ? "boom" : nil))
    }

    /// Waits (at most 10 s of real time) until the dispatcher's status satisfies `condition`;
    /// the test's own `#expect` then says whether it did.
    static func waitForStatus<Store, Sender, Clock>(
        _ dispatcher: WebhookDispatcher<Store, Sender, Clock>, until condition: (DispatcherStatus) -> Bool
    ) async {
        let began = ContinuousClock.now
        while !condition(await dispatcher.status), ContinuousClock.now - began < .seconds(10) { await Task.yield() }
    }

    /// A fresh temporary directory.
    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "cw-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The envelope fields of a received payload.
    static func payload(_ request: ScriptedHTTPServer.Request) throws -> ReceivedPayload {
        try JSONDecoder().decode(ReceivedPayload.self, from: Data(request.body))
    }
}

/// What a receiver reads first from a webhook body.
struct ReceivedPayload: Decodable, Equatable {
    var event: String
    var eventID: String
    var sequence: Int64
    var jobID: String
    var status: String
    var progressPercent: Int
    var currentStep: String

    enum CodingKeys: String, CodingKey {
        case event
        case eventID = "event_id"
        case sequence
        case jobID = "job_id"
        case status
        case progressPercent = "progress_percent"
        case currentStep = "current_step"
    }
}
