import CurlTransport
import Foundation
import Testing
import Logging
import WebhookCore
import WebhookTestSupport
import WorkerService

/// A whole worker in this process (SQLite in a temporary folder, port 0), driven over real HTTP.
struct WorkerHarness {
    let base: String
    let dataDirectory: String
    let client: CurlHTTPClient

    static func run(
        _ values: [String: String] = [:], logger: Logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
        configure: (inout WorkerConfiguration) -> Void = { _ in },
        resolver: any HostResolver = StaticHostResolver.publicInternet(),
        _ body: (WorkerHarness) async throws -> Void
    ) async throws {
        let data = NSTemporaryDirectory() + "worker-\(UUID().uuidString)"
        var settings = [
            "CLIPPING_WORKER_PORT": "0", "CLIPPING_WORKER_DATA_DIR": data,
            "CLIPPING_WORKER_ALLOWED_NETWORKS": "127.0.0.0/8", "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "0.01",
            "CLIPPING_WORKER_ENGINE": "simulated",
            "WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS": "0",
        ]
        settings.merge(values) { _, new in new }
        var configuration = try WorkerConfiguration(values: settings)
        configure(&configuration)
        let ports = AsyncRecorder<Int>()
        let worker = Task {
            try await Worker.run(configuration: configuration, logger: logger, signals: [], resolver: resolver) { ports.record($0) }
        }
        let port = try await ports.wait(count: 1)[0]
        let clientConfiguration = CurlClientConfiguration(connectTimeout: .seconds(2), totalTimeout: .seconds(10), networkPolicy: nil)
        do {
            try await CurlHTTPClient.withClient(configuration: clientConfiguration) { client in
                try await body(WorkerHarness(base: "http://127.0.0.1:\(port)", dataDirectory: data, client: client))
            }
        } catch {
            worker.cancel()
            _ = await worker.result
            throw error
        }
        worker.cancel()
        _ = try await worker.value
    }

    func call(
        _ method: String, _ path: String, json: String? = nil, headers: [String] = [], contentType: String = "application/json"
    ) async throws -> HTTPClientResponse {
        var all = headers
        if json != nil { all.append("Content-Type: \(contentType)") }
        return try await client.request(method, url: base + path, headers: all, body: json.map { Array($0.utf8) })
    }

    func object(_ response: HTTPClientResponse) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] ?? [:]
    }

    func error(_ response: HTTPClientResponse) throws -> (code: String, message: String, field: String?) {
        let error = try object(response)["error"] as? [String: Any] ?? [:]
        return (error["code"] as? String ?? "", error["message"] as? String ?? "", error["field"] as? String)
    }

    func waitForStatus(_ id: String, _ wanted: Set<String>, within limit: Duration = .seconds(15)) async throws -> [String: Any] {
        try await waitForJob(id, within: limit) { ($0["status"] as? String).map(wanted.contains) ?? false }
    }

    /// Polls `GET /ai-clipping/jobs/{id}` until `condition` holds (`limit` at most).
    func waitForJob(
        _ id: String, within limit: Duration = .seconds(15), until condition: ([String: Any]) -> Bool
    ) async throws -> [String: Any] {
        let start = ContinuousClock.now
        var last: [String: Any] = [:]
        while ContinuousClock.now - start < limit {
            let job = try object(try await call("GET", "/ai-clipping/jobs/\(id)"))
            if condition(job) { return job }
            last = job
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("job \(id) after \(limit): \(last)")
        throw RecorderTimeout(expected: 1, got: 0)
    }
}
