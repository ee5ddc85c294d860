import Foundation
import OutboxSQLite
import Testing
import WebhookCore
import WorkerCore

/// Jobs on a real SQLite file, sharing the outbox's transactions.
@Suite(.timeLimit(.minutes(1)))
struct SQLiteJobStoreTests {
    let path = NSTemporaryDirectory() + "jobs-\(UUID().uuidString).sqlite"
    let t0 = Timestamp(milliseconds: 1_700_000_000_000)

    func spec(_ video: String = "https://e.com/v.mp4") -> JobSpec {
        JobSpec(
            videoURL: video, callbackURL: "https://hooks.e.com/h", externalJobID: "ext", ownerUserID: nil, maxClips: 3,
            minClipDurationSeconds: 15, maxClipDurationSeconds: 60, durationRanges: [ClipDurationRange(lower: 15, upper: 30)],
            targetPlatform: .youtubeShorts, includeCaptions: true, captionStyleJSON: #"{"a":1}"#)
    }

    @Test func createsReadsAndSurvivesReopening() async throws {
        let id: String
        do {
            let outbox = try SQLiteOutboxStore(path: path)
            let jobs = SQLiteJobStore(outbox: outbox)
            let (job, created) = try await jobs.create(spec(), idempotencyKey: nil, requestDigest: "d1", maxQueued: nil, at: t0)
            #expect(created)
            #expect(job.id.hasPrefix("job_") && job.id.count == 30)
            #expect(job.status == .queued)
            id = job.id
            outbox.close()
        }
        let jobs = SQLiteJobStore(outbox: try SQLiteOutboxStore(path: path))
        let read = try #require(try await jobs.job(id))
        #expect(read.spec == spec())
        #expect(read.createdAt == t0)
        #expect(try await jobs.job("job_missing") == nil)
    }

    @Test func idempotencyKeyReturnsTheSameJobOrConflicts() async throws {
        let jobs = SQLiteJobStore(outbox: try SQLiteOutboxStore(path: path))
        let first = try await jobs.create(spec(), idempotencyKey: "key-1", requestDigest: "d1", maxQueued: nil, at: t0)
        let again = try await jobs.create(spec(), idempotencyKey: "key-1", requestDigest: "d1", maxQueued: nil, at: t0.advanced(by: .seconds(5)))
        #expect(first.created && !again.created)
        #expect(first.job.id == again.job.id)
        await #expect(throws: JobStoreError.self) {
            try await jobs.create(spec("https://e.com/other.mp4"), idempotencyKey: "key-1", requestDigest: "d2", maxQueued: nil, at: t0)
        }
        let other = try await jobs.create(spec(), idempotencyKey: "key-2", requestDigest: "d1", maxQueued: nil, at: t0)
        #expect(other.job.id != first.job.id)
    }

    @Test func jobStateCommitsWithItsEvent() async throws {
        let outbox = try SQLiteOutboxStore(path: path)
        let jobs = SQLiteJobStore(outbox: outbox)
        let job = try await jobs.create(spec(), idempotencyKey: nil, requestDigest: "d", maxQueued: nil, at: t0).job
        let update = JobStateUpdate(jobID: job.id, status: .rendering, progressPercent: 60, currentStep: "Rendering clip 2/3...", clipsCompleted: 1, totalClips: 3)
        let draft = try EventDraft(
            kind: .progress, callbackURL: "https://hooks.e.com/h",
            snapshot: JobSnapshot(timestamp: t0, jobID: job.id, status: .rendering, progressPercent: 60, currentStep: "Rendering clip 2/3..."))
        // The job's state and its event commit together, through the job store.
        let events = try await jobs.record(update, appending: [draft], at: t0.advanced(by: .seconds(1)))
        #expect(events.count == 1)
        let read = try #require(try await jobs.job(job.id))
        #expect(read.status == .rendering && read.progressPercent == 60 && read.clipsCompleted == 1 && read.totalClips == 3)
        #expect(read.updatedAt == t0.advanced(by: .seconds(1)))
        // Alone (throttled): the job moves, no event is stored.
        _ = try await jobs.record(
            JobStateUpdate(jobID: job.id, status: .uploading, progressPercent: 90, currentStep: "Uploading"), appending: [], at: t0)
        #expect(try await jobs.job(job.id)?.status == .uploading)
        #expect(try await outbox.pendingCount() == 1)
        #expect(try await jobs.unfinishedJobs().map(\.id) == [job.id])
    }

    @Test func finishedJobsAreNotRewrittenAndCancelMarksOnlyUnfinished() async throws {
        let outbox = try SQLiteOutboxStore(path: path)
        let jobs = SQLiteJobStore(outbox: outbox)
        let job = try await jobs.create(spec(), idempotencyKey: nil, requestDigest: "d", maxQueued: nil, at: t0).job
        #expect(try await jobs.requestCancel(job.id, at: t0)?.cancelRequested == true)
        _ = try await jobs.record(
            JobStateUpdate(jobID: job.id, status: .cancelled, progressPercent: 10, currentStep: "Cancelled", error: "cancelled"),
            appending: [], at: t0)
        _ = try await jobs.record(
            JobStateUpdate(jobID: job.id, status: .rendering, progressPercent: 50, currentStep: "late update"), appending: [], at: t0)
        let read = try #require(try await jobs.job(job.id))
        #expect(read.status == .cancelled && read.error == "cancelled")
        #expect(try await jobs.unfinishedJobs().isEmpty)
        #expect(try await jobs.requestCancel("job_unknown", at: t0) == nil)
    }
}

extension SQLiteJobStoreTests {
    /// Retention (SPEC section 7): finished jobs older than the cutoff go with their events and
    /// attempts; recent ones, unfinished ones and any job with a pending event stay.
    @Test func retentionDeletesOnlyOldFinishedJobsWithoutPendingEvents() async throws {
        let outbox = try SQLiteOutboxStore(path: path)
        let jobs = SQLiteJobStore(outbox: outbox)
        func draft(_ job: String, _ kind: EventKind) -> EventDraft {
            EventDraft(kind: kind, jobID: job, callbackURL: "https://hooks.e.com/h", encodedSnapshot: Array("{}".utf8))
        }
        func finish(_ id: String, at time: Timestamp, delivered: Bool) async throws {
            let events = try await jobs.record(
                JobStateUpdate(jobID: id, status: .completed, progressPercent: 100, currentStep: "Completed"),
                appending: [draft(id, .completed)], at: time)
            if delivered {
                try await outbox.apply([
                    .attempted(events[0].id, AttemptRecord(attempt: 1, startedAt: time, durationMs: 1, statusCode: 204, error: nil, outcome: .delivered), nextAttemptAt: nil)
                ])
            }
        }
        let old = try await jobs.create(spec(), idempotencyKey: nil, requestDigest: "a", maxQueued: nil, at: t0).job.id
        let oldPending = try await jobs.create(spec(), idempotencyKey: nil, requestDigest: "b", maxQueued: nil, at: t0).job.id
        let recent = try await jobs.create(spec(), idempotencyKey: nil, requestDigest: "c", maxQueued: nil, at: t0).job.id
        let running = try await jobs.create(spec(), idempotencyKey: nil, requestDigest: "d", maxQueued: nil, at: t0).job.id
        try await finish(old, at: t0, delivered: true)
        try await finish(oldPending, at: t0, delivered: false)
        try await finish(recent, at: t0.advanced(by: .seconds(7200)), delivered: true)
        let cutoff = t0.advanced(by: .seconds(3600))
        #expect(try await jobs.deleteFinishedJobs(before: cutoff, limit: 10) == [old])
        #expect(try await jobs.job(old) == nil)
        #expect(try await outbox.histories(ofJob: old).isEmpty)
        for kept in [oldPending, recent, running] { #expect(try await jobs.job(kept) != nil) }
        #expect(try await outbox.histories(ofJob: oldPending).map(\.event.state) == [.pending])
        #expect(try await jobs.deleteFinishedJobs(before: cutoff, limit: 10).isEmpty)
    }
}
