import Metrics
import WorkerCore

/// The runner's metrics (dimension values are constants):
///
/// | name | type | dimensions |
/// |---|---|---|
/// | `clipping_worker_jobs_finished_total` | counter | `status` (`completed`, `failed`, `cancelled`) |
/// | `clipping_worker_jobs_running` | gauge | |
/// | `clipping_worker_jobs_queued` | gauge: waiting for a slot in this process | |
struct JobMetrics: Sendable {
    let finished: [JobStatus: Counter]
    let running: Gauge
    let queued: Gauge

    init(factory: any MetricsFactory) {
        var finished = [JobStatus: Counter]()
        for status in [JobStatus.completed, .failed, .cancelled] {
            finished[status] = Counter(
                label: "clipping_worker_jobs_finished_total", dimensions: [("status", status.rawValue)], factory: factory)
        }
        self.finished = finished
        running = Gauge(label: "clipping_worker_jobs_running", factory: factory)
        queued = Gauge(label: "clipping_worker_jobs_queued", factory: factory)
    }
}
