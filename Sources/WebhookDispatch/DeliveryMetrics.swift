import Metrics
import WebhookCore

/// The dispatcher's metrics. Labels and dimension values are constants (event type, outcome),
/// never ids or URLs. Handles are made once, not per delivery.
///
/// | name | type | dimensions |
/// |---|---|---|
/// | `clipping_worker_webhook_deliveries_total` | counter | `event`, `outcome` |
/// | `clipping_worker_webhook_attempt_duration_seconds` | timer | `event` |
/// | `clipping_worker_webhook_outbox_pending` | gauge | |
/// | `clipping_worker_webhook_in_flight` | gauge | |
/// | `clipping_worker_webhook_origins_paused` | gauge | |
struct DeliveryMetrics: Sendable {
    private let outcomes: [EventKind: [AttemptOutcome: Counter]]
    private let durations: [EventKind: Metrics.Timer]
    let pending: Gauge
    let inFlight: Gauge
    let pausedOrigins: Gauge

    init(factory: any MetricsFactory) {
        var outcomes = [EventKind: [AttemptOutcome: Counter]]()
        var durations = [EventKind: Metrics.Timer]()
        for kind in EventKind.allCases {
            for outcome in AttemptOutcome.allCases {
                outcomes[kind, default: [:]][outcome] = Counter(
                    label: "clipping_worker_webhook_deliveries_total",
                    dimensions: [("event", kind.rawValue), ("outcome", outcome.rawValue)], factory: factory)
            }
            durations[kind] = Metrics.Timer(
                label: "clipping_worker_webhook_attempt_duration_seconds", dimensions: [("event", kind.rawValue)],
                preferredDisplayUnit: .seconds, factory: factory)
        }
        self.outcomes = outcomes
        self.durations = durations
        pending = Gauge(label: "clipping_worker_webhook_outbox_pending", factory: factory)
        inFlight = Gauge(label: "clipping_worker_webhook_in_flight", factory: factory)
        pausedOrigins = Gauge(label: "clipping_worker_webhook_origins_paused", factory: factory)
    }

    func setPending(_ value: Int) { pending.record(value) }
    func setInFlight(_ value: Int) { inFlight.record(value) }
    func setPausedOrigins(_ value: Int) { pausedOrigins.record(value) }

    func count(_ kind: EventKind, _ outcome: AttemptOutcome) {
        outcomes[kind]?[outcome]?.increment()
    }

    func attemptTook(_ kind: EventKind, _ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        durations[kind]?.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
