import Foundation
import Testing
import WebhookCore
import WorkerCore

/// One suite for the store protocols (`OutboxStore`, `OutboxReadModel`, `JobStore`), run against
/// the embedded SQLite store and the shared PostgreSQL store alike: the dispatcher and the
/// pipeline rely on these behaviours without knowing which store they run on.
///
/// Where the two legitimately differ, the test says so: SQLite is the single-owner store (leases
/// never lapse, nothing is fenced, every pending job is claimable at once), PostgreSQL hands out
/// due work under leases and fences stale writers (those rows are in `PostgresLeaseTests`).
@Suite(.timeLimit(.minutes(2)))
struct StoreConformanceTests {
    typealias S = Sample

    // MARK: - Append

    @Test(arguments: StoreKind.underTest)
    func appendAssignsGaplessSequencesPerJobWithExactBodies(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            let first = try await store.outbox.append([S.draft(.started), S.draft(), S.draft(job: "job-2")], at: t0)
            #expect(first.map(\.sequence) == [1, 2, 1])
            #expect(first.allSatisfy { $0.state == .pending && $0.body != nil && $0.createdAt == t0 })
            let next = try await store.outbox.append([S.draft(), S.draft(.completed)], at: t0)
            #expect(next.map(\.sequence) == [3, 4])
            #expect(try await store.outbox.pendingCount() == 5)
            let body = try await store.outbox.body(of: next[1].id)
            #expect(body == next[1].body)
            #expect(
                String(decoding: body, as: UTF8.self)
                    == "{\"event\":\"job.completed\",\"event_id\":\"\(next[1].id)\",\"sequence\":4,\"job_id\":\"job-1\"}")
            await #expect(throws: OutboxError.self) { try await store.outbox.body(of: EventID.generate(at: t0)) }
        }
    }

    @Test(arguments: StoreKind.underTest)
    func progressAfterTheTerminalEventIsNeverStored(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            // In one append: the progress after the terminal draft is coalesced away.
            let stored = try await store.outbox.append([S.draft(.started), S.draft(.failed), S.draft()], at: t0)
            #expect(stored.map(\.kind) == [.started, .failed])
            #expect(stored.map(\.sequence) == [1, 2])
            // Later, from anywhere: still refused, durably (no row, no sequence).
            #expect(try await store.outbox.append([S.draft(), S.draft(.started)], at: t0).isEmpty)
            // A second terminal event is stored (an operator-visible fact), sequence continuing.
            let again = try await store.outbox.append([S.draft(.completed)], at: t0)
            #expect(again.map(\.sequence) == [3])
            #expect(try await store.outbox.histories(ofJob: "job-1").map(\.event.sequence) == [1, 2, 3])
        }
    }

    @Test(arguments: StoreKind.underTest)
    func aGoneCallbackEndsTheJobsLaterEventsAtOnce(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            let first = try await store.outbox.append([S.draft(.started)], at: t0)
            try await store.outbox.apply([
                .attempted(first[0].id, S.attempt(1, .failed, at: t0, status: 410), nextAttemptAt: nil),
                .callbackGone(jobID: "job-1", at: t0),
            ])
            let later = try await store.outbox.append([S.draft(), S.draft(.completed)], at: t0)
            #expect(later.map(\.state) == [.dropped, .failed])
            #expect(later.map(\.sequence) == [2, 3])
            let history = try #require(try await store.outbox.history(of: later[1].id))
            #expect(history.finalReason == "callback gone (410)")
            #expect(try await store.outbox.pendingCount() == 0)
            // Other jobs are not touched.
            #expect(try await store.outbox.append([S.draft(job: "job-2")], at: t0).map(\.state) == [.pending])
        }
    }

    /// What the dispatcher reads back for jobs whose queues it gave up behind a paused origin.
    @Test(arguments: StoreKind.underTest)
    func pendingEventsOfHeldJobsComeBackInSequenceOrderWithTheirJobsFacts(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            let one = try await store.outbox.append([S.draft(.started), S.draft(), S.draft()], at: t0)
            let two = try await store.outbox.append([S.draft(job: "job-2"), S.draft(.completed, job: "job-2")], at: t0)
            try await store.outbox.apply([
                .attempted(one[0].id, S.attempt(1, .delivered, at: t0, status: 204), nextAttemptAt: nil),
                .attempted(one[1].id, S.attempt(1, .retrying, at: t0), nextAttemptAt: t0.advanced(by: .seconds(5))),
            ])
            let read = try await store.outbox.pendingEvents(ofJobs: ["job-1", "job-2", "no-such-job"])
            #expect(Set(read.keys) == ["job-1", "job-2"])
            let first = try #require(read["job-1"])
            #expect(first.map(\.id) == [one[1].id, one[2].id])
            #expect(first.allSatisfy { $0.body == nil && $0.state == .pending && !$0.jobTerminalStored })
            // The retried event with its attempt and next time; the job's highest attempted sequence.
            #expect(first[0].attempts == 1 && first[0].nextAttemptAt == t0.advanced(by: .seconds(5)))
            #expect(first.allSatisfy { $0.jobHighestAttemptedSequence == 2 })
            let second = try #require(read["job-2"])
            #expect(second.map(\.sequence) == [1, 2] && second.map(\.id) == two.map(\.id))
            #expect(second.allSatisfy { $0.jobTerminalStored })
            #expect(try await store.outbox.pendingEvents(ofJobs: []).isEmpty)
        }
    }

    // MARK: - Apply

    @Test(arguments: StoreKind.underTest)
    func applyRecordsAttemptsAndStatesInOrder(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            let events = try await store.outbox.append([S.draft(), S.draft(.completed), S.draft(job: "job-2")], at: t0)
            let retryAt = t0.advanced(by: .seconds(5))
            // One batch: two records of one event (retrying, then delivered), a final decision
            // without an attempt, and a first-try success of another job.
            try await store.outbox.apply([
                .attempted(events[1].id, S.attempt(1, .retrying, at: t0), nextAttemptAt: retryAt),
                .finished(events[0].id, .superseded, reason: "superseded by job.completed", at: t0),
                .attempted(events[1].id, S.attempt(2, .delivered, at: retryAt, status: 204), nextAttemptAt: nil),
                .attempted(events[2].id, S.attempt(1, .delivered, at: t0, status: 200), nextAttemptAt: nil),
            ])
            let terminal = try #require(try await store.outbox.history(of: events[1].id))
            #expect(terminal.event.state == .delivered)
            #expect(terminal.event.attempts == 2)
            #expect(terminal.event.seriesAttempts == 2)
            #expect(terminal.event.nextAttemptAt == retryAt)
            #expect(terminal.attempts.map(\.attempt) == [1, 2])
            #expect(terminal.attempts.map(\.outcome) == [.retrying, .delivered])
            #expect(terminal.attempts[0] == S.attempt(1, .retrying, at: t0))
            #expect(terminal.attempts[1].statusCode == 204 && terminal.attempts[1].error == nil)
            #expect(terminal.lastStatusCode == 204)
            #expect(terminal.finalReason == nil)
            #expect(terminal.event.body == events[1].body)
            let superseded = try #require(try await store.outbox.history(of: events[0].id))
            #expect(superseded.event.state == .superseded)
            #expect(superseded.finalReason == "superseded by job.completed")
            #expect(superseded.attempts.isEmpty)
            #expect(try await store.outbox.history(of: events[2].id)?.event.state == .delivered)
            #expect(try await store.outbox.pendingCount() == 0)
            #expect(try await store.outbox.oldestPendingCreatedAt() == nil)
        }
    }

    @Test(arguments: StoreKind.underTest)
    func aFailedAttemptKeepsItsErrorAsTheFinalReason(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            let event = try await store.outbox.append([S.draft()], at: t0)[0]
            try await store.outbox.apply([
                .attempted(event.id, S.attempt(1, .retrying, at: t0), nextAttemptAt: t0.advanced(by: .seconds(1))),
                .attempted(event.id, S.attempt(2, .retrying, at: t0), nextAttemptAt: t0.advanced(by: .seconds(2))),
                .attempted(event.id, S.attempt(3, .dropped, at: t0, status: nil), nextAttemptAt: nil),
            ])
            let history = try #require(try await store.outbox.history(of: event.id))
            #expect(history.event.state == .dropped)
            #expect(history.attempts.map(\.attempt) == [1, 2, 3])
            #expect(history.finalReason == "HTTP 0")
            #expect(history.lastStatusCode == nil)
            #expect(history.event.nextAttemptAt == t0.advanced(by: .seconds(2)))
        }
    }

    // MARK: - Redelivery

    @Test(arguments: StoreKind.underTest)
    func redeliveryStartsANewSeriesWithTheSameIdAndBody(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            let event = try await store.outbox.append([S.draft(.completed)], at: t0)[0]
            try await store.outbox.apply([.attempted(event.id, S.attempt(1, .failed, at: t0, status: 400), nextAttemptAt: nil)])
            let later = t0.advanced(by: .seconds(60))
            let redelivered = try await store.outbox.redeliver(event.id, at: later)
            #expect(redelivered.id == event.id)
            #expect(redelivered.body == event.body)
            #expect(redelivered.state == .pending)
            #expect(redelivered.redelivered)
            #expect(redelivered.seriesStartedAt == later && redelivered.nextAttemptAt == later)
            #expect(redelivered.seriesAttempts == 0)
            #expect(redelivered.attempts == 1)
            #expect(try await store.outbox.history(of: event.id)?.finalReason == nil)
            #expect(try await store.outbox.pendingCount() == 1)
            // A restarted series recorded by the dispatcher (redelivery of an event in flight).
            try await store.outbox.apply([
                .attempted(event.id, S.attempt(2, .failed, at: later, status: 400), nextAttemptAt: nil),
                .seriesRestarted(event.id, at: later.advanced(by: .seconds(1))),
            ])
            let restarted = try #require(try await store.outbox.history(of: event.id))
            #expect(restarted.event.state == .pending)
            #expect(restarted.event.seriesStartedAt == later.advanced(by: .seconds(1)))
            #expect(restarted.event.seriesAttempts == 0)
            #expect(restarted.attempts.count == 2)
            await #expect(throws: OutboxError.self) { try await store.outbox.redeliver(EventID.generate(at: t0), at: t0) }
        }
    }

    // MARK: - Claims and leases

    @Test(arguments: StoreKind.underTest)
    func anotherOwnerClaimsWhatADeadOneLeftPendingOnce(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            let a = try await store.outbox.append([S.draft(.started, job: "a"), S.draft(job: "a"), S.draft(job: "a")], at: t0)
            _ = try await store.outbox.append([S.draft(.completed, job: "b")], at: t0)
            let c = try await store.outbox.append([S.draft(.completed, job: "c")], at: t0)
            try await store.outbox.apply([
                .attempted(a[0].id, S.attempt(1, .delivered, at: t0, status: 200), nextAttemptAt: nil),
                .attempted(c[0].id, S.attempt(1, .delivered, at: t0, status: 200), nextAttemptAt: nil),
            ])
            let successor = try await store.successor()
            // Pages of one job: every pending job is handed out once.
            var claimed = [ClaimedJob]()
            while true {
                let page = try await successor.claimJobs(limit: 1, at: t0)
                if page.isEmpty { break }
                #expect(page.count == 1)
                claimed += page
            }
            #expect(Set(claimed.map(\.lease.jobID)) == ["a", "b"])
            let jobA = try #require(claimed.first { $0.lease.jobID == "a" })
            #expect(jobA.events.map(\.sequence) == [2, 3])
            #expect(jobA.events.allSatisfy { $0.body == nil && !$0.jobTerminalStored && $0.jobHighestAttemptedSequence == 1 })
            let jobB = try #require(claimed.first { $0.lease.jobID == "b" })
            #expect(jobB.events.map(\.kind) == [.completed])
            #expect(jobB.events[0].jobTerminalStored)
            #expect(jobB.events[0].jobHighestAttemptedSequence == 0)
            // The holder keeps them: renewals lose nothing, the body is still there.
            #expect(try await successor.renewLeases(claimed.map(\.lease), at: t0).isEmpty)
            #expect(try await successor.body(of: jobA.events[0].id) == a[1].body)
            // Its writes are taken (it holds the jobs).
            try await successor.apply([
                .attempted(jobA.events[0].id, S.attempt(1, .delivered, at: t0, status: 200), nextAttemptAt: nil)
            ])
            #expect(try await successor.history(of: jobA.events[0].id)?.event.state == .delivered)
        }
    }

    @Test(arguments: StoreKind.underTest)
    func aReleasedJobIsClaimedAgainWhenItHasDueEvents(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            let event = try await store.outbox.append([S.draft(.completed, job: "r")], at: t0)[0]
            let successor = try await store.successor()
            let lease = try #require(try await successor.claimJobs(limit: 10, at: t0).first?.lease)
            // Delivered: nothing pending, the lease is given up...
            try await successor.apply([.attempted(event.id, S.attempt(1, .delivered, at: t0, status: 200), nextAttemptAt: nil)])
            try await successor.releaseLease(lease)
            #expect(try await successor.claimJobs(limit: 10, at: t0).isEmpty)
            // ...and an operator's redelivery makes the job due again: its redeliverer holds it.
            let redelivered = try await successor.redeliver(event.id, at: t0)
            #expect(redelivered.state == .pending)
            try await successor.apply([
                .attempted(event.id, S.attempt(2, .delivered, at: t0, status: 200), nextAttemptAt: nil)
            ])
            #expect(try await successor.history(of: event.id)?.attempts.count == 2)
            // Delivered again: whatever becomes of the claim's old lease (SQLite frees the job,
            // PostgreSQL ignores it: the redelivery took the job at a new epoch), nothing is claimable.
            try await successor.releaseLease(lease)
            #expect(try await successor.claimJobs(limit: 10, at: t0).isEmpty)
        }
    }

    // MARK: - Read models

    @Test(arguments: StoreKind.underTest)
    func readModelsShowNewestEventHistoriesAndTheBacklog(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            #expect(try await store.outbox.newestEvent(ofJob: "job-1") == nil)
            #expect(try await store.outbox.histories(ofJob: "job-1").isEmpty)
            #expect(try await store.outbox.history(of: EventID.generate(at: t0)) == nil)
            let older = try await store.outbox.append([S.draft(.started)], at: t0)[0]
            let t1 = t0.advanced(by: .seconds(3))
            let newer = try await store.outbox.append([S.draft(), S.draft(.completed)], at: t1)
            try await store.outbox.apply([
                .attempted(older.id, S.attempt(1, .retrying, at: t0), nextAttemptAt: t1),
                .attempted(older.id, S.attempt(2, .delivered, at: t1, status: 202), nextAttemptAt: nil),
            ])
            let newest = try #require(try await store.outbox.newestEvent(ofJob: "job-1"))
            #expect(newest.event.id == newer[1].id && newest.event.sequence == 3)
            #expect(newest.event.body == nil && newest.attempts.isEmpty)
            let histories = try await store.outbox.histories(ofJob: "job-1")
            #expect(histories.map(\.event.sequence) == [1, 2, 3])
            #expect(histories.allSatisfy { $0.event.body == nil })
            #expect(histories[0].attempts.map(\.statusCode) == [503, 202])
            #expect(histories[0].lastStatusCode == 202)
            #expect(try await store.outbox.pendingCount() == 2)
            #expect(try await store.outbox.oldestPendingCreatedAt() == t1)
        }
    }

    // MARK: - Jobs

    @Test(arguments: StoreKind.underTest)
    func jobsAreCreatedOnceByIdempotencyKeyAndBoundedByTheQueue(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            let (job, created) = try await store.jobs.create(S.spec(), idempotencyKey: "k1", requestDigest: "d1", maxQueued: 2, at: t0)
            #expect(created && job.status == .queued && job.id.hasPrefix("job_"))
            let read = try #require(try await store.jobs.job(job.id))
            #expect(read.spec == S.spec() && read.createdAt == t0 && read.currentStep == "Queued")
            let again = try await store.jobs.create(S.spec(), idempotencyKey: "k1", requestDigest: "d1", maxQueued: 2, at: t0)
            #expect(!again.created && again.job.id == job.id)
            await #expect(throws: JobStoreError.self) {
                try await store.jobs.create(S.spec(), idempotencyKey: "k1", requestDigest: "other", maxQueued: 2, at: t0)
            }
            _ = try await store.jobs.create(S.spec(), idempotencyKey: nil, requestDigest: "d2", maxQueued: 2, at: t0)
            do throws(JobStoreError) {
                _ = try await store.jobs.create(S.spec(), idempotencyKey: nil, requestDigest: "d3", maxQueued: 2, at: t0)
                Issue.record("a third queued job was accepted with maxQueued 2")
            } catch {
                #expect(error.code == .queueFull)
            }
            // The repeated idempotent request is never refused, even with the queue full.
            #expect(try await store.jobs.create(S.spec(), idempotencyKey: "k1", requestDigest: "d1", maxQueued: 2, at: t0).job.id == job.id)
            #expect(try await store.jobs.unfinishedJobs().count == 2)
            #expect(try await store.jobs.job("job_missing") == nil)
        }
    }

    @Test(arguments: StoreKind.underTest)
    func aJobsStateAndItsEventsCommitTogether(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            let job = try await store.jobs.create(S.spec(), idempotencyKey: nil, requestDigest: "d", maxQueued: nil, at: t0).job
            let events = try await store.jobs.record(
                JobStateUpdate(jobID: job.id, status: .downloading, progressPercent: 5, currentStep: "Downloading"),
                appending: [S.draft(.started, job: job.id)], at: t0)
            #expect(events.map(\.sequence) == [1])
            #expect(try await store.jobs.job(job.id)?.status == .downloading)
            // State alone (a throttled update), then the end with its terminal event.
            _ = try await store.jobs.record(
                JobStateUpdate(jobID: job.id, status: .rendering, progressPercent: 60, currentStep: "Rendering"),
                appending: [], at: t0)
            #expect(try await store.jobs.job(job.id)?.progressPercent == 60)
            let done = try await store.jobs.record(
                JobStateUpdate(
                    jobID: job.id, status: .completed, progressPercent: 100, currentStep: "Done", outputJSON: #"{"ok":true}"#),
                appending: [S.draft(.completed, job: job.id)], at: t0.advanced(by: .seconds(1)))
            #expect(done.map(\.sequence) == [2])
            let finished = try #require(try await store.jobs.job(job.id))
            #expect(finished.status == .completed && finished.outputJSON == #"{"ok":true}"#)
            #expect(finished.updatedAt == t0.advanced(by: .seconds(1)))
            // A finished job is never rewritten, and its progress is no longer stored.
            let late = try await store.jobs.record(
                JobStateUpdate(jobID: job.id, status: .rendering, progressPercent: 70, currentStep: "Rendering"),
                appending: [S.draft(job: job.id)], at: t0)
            #expect(late.isEmpty)
            #expect(try await store.jobs.job(job.id)?.status == .completed)
            #expect(try await store.jobs.unfinishedJobs().isEmpty)
        }
    }

    @Test(arguments: StoreKind.underTest)
    func cancelIsRequestedOnUnfinishedJobsOnly(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            let job = try await store.jobs.create(S.spec(), idempotencyKey: nil, requestDigest: "d", maxQueued: nil, at: t0).job
            let cancelled = try #require(try await store.jobs.requestCancel(job.id, at: t0))
            #expect(cancelled.cancelRequested)
            #expect(try await store.jobs.requestCancel("job_missing", at: t0) == nil)
        }
    }

    // MARK: - Retention

    @Test(arguments: StoreKind.underTest)
    func retentionDeletesFinishedJobsWithNothingPendingInBatches(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            var finished = [String]()
            for index in 0..<3 {
                let job = try await store.jobs.create(S.spec(), idempotencyKey: nil, requestDigest: "d\(index)", maxQueued: nil, at: t0).job
                let events = try await store.jobs.record(
                    JobStateUpdate(jobID: job.id, status: .completed, progressPercent: 100, currentStep: "Done"),
                    appending: [S.draft(.started, job: job.id), S.draft(.completed, job: job.id)], at: t0)
                try await store.outbox.apply([
                    .attempted(events[0].id, S.attempt(1, .retrying, at: t0), nextAttemptAt: t0),
                    .attempted(events[0].id, S.attempt(2, .delivered, at: t0, status: 200), nextAttemptAt: nil),
                    .attempted(events[1].id, S.attempt(1, .delivered, at: t0, status: 200), nextAttemptAt: nil),
                ])
                finished.append(job.id)
            }
            // Finished but its terminal event still pending: kept.
            let waiting = try await store.jobs.create(S.spec(), idempotencyKey: nil, requestDigest: "w", maxQueued: nil, at: t0).job
            _ = try await store.jobs.record(
                JobStateUpdate(jobID: waiting.id, status: .failed, progressPercent: 10, currentStep: "Failed", error: "x"),
                appending: [S.draft(.failed, job: waiting.id)], at: t0)
            // Not finished: kept.
            let running = try await store.jobs.create(S.spec(), idempotencyKey: nil, requestDigest: "r", maxQueued: nil, at: t0).job
            let cutoff = t0.advanced(by: .seconds(1))
            #expect(try await store.jobs.deleteFinishedJobs(before: t0, limit: 10).isEmpty)
            let firstBatch = try await store.jobs.deleteFinishedJobs(before: cutoff, limit: 2)
            #expect(firstBatch.count == 2)
            let secondBatch = try await store.jobs.deleteFinishedJobs(before: cutoff, limit: 10)
            #expect(Set(firstBatch + secondBatch) == Set(finished))
            #expect(try await store.jobs.deleteFinishedJobs(before: cutoff, limit: 10).isEmpty)
            for id in finished {
                #expect(try await store.jobs.job(id) == nil)
                #expect(try await store.outbox.histories(ofJob: id).isEmpty)
            }
            #expect(try await store.jobs.job(waiting.id) != nil)
            #expect(try await store.outbox.histories(ofJob: waiting.id).count == 1)
            #expect(try await store.jobs.job(running.id) != nil)
        }
    }

    // MARK: - Health

    @Test(arguments: StoreKind.underTest)
    func aReachableStoreIsReady(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            #expect(await store.outbox.health() == .ready)
        }
    }
}
