public import Prometheus

/// Where the worker's metrics go: one Prometheus registry, exported at `/metrics`, and the
/// factory that feeds it. `serve` bootstraps swift-metrics with ``factory`` once, so libraries
/// that use the global factory (Hummingbird's `MetricsMiddleware`: `http.server.request.duration`,
/// `hb.requests`, `hb.request.errors`, `http.server.active_requests`) land in the same registry.
public struct WorkerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory

    /// A new registry, with duration buckets from 0.25 ms to 10 s: loopback attempts and commits
    /// take well under a millisecond.
    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        // Job stages take seconds to many minutes.
        factory.durationHistogramBuckets["clipping_worker_job_stage_duration_seconds"] = [
            .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(15), .seconds(30), .seconds(60),
            .seconds(120), .seconds(300), .seconds(600), .seconds(1800), .seconds(3600),
        ]
        self.factory = factory
    }
}
