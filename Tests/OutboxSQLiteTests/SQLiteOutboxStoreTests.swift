import Foundation
import GRDB
import OutboxSQLite
import Testing
import WebhookCore

/// The outbox on a real SQLite file in a temporary folder.
@Suite(.timeLimit(.minutes(1)))
struct SQLiteOutboxStoreTests {
    let path = NSTemporaryDirectory() + "outbox-\(UUID().uuidString).sqlite"
    let t0 = Timestamp(milliseconds: 1_700_000_000_000)

    func draft(_ kind: EventKind = .progress, job: String = "job-1") -> EventDraft {
        EventDraft(kind: kind, jobID: job, callbackURL: "https://example.com/hook", encodedSnapshot: Array("{\"job_id\":\"\(job)\"}".utf8))
    }

    @Test func usesFullSynchronousModeByDefault() async throws {
        let store = try SQLiteOutboxStore(path: path)
        #expect(try await store.synchronousSetting() == 2)
        let normal = try SQLiteOutboxStore(path: path + "-n", durability: .normal)
        #expect(try await normal.synchronousSetting() == 1)
    }

    @Test func assignsGaplessSequencesPerJobAndSurvivesReopening() async throws {
        do {
            let store = try SQLiteOutboxStore(path: path)
            let first = try await store.append([draft(), draft(), draft(job: "job-2")], at: t0)
            #expect(first.map(\.sequence) == [1, 2, 1])
            #expect(first.allSatisfy { $0.state == .pending && $0.body != nil })
            store.close()
        }
        let reopened = try SQLiteOutboxStore(path: path)
        let next = try await reopened.append([draft(), draft(.completed)], at: t0)
        #expect(next.map(\.sequence) == [3, 4])
        #expect(try await reopened.pendingCount() == 5)
        let body = try await reopened.body(of: next[1].id)
        #expect(String(decoding: body, as: UTF8.self).hasPrefix("{\"event\":\"job.completed\",\"event_id\":\"\(next[1].id)\",\"sequence\":4,"))
    }

    @Test func concurrentAppendsShareCommitsAndKeepSequencesUnique() async throws {
        let store = try SQLiteOutboxStore(path: path)
        let before = store.committedTransactions
        let stored = try await withThrowingTaskGroup(of: [OutboxEvent].self) { group in
            for index in 0..<400 {
                group.addTask { try await store.append([draft(job: "job-\(index % 4)")], at: t0) }
            }
            var all = [OutboxEvent]()
            for try await events in group { all += events }
            return all
        }
        #expect(stored.count == 400)
        for job in 0..<4 {
            let sequences = stored.filter { $0.jobID == "job-\(job)" }.map(\.sequence).sorted()
            #expect(sequences == Array(1...100))
        }
        #expect(Set(stored.map(\.id)).count == 400)
        // Shared commits: 400 concurrent appends cannot each have had a transaction of their own
        // (one fsync per commit costs ~0.3 ms; the appends arrive faster than that).
        let commits = store.committedTransactions - before
        #expect(commits >= 1 && commits < 400)
    }

    /// The event insert and the first-attempt update bind through the SQLite C API
    /// (DirectStatement): a row the database refuses fails that append alone, with the
    /// database's reason, while the others of its shared commit are stored.
    @Test func aRefusedInsertFailsItsAppendAloneWithTheDatabasesReason() async throws {
        let store = try SQLiteOutboxStore(path: path)
        _ = try await store.append([draft()], at: t0)
        // A trigger refuses one job's events (the database speaking, as a full disk would).
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: """
                CREATE TRIGGER refuse_job BEFORE INSERT ON webhook_events WHEN NEW.job_id = 'refused'
                BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
                """)
        }
        try queue.close()
        let outcomes = await withTaskGroup(of: (String, Result<[OutboxEvent], OutboxError>).self) { group in
            for job in ["job-1", "refused", "job-2", "job-1"] {
                group.addTask {
                    do throws(OutboxError) {
                        return (job, .success(try await store.append([draft(job: job)], at: t0)))
                    } catch {
                        return (job, .failure(error))
                    }
                }
            }
            var all = [(String, Result<[OutboxEvent], OutboxError>)]()
            for await outcome in group { all.append(outcome) }
            return all
        }
        for (job, outcome) in outcomes {
            switch outcome {
            case .success(let events):
                #expect(job != "refused" && events.count == 1)
            case .failure(let error):
                #expect(job == "refused")
                #expect(error.code == .writeFailed)
                #expect("\(error)".contains("refused by the test"), "\(error)")
            }
        }
        #expect(outcomes.filter { if case .failure = $0.1 { true } else { false } }.count == 1)
        // Nothing of the refused append was left behind; the other jobs' sequences are gapless.
        #expect(try await store.pendingCount() == 4)
        #expect(try await store.histories(ofJob: "job-1").map(\.event.sequence) == [1, 2, 3])
        #expect(try await store.histories(ofJob: "refused").isEmpty)
        // The first-attempt update: recorded in the event's row.
        let event = try #require(try await store.histories(ofJob: "job-2").first?.event)
        let record = AttemptRecord(attempt: 1, startedAt: t0, durationMs: 12, statusCode: 204, error: nil, outcome: .delivered)
        try await store.apply([.attempted(event.id, record, nextAttemptAt: nil)])
        let history = try #require(try await store.history(of: event.id))
        #expect(history.event.state == .delivered)
        #expect(history.attempts.map(\.statusCode) == [204] && history.attempts.first?.durationMs == 12)
        store.close()
    }

    @Test func recordsAttemptsAndStates() async throws {
        let store = try SQLiteOutboxStore(path: path)
        let events = try await store.append([draft(), draft(), draft(.completed)], at: t0)
        let retry = t0.advanced(by: .seconds(1))
        try await store.apply([
            .attempted(events[0].id, AttemptRecord(attempt: 1, startedAt: t0, durationMs: 12, statusCode: 503, error: "HTTP 503", outcome: .retrying), nextAttemptAt: retry),
            .attempted(events[0].id, AttemptRecord(attempt: 2, startedAt: retry, durationMs: 3, statusCode: 204, error: nil, outcome: .delivered), nextAttemptAt: nil),
            .finished(events[1].id, .superseded, reason: "superseded by the terminal event", at: retry),
        ])
        let history = try await store.histories(ofJob: "job-1")
        #expect(history.map(\.event.state) == [.delivered, .superseded, .pending])
        #expect(history[0].attempts.map(\.outcome) == [.retrying, .delivered])
        #expect(history[0].attempts.map(\.statusCode) == [503, 204])
        #expect(history[0].event.attempts == 2)
        #expect(history[0].lastStatusCode == 204)
        #expect(history[1].finalReason == "superseded by the terminal event")
        let pending = try await store.pendingEvents(after: .start, limit: 10)
        #expect(pending.events.map(\.id) == [events[2].id])
        #expect(pending.events[0].body == nil)
        #expect(try await store.pendingEvents(after: pending.next, limit: 10).events.isEmpty)
    }

    @Test func pagesThroughPendingEvents() async throws {
        let store = try SQLiteOutboxStore(path: path)
        _ = try await store.append((0..<25).map { _ in draft() }, at: t0)
        var cursor = PendingCursor.start
        var seen = [Int64]()
        while true {
            let page = try await store.pendingEvents(after: cursor, limit: 10)
            if page.events.isEmpty { break }
            seen += page.events.map(\.sequence)
            cursor = page.next
        }
        #expect(seen == Array(1...25))
    }

    @Test func goneJobsStoreLaterEventsAsFinal() async throws {
        let store = try SQLiteOutboxStore(path: path)
        _ = try await store.append([draft()], at: t0)
        try await store.apply([.callbackGone(jobID: "job-1", at: t0)])
        let later = try await store.append([draft(), draft(.failed)], at: t0)
        #expect(later.map(\.state) == [.dropped, .failed])
        store.close()
        // The flag is durable too.
        let reopened = try SQLiteOutboxStore(path: path)
        #expect(try await reopened.append([draft(.completed)], at: t0).map(\.state) == [.failed])
    }

    /// SPEC section 6: once a job's terminal event is stored, a started/progress draft never
    /// becomes an event (no row, no sequence), decided in the append's transaction and durable.
    @Test func progressAfterTheTerminalEventIsNeverStored() async throws {
        let store = try SQLiteOutboxStore(path: path)
        let first = try await store.append([draft(), draft(.completed), draft(), draft(.started)], at: t0)
        #expect(first.map(\.sequence) == [1, 2])
        store.close()
        let reopened = try SQLiteOutboxStore(path: path)
        #expect(try await reopened.append([draft()], at: t0).isEmpty)
        #expect(try await reopened.histories(ofJob: "job-1").map(\.event.kind) == [.progress, .completed])
    }

    @Test func redeliveryStartsANewSeries() async throws {
        let store = try SQLiteOutboxStore(path: path)
        let event = try #require(try await store.append([draft(.completed)], at: t0).first)
        try await store.apply([
            .attempted(event.id, AttemptRecord(attempt: 1, startedAt: t0, durationMs: 1, statusCode: 400, error: "HTTP 400", outcome: .failed), nextAttemptAt: nil)
        ])
        let later = t0.advanced(by: .seconds(3600))
        let again = try await store.redeliver(event.id, at: later)
        #expect(again.state == .pending)
        #expect(again.attempts == 1)
        #expect(again.seriesAttempts == 0)
        #expect(again.seriesStartedAt == later)
        await #expect(throws: OutboxError.self) { try await store.redeliver(EventID(high: 9, low: 9), at: later) }
    }

    @Test func unopenablePathIsAClearError() {
        #expect(throws: OutboxError.self) { try SQLiteOutboxStore(path: "/proc/nope/outbox.sqlite") }
    }
}

extension SQLiteOutboxStoreTests {
    /// Readiness: a real commit, and the file in use must still be the one at the path.
    @Test func healthCommitsAWriteAndNoticesADeletedFile() async throws {
        let store = try SQLiteOutboxStore(path: path)
        #expect(await store.health() == .ready)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let health = await store.health()
        #expect(!health.isReady)
        #expect(health.problem?.contains("is gone") == true)
    }
}

extension SQLiteOutboxStoreTests {
    /// Claims hand out each job with pending events once, with its events in order; a later
    /// owner (the next process on this data directory) gets them again; a lease whose epoch
    /// moved on is reported lost and cannot be released by its old holder.
    @Test func claimsLeasesAndFencing() async throws {
        let first = try SQLiteOutboxStore(path: path)
        _ = try await first.append([draft(job: "a"), draft(job: "a"), draft(job: "b"), draft(.completed, job: "c")], at: t0)
        // What this owner appended is already its own.
        #expect(try await first.claimJobs(limit: 10, at: t0).isEmpty)
        first.close()

        let second = try SQLiteOutboxStore(path: path)
        var claimed = [ClaimedJob]()
        while true {
            let page = try await second.claimJobs(limit: 2, at: t0)
            if page.isEmpty { break }
            claimed += page
        }
        #expect(Set(claimed.map(\.lease.jobID)) == ["a", "b", "c"])
        #expect(claimed.first { $0.lease.jobID == "a" }?.events.map(\.sequence) == [1, 2])
        #expect(claimed.first { $0.lease.jobID == "c" }?.events.first?.jobTerminalStored == true)
        let leaseA = try #require(claimed.first { $0.lease.jobID == "a" }?.lease)
        #expect(try await second.renewLeases([leaseA], at: t0).isEmpty)

        // Another owner takes job a over: the old lease is fenced off.
        let third = try SQLiteOutboxStore(path: path)
        let taken = try await third.claimJobs(limit: 10, at: t0)
        let takenA = try #require(taken.first { $0.lease.jobID == "a" }?.lease)
        #expect(takenA.epoch == leaseA.epoch + 1)
        #expect(try await second.renewLeases([leaseA], at: t0) == [leaseA])
        try await second.releaseLease(leaseA)
        #expect(try await third.renewLeases([takenA], at: t0).isEmpty)
    }
}

extension SQLiteOutboxStoreTests {
    /// `GET /ai-clipping/jobs/{id}` reads the newest event alone, through the index, however
    /// many events and attempts the job has.
    @Test func newestEventIsOneIndexProbe() async throws {
        let store = try SQLiteOutboxStore(path: path)
        let events = try await store.append((0..<50).map { _ in draft(job: "long") } + [draft(.failed, job: "long")], at: t0)
        try await store.apply([
            .attempted(events[50].id, AttemptRecord(attempt: 1, startedAt: t0, durationMs: 3, statusCode: 502, error: "HTTP 502", outcome: .retrying), nextAttemptAt: t0)
        ])
        let newest = try #require(try await store.newestEvent(ofJob: "long"))
        #expect(newest.event.sequence == 51 && newest.event.kind == .failed && newest.lastStatusCode == 502)
        #expect(newest.attempts.isEmpty)
        #expect(try await store.newestEvent(ofJob: "none") == nil)
        let plan = try await store.queryPlan(SQLiteOutboxStore.newestEventSQL, arguments: ["long"])
        #expect(plan.contains("SEARCH") && !plan.contains("SCAN") && !plan.contains("TEMP B-TREE"), "\(plan)")
    }
}
