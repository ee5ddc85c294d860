import Metrics
import WebhookCore

/// The dispatcher's metrics. Labels and dimension values are constants (event type, outcome,
/// state), never ids or URLs. Handles are made once, not per delivery.
///
/// | name | type | dimensions |
/// |---|---|---|
/// | `clipping_worker_webhook_attempts_total` | counter | `event`, `outcome` |
/// | `clipping_worker_webhook_events_finished_total` | counter | `event`, `state` |
/// | `clipping_worker_webhook_attempt_duration_seconds` | timer | `event` |
/// | `clipping_worker_webhook_in_flight` | gauge | |
/// | `clipping_worker_webhook_origins_paused` | gauge | |
///
/// (`clipping_worker_webhook_deliveries_total` counted attempts under a misleading name; the
/// store-wide `clipping_worker_webhook_outbox_pending` is set when `/metrics` is scraped.)
struct DeliveryMetrics: Sendable {
    private let attempts: [EventKind: [AttemptOutcome: Counter]]
    private let finished: [EventKind: [DeliveryState: Counter]]
    private let durations: [EventKind: Metrics.Timer]
    let inFlight: Gauge
    let pausedOrigins: Gauge
    let evictedJobs: Gauge

    init(factory: any MetricsFactory) {
        var attempts = [EventKind: [AttemptOutcome: Counter]]()
        var finished = [EventKind: [DeliveryState: Counter]]()
        var durations = [EventKind: Metrics.Timer]()
        for kind in EventKind.allCases {
            for outcome in AttemptOutcome.allCases {
                attempts[kind, default: [:]][outcome] = Counter(
                    label: "clipping_worker_webhook_attempts_total",
                    dimensions: [("event", kind.rawValue), ("outcome", outcome.rawValue)], factory: factory)
            }
            for state in DeliveryState.allCases where state.isFinal {
                finished[kind, default: [:]][state] = Counter(
                    label: "clipping_worker_webhook_events_finished_total",
                    dimensions: [("event", kind.rawValue), ("state", state.rawValue)], factory: factory)
            }
            durations[kind] = Metrics.Timer(
                label: "clipping_worker_webhook_attempt_duration_seconds", dimensions: [("event", kind.rawValue)],
                preferredDisplayUnit: .seconds, factory: factory)
        }
        self.attempts = attempts
        self.finished = finished
        self.durations = durations
        inFlight = Gauge(label: "clipping_worker_webhook_in_flight", factory: factory)
        pausedOrigins = Gauge(label: "clipping_worker_webhook_origins_paused", factory: factory)
        evictedJobs = Gauge(label: "clipping_worker_webhook_jobs_evicted", factory: factory)
    }

    func setInFlight(_ value: Int) { inFlight.record(value) }
    func setPausedOrigins(_ value: Int) { pausedOrigins.record(value) }
    func setEvictedJobs(_ value: Int) { evictedJobs.record(value) }

    /// One report: an attempt (when it carries an attempt number), and the event's end (when the
    /// outcome is final).
    func count(_ kind: EventKind, _ outcome: AttemptOutcome, attempted: Bool) {
        if attempted { attempts[kind]?[outcome]?.increment() }
        if outcome != .retrying { finished[kind]?[outcome.state]?.increment() }
    }

    func attemptTook(_ kind: EventKind, _ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        durations[kind]?.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
