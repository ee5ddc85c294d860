import Foundation
import OutboxPostgres
import PostgresNIO
import Testing
import WebhookCore

/// Several owners on one database (what only the shared store has): claims never overlap, a
/// lapsed lease hands the job over on the database's clock, a stale owner's writes are refused by
/// the fencing epoch, and appends of one job are serialized into gapless sequences.
@Suite(.enabled(if: !TestPostgres.skipped, "CLIPPING_WORKER_TEST_SKIP_POSTGRES=1"), .timeLimit(.minutes(2)))
struct PostgresLeaseTests {
    typealias S = Sample

    /// Appends one pending terminal event for each of `jobs` with a store that then dies (its
    /// leases are made to lapse), so the jobs are due and free.
    func leaveBehind(_ jobs: [String], in database: TestPostgres.Database) async throws -> [OutboxEvent] {
        try await database.withStore { store, client in
            let stored = try await store.append(jobs.map { S.draft(.completed, job: $0) }, at: S.now)
            try await client.query("UPDATE webhook_jobs SET lease_until = now() - interval '1 second'")
            return stored
        }
    }

    @Test func twoOwnersNeverClaimTheSameJobAtOnce() async throws {
        try await TestPostgres.withSchema { database in
            let jobs = (0..<60).map { "job-\($0)" }
            _ = try await leaveBehind(jobs, in: database)
            try await database.withStore { first, client in
                let second = PostgresOutboxStore(client: client, logger: TestPostgres.logger)
                // Both claim small pages at the same time until nothing is left.
                async let a = Self.claimAll(first)
                async let b = Self.claimAll(second)
                let (claimedA, claimedB) = try await (a, b)
                #expect(Set(claimedA).isDisjoint(with: claimedB))
                #expect(claimedA.count + claimedB.count == jobs.count)
                #expect(Set(claimedA + claimedB) == Set(jobs))
                // Each holds what it claimed: renewals lose nothing, and the other cannot take it.
                #expect(try await first.renewLeases(first.heldLeases, at: S.now).isEmpty)
                #expect(try await second.claimJobs(limit: 100, at: S.now).isEmpty)
            }
        }
    }

    static func claimAll(_ store: PostgresOutboxStore) async throws -> [String] {
        var claimed = [String]()
        while true {
            let page = try await store.claimJobs(limit: 3, at: S.now)
            if page.isEmpty { return claimed }
            claimed += page.map(\.lease.jobID)
        }
    }

    @Test func aLapsedLeaseHandsTheJobOverAndTheStaleOwnersWritesAreRefused() async throws {
        try await TestPostgres.withSchema { database in
            let event = try #require(try await leaveBehind(["job-1"], in: database).first)
            try await database.withStore(PostgresStoreConfiguration(leaseDuration: .milliseconds(800))) { stale, client in
                let successor = PostgresOutboxStore(
                    client: client, configuration: PostgresStoreConfiguration(leaseDuration: .seconds(30)),
                    logger: TestPostgres.logger)
                let first = try #require(try await stale.claimJobs(limit: 10, at: S.now).first)
                #expect(first.events.map(\.id) == [event.id])
                // Held: nobody else gets it.
                #expect(try await successor.claimJobs(limit: 10, at: S.now).isEmpty)
                // The stale owner stops renewing (paused); on the database's clock its lease lapses.
                let deadline = ContinuousClock.now + .seconds(10)
                var taken = [ClaimedJob]()
                while taken.isEmpty && ContinuousClock.now < deadline {
                    taken = try await successor.claimJobs(limit: 10, at: S.now)
                    if taken.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
                }
                let handedOver = try #require(taken.first)
                #expect(handedOver.lease.epoch == first.lease.epoch + 1)
                #expect(handedOver.events.map(\.id) == [event.id])
                // The paused owner wakes up: its attempt record is refused (fencing), the event
                // keeps the successor's view...
                try await stale.apply([.attempted(event.id, S.attempt(1, .delivered, at: S.now, status: 200), nextAttemptAt: nil)])
                #expect(try await stale.history(of: event.id)?.event.state == .pending)
                #expect(try await stale.history(of: event.id)?.attempts.isEmpty == true)
                // ...its renewal reports the lease lost, and its appends are refused too.
                #expect(try await stale.renewLeases([first.lease], at: S.now) == [first.lease])
                do throws(OutboxError) {
                    _ = try await stale.append([S.draft(.failed, job: "job-1")], at: S.now)
                    Issue.record("a stale owner's append was stored")
                } catch {
                    #expect(error.code == .leaseLost)
                }
                // The successor's writes land.
                try await successor.apply([
                    .attempted(event.id, S.attempt(1, .delivered, at: S.now, status: 200), nextAttemptAt: nil)
                ])
                #expect(try await successor.history(of: event.id)?.event.state == .delivered)
                // Even once the successor lets the job go, the stale owner stays fenced out.
                try await successor.releaseLease(handedOver.lease)
                try await stale.apply([.callbackGone(jobID: "job-1", at: S.now)])
                let goneRows = try await client.query("SELECT gone FROM webhook_jobs WHERE job_id = 'job-1'").collect()
                #expect(try goneRows.first?.decode(Bool.self) == false)
                await #expect(throws: OutboxError.self) { try await stale.append([S.draft(.completed, job: "job-1")], at: S.now) }
            }
        }
    }

    @Test func anAppendForAJobAnotherOwnerHoldsIsRefusedAndStoresNothing() async throws {
        try await TestPostgres.withSchema { database in
            try await database.withStore { holder, client in
                let other = PostgresOutboxStore(client: client, logger: TestPostgres.logger)
                _ = try await holder.append([S.draft(.started)], at: S.now)
                do throws(OutboxError) {
                    _ = try await other.append([S.draft(), S.draft(job: "job-2")], at: S.now)
                    Issue.record("an append into another owner's live lease was stored")
                } catch {
                    #expect(error.code == .leaseLost)
                }
                // All or nothing: job-2 got no event either, and job-1's sequence did not move.
                #expect(try await holder.histories(ofJob: "job-2").isEmpty)
                #expect(try await holder.append([S.draft()], at: S.now).map(\.sequence) == [2])
            }
        }
    }

    @Test func concurrentAppendsToOneJobGetGaplessUniqueSequences() async throws {
        try await TestPostgres.withSchema { database in
            // Two stores of one owner on two pools: their appends race inside the database.
            let owner = PostgresStoreConfiguration.newOwner()
            try await database.withStore(PostgresStoreConfiguration(owner: owner)) { a, _ in
                try await database.withStore(PostgresStoreConfiguration(owner: owner)) { b, _ in
                    let stored = try await withThrowingTaskGroup(of: [OutboxEvent].self) { group in
                        for index in 0..<200 {
                            let store = index.isMultiple(of: 2) ? a : b
                            group.addTask { try await store.append([S.draft(job: "hot"), S.draft(job: "job-\(index % 3)")], at: S.now) }
                        }
                        var all = [OutboxEvent]()
                        for try await events in group { all += events }
                        return all
                    }
                    #expect(stored.filter { $0.jobID == "hot" }.map(\.sequence).sorted() == Array(1...200))
                    for job in 0..<3 {
                        let sequences = stored.filter { $0.jobID == "job-\(job)" }.map(\.sequence).sorted()
                        #expect(sequences == Array(1...Int64(sequences.count)))
                    }
                    #expect(try await a.histories(ofJob: "hot").map(\.event.sequence) == Array(1...200))
                }
            }
        }
    }

    @Test func concurrentAppendsOfTwoOwnersLeaveOneHolderAndGaplessSequences() async throws {
        try await TestPostgres.withSchema { database in
            try await database.withStore { a, client in
                let b = PostgresOutboxStore(client: client, logger: TestPostgres.logger)
                let results = await withTaskGroup(of: Result<[OutboxEvent], OutboxError>.self) { group in
                    for index in 0..<40 {
                        let store = index.isMultiple(of: 2) ? a : b
                        group.addTask {
                            do throws(OutboxError) {
                                return .success(try await store.append([S.draft(job: "contended")], at: S.now))
                            } catch {
                                return .failure(error)
                            }
                        }
                    }
                    var all = [Result<[OutboxEvent], OutboxError>]()
                    for await result in group { all.append(result) }
                    return all
                }
                let stored = results.compactMap { try? $0.get() }.flatMap { $0 }
                let refused = results.compactMap { result -> OutboxError? in
                    if case .failure(let error) = result { return error }
                    return nil
                }
                #expect(refused.allSatisfy { $0.code == .leaseLost })
                #expect(stored.count + refused.count == 40)
                #expect(stored.map(\.sequence).sorted() == Array(1...Int64(stored.count)))
                // Exactly one owner holds the job, and only its appends were stored.
                let holders = [a.heldLease(of: "contended"), b.heldLease(of: "contended")].compactMap { $0 }
                #expect(holders.count == 1)
            }
        }
    }

    @Test func aLongBackOffNeitherPinsALeaseNorIsClaimedEarly() async throws {
        try await TestPostgres.withSchema { database in
            try await database.withStore { store, client in
                let other = PostgresOutboxStore(client: client, logger: TestPostgres.logger)
                let t0 = S.now
                let event = try await store.append([S.draft(.completed)], at: t0)[0]
                let lease = try #require(store.heldLease(of: "job-1"))
                // A release while the event is due now keeps the lease (it would be claimed straight back).
                try await store.releaseLease(lease)
                #expect(store.heldLease(of: "job-1") == lease)
                // The quick attempts failed; the next one is 8 hours away: the lease can go...
                try await store.apply([
                    .attempted(event.id, S.attempt(1, .retrying, at: t0), nextAttemptAt: t0.advanced(by: .seconds(8 * 3600)))
                ])
                try await store.releaseLease(lease)
                #expect(store.heldLease(of: "job-1") == nil)
                // ...and nobody claims the job before it is due.
                #expect(try await other.claimJobs(limit: 10, at: t0).isEmpty)
                // Made due by an operator's redelivery on another worker, which takes the free job...
                _ = try await other.redeliver(event.id, at: S.now)
                #expect(other.heldLease(of: "job-1") != nil)
                #expect(try await store.claimJobs(limit: 10, at: S.now).isEmpty)
                // ...and, should that worker die, is claimable as soon as its lease lapses.
                try await client.query("UPDATE webhook_jobs SET lease_until = now() - interval '1 second'")
                #expect(try await store.claimJobs(limit: 10, at: S.now).map(\.lease.jobID) == ["job-1"])
            }
        }
    }

    @Test func theClaimQueryUsesTheDueIndex() async throws {
        try await TestPostgres.withSchema { database in
            try await database.withStore { store, client in
                // A table of many jobs, few of them due: the plan must not scan them all.
                try await client.query(
                    """
                    INSERT INTO webhook_jobs (job_id, next_due_at)
                    SELECT 'bulk-' || g, CASE WHEN g % 100 = 0 THEN 0 END FROM generate_series(1, 20000) AS g
                    """)
                try await client.query("ANALYZE webhook_jobs")
                let plan = try await store.queryPlan(
                    """
                    SELECT job_id FROM webhook_jobs
                    WHERE next_due_at <= floor(extract(epoch FROM now()) * 1000)::int8 + 10000
                        AND (lease_until IS NULL OR lease_until < now())
                    ORDER BY next_due_at LIMIT 10 FOR UPDATE SKIP LOCKED
                    """)
                #expect(plan.contains("webhook_jobs_due"), "\(plan)")
                #expect(try await store.claimJobs(limit: 500, at: S.now).count == 200)
            }
        }
    }
}
