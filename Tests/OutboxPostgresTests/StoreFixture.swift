import Foundation
import OutboxPostgres
import OutboxSQLite
import PostgresNIO
import Testing
import WebhookCore
import WorkerCore

/// Which store a conformance test runs on.
enum StoreKind: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite
    case postgres

    /// Both, unless the developer left PostgreSQL out (`CLIPPING_WORKER_TEST_SKIP_POSTGRES=1`).
    static var underTest: [StoreKind] { TestPostgres.skipped ? [.sqlite] : allCases }

    var testDescription: String { rawValue }
}

/// A store of one kind for one test: the outbox, the job store on its database, and a way to
/// stand for "another worker, after this one died".
struct StoreFixture: Sendable {
    typealias Outbox = any OutboxStore & OutboxReadModel
    let kind: StoreKind
    let outbox: Outbox
    let jobs: any JobStore
    /// The listings across jobs (SPEC sections 4 and 9) on the same store.
    let listing: any DeliveryListing
    let jobListing: any JobListing
    /// The store's plan for a listing of events or jobs (SQLite `EXPLAIN QUERY PLAN`, PostgreSQL `EXPLAIN`).
    let listingPlan: @Sendable (DeliveryFilter) async throws -> String
    let jobListingPlan: @Sendable (JobFilter) async throws -> String
    /// Runs SQL on the store's database (to refresh planner statistics).
    let execute: @Sendable (String) async throws -> Void
    /// A new owner on the same database once this one is gone: SQLite closes and reopens its
    /// file (a restarted process); PostgreSQL lets the first owner's leases lapse (on the
    /// database's clock) and opens a store with a new owner id.
    let successor: @Sendable () async throws -> Outbox

    /// Runs `body` on a fresh store of `kind`.
    static func with(_ kind: StoreKind, _ body: (StoreFixture) async throws -> Void) async throws {
        switch kind {
        case .sqlite:
            let path = NSTemporaryDirectory() + "conformance-\(UUID().uuidString).sqlite"
            defer { try? FileManager.default.removeItem(atPath: path) }
            let outbox = try SQLiteOutboxStore(path: path)
            let jobs = SQLiteJobStore(outbox: outbox)
            let fixture = StoreFixture(
                kind: kind, outbox: outbox, jobs: jobs, listing: outbox, jobListing: jobs,
                listingPlan: { try await outbox.listingPlan($0) }, jobListingPlan: { try await jobs.listingPlan($0) },
                execute: { _ in },
                successor: {
                    outbox.close()
                    return try SQLiteOutboxStore(path: path)
                })
            try await body(fixture)
        case .postgres:
            try await TestPostgres.withSchema { database in
                try await database.withStore { outbox, client in
                    let jobs = PostgresJobStore(outbox: outbox)
                    let fixture = StoreFixture(
                        kind: kind, outbox: outbox, jobs: jobs, listing: outbox, jobListing: jobs,
                        listingPlan: { try await outbox.listingPlan($0) }, jobListingPlan: { try await jobs.listingPlan($0) },
                        execute: { _ = try await client.query(PostgresQuery(unsafeSQL: $0)) },
                        successor: {
                            try await client.query(
                                "UPDATE webhook_jobs SET lease_until = now() - interval '1 second' WHERE lease_owner IS NOT NULL")
                            return PostgresOutboxStore(client: client, logger: TestPostgres.logger)
                        })
                    try await body(fixture)
                }
            }
        }
    }
}

/// Drafts and times shared by the store tests.
enum Sample {
    /// Now, as event times: PostgreSQL claims what is due on its own clock.
    static var now: Timestamp { Timestamp(seconds: Date().timeIntervalSince1970) }

    static func draft(_ kind: EventKind = .progress, job: String = "job-1", url: String = "https://example.com/hook")
        -> EventDraft
    {
        EventDraft(kind: kind, jobID: job, callbackURL: url, encodedSnapshot: Array("{\"job_id\":\"\(job)\"}".utf8))
    }

    static func attempt(_ number: Int, _ outcome: AttemptOutcome, at time: Timestamp, status: Int? = 503) -> AttemptRecord {
        AttemptRecord(
            attempt: number, startedAt: time, durationMs: 12, statusCode: status,
            error: outcome == .delivered ? nil : "HTTP \(status ?? 0)", outcome: outcome)
    }

    static func spec(_ video: String = "https://e.com/v.mp4") -> JobSpec {
        JobSpec(
            videoURL: video, callbackURL: "https://hooks.e.com/h", externalJobID: "ext", ownerUserID: nil, maxClips: 3,
            minClipDurationSeconds: 15, maxClipDurationSeconds: 60, durationRanges: [ClipDurationRange(lower: 15, upper: 30)],
            targetPlatform: .youtubeShorts, includeCaptions: true, captionStyleJSON: #"{"a":1}"#)
    }
}
