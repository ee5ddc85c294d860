import Metrics
import WorkerCore

/// The runner's metrics (dimension values are constants):
///
/// | name | type | dimensions |
/// |---|---|---|
/// | `clipping_worker_jobs_finished_total` | counter | `status` (`completed`, `failed`, `cancelled`) |
/// | `clipping_worker_jobs_running` | gauge | |
/// | `clipping_worker_jobs_queued` | gauge: waiting for a slot in this process | |
/// | `clipping_worker_job_stage_duration_seconds` | histogram | `stage` (`downloading` … `uploading`) |
struct JobMetrics: Sendable {
    /// The stage histogram's label: the worker gives it buckets from 0.1 s to an hour, since
    /// stages take seconds to many minutes, not the sub-millisecond default.
    static let stageDurationLabel = "clipping_worker_job_stage_duration_seconds"
    static let stages: [JobStatus] = [.downloading, .transcribing, .planning, .detecting, .rendering, .uploading]

    let finished: [JobStatus: Counter]
    let running: Gauge
    let queued: Gauge
    let stageDuration: [JobStatus: Metrics.Timer]

    init(factory: any MetricsFactory) {
        var finished = [JobStatus: Counter]()
        for status in [JobStatus.completed, .failed, .cancelled] {
            finished[status] = Counter(
                label: "clipping_worker_jobs_finished_total", dimensions: [("status", status.rawValue)], factory: factory)
        }
        self.finished = finished
        running = Gauge(label: "clipping_worker_jobs_running", factory: factory)
        queued = Gauge(label: "clipping_worker_jobs_queued", factory: factory)
        var stageDuration = [JobStatus: Metrics.Timer]()
        for stage in Self.stages {
            stageDuration[stage] = Metrics.Timer(
                label: Self.stageDurationLabel, dimensions: [("stage", stage.rawValue)], factory: factory)
        }
        self.stageDuration = stageDuration
    }
}
