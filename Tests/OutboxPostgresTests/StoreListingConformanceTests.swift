import Foundation
import Testing
import WebhookCore
import WorkerCore

/// The listings across jobs, bulk matching and discarding (SPEC sections 4 and 9) on SQLite and
/// PostgreSQL alike, through ``DeliveryListing`` and ``JobListing``.
@Suite(.timeLimit(.minutes(2)))
struct StoreListingConformanceTests {
    typealias S = Sample

    /// Six events over three jobs and two origins, stored a second apart (newest last), two of
    /// them ended: failed (terminal) and dropped (progress).
    static func seed(_ store: StoreFixture, at t0: Timestamp) async throws -> [OutboxEvent] {
        var events = [OutboxEvent]()
        let plan: [(EventKind, String, String)] = [
            (.started, "job-a", "https://hooks.example.com/a?token=secret"),
            (.progress, "job-a", "https://hooks.example.com/a?token=secret"),
            (.completed, "job-a", "https://hooks.example.com/a?token=secret"),
            (.started, "job-b", "http://other.example:8080/b"),
            (.failed, "job-b", "http://other.example:8080/b"),
            (.started, "job-c", "https://hooks.example.com:443/c"),
        ]
        for (index, (kind, job, url)) in plan.enumerated() {
            let time = t0.advanced(by: .seconds(index))
            events += try await store.outbox.append([S.draft(kind, job: job, url: url)], at: time)
        }
        try await store.outbox.apply([
            .attempted(events[2].id, S.attempt(1, .failed, at: t0, status: 400), nextAttemptAt: nil),
            .attempted(events[1].id, S.attempt(1, .dropped, at: t0, status: 500), nextAttemptAt: nil),
        ])
        return events
    }

    @Test(arguments: StoreKind.underTest)
    func listsEventsNewestFirstWithEveryFilter(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            let events = try await Self.seed(store, at: t0)
            func ids(_ filter: DeliveryFilter) async throws -> [EventID] {
                try await store.listing.events(matching: filter, after: nil, limit: 100).map(\.event.id)
            }
            #expect(try await ids(DeliveryFilter()) == events.reversed().map(\.id))
            #expect(try await ids(DeliveryFilter(state: .failed)) == [events[2].id])
            #expect(try await ids(DeliveryFilter(state: .dropped)) == [events[1].id])
            #expect(try await ids(DeliveryFilter(state: .pending)).count == 4)
            #expect(try await ids(DeliveryFilter(jobID: "job-b")) == [events[4].id, events[3].id])
            #expect(try await ids(DeliveryFilter(kind: .started)) == [events[5].id, events[3].id, events[0].id])
            // One origin, however the URL spells its default port.
            let hooks = try #require(Origin(url: "https://hooks.example.com"))
            #expect(try await ids(DeliveryFilter(origin: hooks)) == [events[5].id, events[2].id, events[1].id, events[0].id])
            let other = try #require(Origin(url: "http://other.example:8080"))
            #expect(try await ids(DeliveryFilter(origin: other)) == [events[4].id, events[3].id])
            #expect(try await ids(DeliveryFilter(origin: Origin(url: "http://other.example:80"))).isEmpty)
            // since inclusive, until exclusive.
            let window = DeliveryFilter(since: t0.advanced(by: .seconds(1)), until: t0.advanced(by: .seconds(3)))
            #expect(try await ids(window) == [events[2].id, events[1].id])
            #expect(try await ids(DeliveryFilter(state: .pending, jobID: "job-a", kind: .started)) == [events[0].id])
            // Attempts come with each event; bodies do not.
            let failed = try #require(try await store.listing.events(matching: DeliveryFilter(state: .failed), after: nil, limit: 10).first)
            #expect(failed.attempts.map(\.statusCode) == [400])
            #expect(failed.event.body == nil && failed.event.callbackURL.hasPrefix("https://hooks.example.com/a"))
        }
    }

    @Test(arguments: StoreKind.underTest)
    func keysetPagesCoverEveryEventOnceAlsoWithEqualTimes(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            // Seven events stored at one instant: the event id breaks the tie.
            let same = try await store.outbox.append((0..<7).map { S.draft(.progress, job: "job-\($0)") }, at: t0)
            let older = try await store.outbox.append([S.draft(.started, job: "job-old")], at: t0.advanced(by: .seconds(-5)))
            var seen = [EventID]()
            var cursor: DeliveryCursor?
            for _ in 0..<10 {
                let page = try await store.listing.events(matching: DeliveryFilter(), after: cursor, limit: 3)
                seen += page.map(\.event.id)
                guard page.count == 3, let last = page.last else { break }
                cursor = DeliveryCursor(createdAt: last.event.createdAt, eventID: last.event.id)
                // The text form a client gets round-trips.
                #expect(DeliveryCursor(cursor?.description ?? "") == cursor)
            }
            #expect(seen.count == 8 && Set(seen).count == 8)
            #expect(seen.last == older[0].id)
            #expect(Set(seen.prefix(7)) == Set(same.map(\.id)))
        }
    }

    @Test(arguments: StoreKind.underTest)
    func listingsUseTheirIndices(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            // Enough rows that PostgreSQL's planner prefers an index to a scan and a sort.
            for batch in 0..<6 {
                let drafts = (0..<500).map { S.draft(.progress, job: "job-\(batch)-\($0 % 50)") }
                _ = try await store.outbox.append(drafts, at: t0.advanced(by: .milliseconds(batch * 10)))
            }
            if kind == .postgres {
                // Jobs straight in SQL (the job store creates one at a time): 5,000 finished jobs.
                try await store.execute(
                    """
                    INSERT INTO jobs (job_id, spec_json, status, current_step, request_digest, created_at, updated_at)
                    SELECT 'job_' || g, '{"external_job_id":"ext-' || g || '","owner_user_id":"user-' || (g % 500) || '"}',
                        CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'completed' END, 'Done', 'd', g, g
                    FROM generate_series(1, 5000) g
                    """)
            }
            try await store.execute("ANALYZE")
            let byState = try await store.listingPlan(DeliveryFilter(state: .failed))
            let all = try await store.listingPlan(DeliveryFilter())
            let byTime = try await store.listingPlan(DeliveryFilter(since: t0))
            let jobsByStatus = try await store.jobListingPlan(JobFilter(status: .failed))
            let jobsByExternal = try await store.jobListingPlan(JobFilter(externalJobID: "ext-1"))
            let jobsByOwner = try await store.jobListingPlan(JobFilter(ownerUserID: "user-1"))
            let jobsAll = try await store.jobListingPlan(JobFilter())
            switch kind {
            case .sqlite:
                #expect(byState.contains("USING INDEX webhook_events_state_created"), "\(byState)")
                #expect(all.contains("USING INDEX webhook_events_created"), "\(all)")
                #expect(byTime.contains("USING INDEX webhook_events_created"), "\(byTime)")
                #expect(jobsByStatus.contains("jobs_status_created"), "\(jobsByStatus)")
                #expect(jobsByExternal.contains("jobs_external_created"), "\(jobsByExternal)")
                #expect(jobsByOwner.contains("jobs_owner_created"), "\(jobsByOwner)")
                #expect(jobsAll.contains("jobs_created"), "\(jobsAll)")
                for plan in [byState, all, byTime, jobsByStatus, jobsByExternal, jobsByOwner, jobsAll] {
                    // No sort of the whole result, no scan of the table itself.
                    #expect(!plan.contains("TEMP B-TREE"), "\(plan)")
                    #expect(!plan.split(separator: "\n").contains { $0.hasSuffix("SCAN e") || $0.hasSuffix("SCAN jobs") }, "\(plan)")
                }
            case .postgres:
                #expect(byState.contains("webhook_events_state_created"), "\(byState)")
                #expect(all.contains("Index Scan Backward using webhook_events_created"), "\(all)")
                #expect(byTime.contains("webhook_events_created"), "\(byTime)")
                #expect(jobsByStatus.contains("jobs_status_created"), "\(jobsByStatus)")
                #expect(jobsByExternal.contains("jobs_external_created"), "\(jobsByExternal)")
                #expect(jobsByOwner.contains("jobs_owner_created"), "\(jobsByOwner)")
                for plan in [byState, all, byTime] { #expect(!plan.contains("Seq Scan"), "\(plan)") }
            }
        }
    }

    @Test(arguments: StoreKind.underTest)
    func bulkMatchesCountBeyondTheLimitAndFlagGoneCallbacks(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            let gone = try await store.outbox.append([S.draft(.completed, job: "job-gone")], at: t0)
            try await store.outbox.apply([
                .attempted(gone[0].id, S.attempt(1, .failed, at: t0, status: 410), nextAttemptAt: nil),
                .callbackGone(jobID: "job-gone", at: t0),
            ])
            var failed = [OutboxEvent]()
            for index in 0..<4 {
                let events = try await store.outbox.append(
                    [S.draft(.completed, job: "job-\(index)")], at: t0.advanced(by: .seconds(index + 1)))
                try await store.outbox.apply([.finished(events[0].id, .failed, reason: "HTTP 400", at: t0)])
                failed += events
            }
            let matches = try await store.listing.bulkMatches(DeliveryFilter(state: .failed), limit: 3)
            #expect(matches.total == 5)
            #expect(matches.events.map(\.id) == failed.reversed().prefix(3).map(\.id))
            #expect(matches.events.allSatisfy { !$0.callbackGone })
            let all = try await store.listing.bulkMatches(DeliveryFilter(state: .failed), limit: 10)
            #expect(all.events.filter(\.callbackGone).map(\.id) == [gone[0].id])
            #expect(try await store.listing.bulkMatches(DeliveryFilter(state: .dropped), limit: 10) == BulkMatches(total: 0, events: []))
        }
    }

    @Test(arguments: StoreKind.underTest)
    func discardEndsOnlyPendingEventsTerminalFailedOthersDropped(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            let events = try await store.outbox.append([S.draft(.started), S.draft(), S.draft(.completed)], at: t0)
            let delivered = try await store.outbox.append([S.draft(job: "job-2")], at: t0)
            try await store.outbox.apply([.attempted(delivered[0].id, S.attempt(1, .delivered, at: t0, status: 200), nextAttemptAt: nil)])
            // A fresh owner, as after a restart: the events are nobody's in memory.
            let ended = try await store.listing.discard(
                [events[1].id, events[2].id, delivered[0].id], reason: "discarded by operator", at: t0)
            #expect(Set(ended) == [events[1].id, events[2].id])
            let histories = try await store.outbox.histories(ofJob: "job-1")
            #expect(histories.map(\.event.state) == [.pending, .dropped, .failed])
            #expect(histories[2].finalReason == "discarded by operator")
            #expect(try await store.outbox.history(of: delivered[0].id)?.event.state == .delivered)
            #expect(try await store.outbox.pendingCount() == 1)
            let depth = try await store.listing.depthByState()
            #expect(depth == [.pending: 1, .delivered: 1, .failed: 1, .dropped: 1, .superseded: 0])
            // Nothing discarded is handed out again.
            let claimed = try await store.outbox.claimJobs(limit: 10, at: t0.advanced(by: .seconds(60)))
            #expect(claimed.flatMap(\.events).map(\.id).allSatisfy { $0 == events[0].id })
        }
    }

    @Test(arguments: StoreKind.underTest)
    func headOfLineShowsTheBlockingEventOfJobsWithAQueue(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            let blocked = try await store.outbox.append([S.draft(.started), S.draft(), S.draft(.completed)], at: t0)
            _ = try await store.outbox.append([S.draft(.started, job: "job-alone")], at: t0)
            let retry = t0.advanced(by: .seconds(30))
            try await store.outbox.apply([.attempted(blocked[0].id, S.attempt(1, .retrying, at: t0, status: 503), nextAttemptAt: retry)])
            let entries = try await store.listing.headOfLine(limit: 10)
            #expect(entries.count == 1)
            let entry = try #require(entries.first)
            #expect(entry.blocking.event.id == blocked[0].id && entry.waiting == 2)
            #expect(entry.blocking.event.nextAttemptAt == retry && entry.blocking.event.attempts == 1)
            #expect(entry.blocking.lastStatusCode == 503)
        }
    }

    @Test(arguments: StoreKind.underTest)
    func listsJobsNewestFirstByStatusExternalIDOwnerAndTime(kind: StoreKind) async throws {
        try await StoreFixture.with(kind) { store in
            let t0 = S.now
            var created = [JobRecord]()
            for index in 0..<5 {
                var spec = S.spec()
                spec.externalJobID = "ext-\(index % 2)"
                spec.ownerUserID = index == 4 ? "owner-x" : nil
                let (job, _) = try await store.jobs.create(
                    spec, idempotencyKey: nil, requestDigest: "d\(index)", maxQueued: nil, at: t0.advanced(by: .seconds(index)))
                created.append(job)
            }
            _ = try await store.jobs.record(
                JobStateUpdate(jobID: created[1].id, status: .downloading, progressPercent: 5, currentStep: "Downloading"),
                appending: [], at: t0)
            func ids(_ filter: JobFilter, after cursor: JobCursor? = nil, limit: Int = 100) async throws -> [String] {
                try await store.jobListing.jobs(matching: filter, after: cursor, limit: limit).map(\.id)
            }
            #expect(try await ids(JobFilter()) == created.reversed().map(\.id))
            #expect(try await ids(JobFilter(externalJobID: "ext-1")) == [created[3].id, created[1].id])
            #expect(try await ids(JobFilter(ownerUserID: "owner-x")) == [created[4].id])
            #expect(try await ids(JobFilter(status: .downloading)) == [created[1].id])
            #expect(try await ids(JobFilter(status: .queued, externalJobID: "ext-0")) == [created[4].id, created[2].id, created[0].id])
            #expect(try await ids(JobFilter(since: t0.advanced(by: .seconds(3)))) == [created[4].id, created[3].id])
            let first = try await store.jobListing.jobs(matching: JobFilter(), after: nil, limit: 2)
            let cursor = try #require(first.last.map { JobCursor(createdAt: $0.createdAt, jobID: $0.id) })
            #expect(JobCursor(cursor.description) == cursor)
            #expect(try await ids(JobFilter(), after: cursor, limit: 10) == created.prefix(3).reversed().map(\.id))
        }
    }
}
