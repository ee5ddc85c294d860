public import WebhookCore

/// A job this process claimed to run, with the events of it that were pending (another worker
/// left them when it died): the job lease covers both (SPEC section 8, "job lease = event lease").
public struct ClaimedRun: Sendable {
    public var job: JobRecord
    /// The job's lease and its pending events, for the dispatcher to take over.
    public var events: ClaimedJob

    public init(job: JobRecord, events: ClaimedJob) {
        self.job = job
        self.events = events
    }
}

/// How a runner gets jobs when several workers share one store (PostgreSQL): it claims queued
/// jobs, and jobs whose worker died, under the job's lease; it lets go of a run when it ends, and
/// it learns of runs it lost and of cancellations requested on other workers.
///
/// The embedded store has one owner and needs none of this: its runner takes every unfinished
/// job at start and each new one as it is submitted.
public protocol RunClaiming: Sendable {
    /// How often the runner renews its view: checks for lost runs and remote cancellations, and
    /// polls for claimable jobs when no wake-up came (a third of the lease).
    var maintenancePeriod: Duration { get }

    /// Claims up to `limit` unfinished jobs that no live lease holds (or that this process holds
    /// and does not run: `excluding` are the runs it has), oldest first. A claimed job is pinned:
    /// its lease is renewed and never released until ``endRun(_:)``.
    func claimRuns(limit: Int, excluding running: Set<String>) async throws(JobStoreError) -> [ClaimedRun]

    /// The run of `jobID` in this process ended (finished or interrupted): its lease may be
    /// released once its events need it no more.
    func endRun(_ jobID: String)

    /// Of `jobIDs` (runs of this process), those whose lease another worker holds now.
    func lostRuns(among jobIDs: Set<String>) -> Set<String>

    /// Of `jobIDs`, those whose cancellation was requested (through any worker).
    func cancelRequested(among jobIDs: [String]) async throws(JobStoreError) -> Set<String>
}
