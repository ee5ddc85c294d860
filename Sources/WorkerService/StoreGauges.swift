import Metrics
import WebhookCore

/// Store-wide figures, read from the store when `/metrics` is scraped (not from one
/// dispatcher's memory, which knows only its own jobs):
///
/// | name | type |
/// |---|---|
/// | `clipping_worker_webhook_outbox_pending` | gauge: events pending in the store |
/// | `clipping_worker_webhook_oldest_pending_age_seconds` | gauge: age of the oldest pending event (0 with none): what a backlog alert watches |
struct StoreGauges: Sendable {
    private let pending: Gauge
    private let oldestAge: Gauge

    init(factory: any MetricsFactory) {
        pending = Gauge(label: "clipping_worker_webhook_outbox_pending", factory: factory)
        oldestAge = Gauge(label: "clipping_worker_webhook_oldest_pending_age_seconds", factory: factory)
    }

    /// Reads both figures; a store that cannot answer leaves the last values (readiness reports it).
    func refresh(from store: some OutboxReadModel, now: Timestamp) async {
        if let count = try? await store.pendingCount() { pending.record(count) }
        if let oldest = try? await store.oldestPendingCreatedAt() {
            oldestAge.record(Double(max(0, oldest.duration(to: now).wholeMilliseconds)) / 1000)
        } else {
            oldestAge.record(0)
        }
    }
}
