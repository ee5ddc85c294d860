import Foundation
import GRDB
import Testing
import WebhookCore

@testable import OutboxSQLite

/// Checkpoints of the write-ahead log leave the commit path, and the log stays bounded either
/// way: on a real SQLite file, one commit per append.
@Suite(.timeLimit(.minutes(1)))
struct WALCheckpointerTests {
    let path = NSTemporaryDirectory() + "wal-\(UUID().uuidString).sqlite"
    let t0 = Timestamp(milliseconds: 1_700_000_000_000)

    func draft(job: Int) -> EventDraft {
        EventDraft(
            kind: .progress, jobID: "job-\(job)", callbackURL: "https://example.com/hook",
            encodedSnapshot: Array("{\"job_id\":\"job-\(job)\",\"padding\":\"\(String(repeating: "x", count: 300))\"}".utf8))
    }

    /// The size of the -wal file in 4 KiB pages.
    var walPages: Int {
        let size = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        return size / 4096
    }

    /// Appends `count` events one commit at a time (awaited one by one: no shared commits).
    func appendOneByOne(_ store: SQLiteOutboxStore, count: Int) async throws {
        for index in 0..<count { _ = try await store.append([draft(job: index % 16)], at: t0) }
    }

    @Test func theCheckpointerCopiesTheLogBesideTheWriter() async throws {
        // The hard limit far above what the test writes: only the checkpointer can start the log
        // over. A threshold of one frame: the last commit wakes it too (at the default, up to
        // 999 frames may wait for the next run).
        let checkpointer = WALCheckpointer(path: path, threshold: 1, hardLimit: 1_000_000)
        let store = try SQLiteOutboxStore(path: path, durability: .normal, checkpointer: checkpointer)
        try await appendOneByOne(store, count: 150)
        // The writer pauses: the checkpointer copies the whole log meanwhile.
        let deadline = ContinuousClock.now + .seconds(20)
        while checkpointer.counts.background == 0 || checkpointer.counts.scheduled, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        try #require(checkpointer.counts.background >= 1 && !checkpointer.counts.scheduled, "\(checkpointer.counts)")
        #expect(checkpointer.lastFailure == nil)
        // So the next write starts it over from its beginning, with no checkpoint of its own.
        _ = try await store.append([draft(job: 1)], at: t0)
        #expect(checkpointer.counts.frames < 50, "\(checkpointer.counts)")
        #expect(checkpointer.counts.inline == 0)
        store.close()
        let reopened = try SQLiteOutboxStore(path: path)
        #expect(try await reopened.pendingCount() == 151)
    }

    @Test func aCommitCheckpointsItselfPastTheHardLimit() async throws {
        // The threshold out of reach: the checkpointer never wakes, as if it had fallen behind.
        let checkpointer = WALCheckpointer(path: path, threshold: 1_000_000, hardLimit: 64)
        let store = try SQLiteOutboxStore(path: path, checkpointer: checkpointer)
        try await appendOneByOne(store, count: 200)
        let counts = checkpointer.counts
        #expect(counts.background == 0)
        #expect(counts.inline >= 1)
        // Bounded by the hard limit plus the commit that crossed it, not by what was written
        // (200 commits of several frames each).
        #expect(walPages < 64 + 40, "the log grew to \(walPages) pages")
        #expect(counts.frames < 64 + 40)
        store.close()
        let reopened = try SQLiteOutboxStore(path: path)
        #expect(try await reopened.pendingCount() == 200)
    }

    @Test func theDefaultStoreCheckpointsInTheBackground() async throws {
        let store = try SQLiteOutboxStore(path: path)
        // Enough commits for SQLite's default point (1000 frames) several times over.
        try await appendOneByOne(store, count: 600)
        let deadline = ContinuousClock.now + .seconds(20)
        while store.checkpoints.background == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(store.checkpoints.background >= 1)
        store.close()
    }

    /// A file moved over the database while the store runs (an operator restoring a backup in
    /// place): the checkpointer's connection was opened with the pool's, so its checkpoints go to
    /// the store's own file. Opened later by path, it reached the new file, copied the live log
    /// into it and let the writer start its log over: the committed events were gone.
    @Test func aFileMovedOverTheDatabaseDoesNotLoseCommittedEvents() async throws {
        // A second name for the store's own file, to read it once the store is closed.
        let original = path + ".original"
        do {
            let checkpointer = WALCheckpointer(path: path, threshold: 1, hardLimit: 1_000_000)
            let store = try SQLiteOutboxStore(path: path, durability: .normal, checkpointer: checkpointer)
            try #require(link(path, original) == 0)
            let other = NSTemporaryDirectory() + "other-\(UUID().uuidString).sqlite"
            do {
                let queue = try DatabaseQueue(path: other)
                try await queue.write { db in try db.execute(sql: "CREATE TABLE unrelated (x INTEGER)") }
                try queue.close()
            }
            try #require(rename(other, path) == 0)
            try await appendOneByOne(store, count: 150)
            let deadline = ContinuousClock.now + .seconds(20)
            while checkpointer.counts.background == 0 || checkpointer.counts.scheduled, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(checkpointer.counts.background >= 1)
            // The writer starts its log over here if every frame was marked copied.
            try await appendOneByOne(store, count: 10)
            let deadline2 = ContinuousClock.now + .seconds(20)
            while checkpointer.counts.scheduled, ContinuousClock.now < deadline2 { try await Task.sleep(for: .milliseconds(10)) }
            try #require(!checkpointer.counts.scheduled)
            store.close()
        }
        // Every frame was copied: the store's own file holds every event, read without the log
        // (under its second name, the log's name is another).
        let queue = try DatabaseQueue(path: original)
        let stored = try await queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM webhook_events") ?? 0 }
        #expect(stored == 160)
        let check = try await queue.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") }
        #expect(check == "ok")
        try queue.close()
    }

    /// A checkpointer whose connection reaches another file than the store's never runs; commits
    /// checkpoint inline past the hard limit, and it says why.
    @Test func aConnectionToAnotherFileIsRefused() async throws {
        let pool = try DatabasePool(path: path)
        try await pool.write { db in try db.execute(sql: "CREATE TABLE t (x BLOB)") }
        let checkpointer = WALCheckpointer(path: path, threshold: 1, hardLimit: 64)
        try await pool.writeWithoutTransaction { db in checkpointer.install(on: db, expecting: (device: 0, inode: 0)) }
        #expect(checkpointer.lastFailure == .anotherFile(path: path))
        for _ in 0..<100 {
            try await pool.write { db in try db.execute(sql: "INSERT INTO t VALUES (?)", arguments: [Data(count: 3000)]) }
        }
        #expect(checkpointer.counts.background == 0)
        #expect(checkpointer.counts.inline >= 1)
        try pool.close()
    }
}
