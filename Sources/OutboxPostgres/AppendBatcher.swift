import Synchronization
import WebhookCore

/// Group commit for appends: callers that arrive while a batch's transaction runs share the
/// next one (one round of statements and one WAL flush for all of them), as the SQLite store's
/// group committer shares an fsync. Every job publishes on its own, so without this each event
/// cost its own transaction: four round trips and a flush (measured: about 2,000 events/s for one
/// worker on this machine).
///
/// One batch runs at a time, in a task of its own; a batch that fails is run again request by
/// request, so that only the request at fault (a lease lost, a job gone) fails.
final class AppendBatcher: Sendable {
    typealias Run = @Sendable (_ drafts: [EventDraft], _ times: [Timestamp]) async throws(OutboxError) -> EventAppender.Outcome

    private struct Request {
        let drafts: [EventDraft]
        let time: Timestamp
        let continuation: CheckedContinuation<Result<EventAppender.Outcome, OutboxError>, Never>
    }

    private struct State {
        var queue: [Request] = []
        var running = false
    }

    private let state = Mutex(State())
    private let run: Run
    /// Drafts per transaction at most: a batch's arrays stay a few hundred KiB.
    private let maxDrafts: Int

    init(maxDrafts: Int = 1000, run: @escaping Run) {
        self.maxDrafts = maxDrafts
        self.run = run
    }

    /// Appends `drafts` in the next batch; the outcome holds only this request's events.
    func append(_ drafts: [EventDraft], at time: Timestamp) async throws(OutboxError) -> EventAppender.Outcome {
        let result = await withCheckedContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.queue.append(Request(drafts: drafts, time: time, continuation: continuation))
                guard !state.running else { return false }
                state.running = true
                return true
            }
            if start { Task { await self.drain() } }
        }
        return try result.get()
    }

    /// Runs batches until nobody waits.
    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Request] in
                var taken = 0
                var count = 0
                while taken < state.queue.count, count == 0 || count + state.queue[taken].drafts.count <= maxDrafts {
                    count += state.queue[taken].drafts.count
                    taken += 1
                }
                let batch = Array(state.queue.prefix(taken))
                state.queue.removeFirst(taken)
                if batch.isEmpty { state.running = false }
                return batch
            }
            if batch.isEmpty { return }
            await runBatch(batch)
        }
    }

    private func runBatch(_ batch: [Request]) async {
        if batch.count == 1 {
            let request = batch[0]
            request.continuation.resume(returning: await attempt(request.drafts, Array(repeating: request.time, count: request.drafts.count)))
            return
        }
        var drafts = [EventDraft]()
        var times = [Timestamp]()
        var owner = [Int]()
        var firstDraft = [Int]()
        for (index, request) in batch.enumerated() {
            firstDraft.append(drafts.count)
            drafts.append(contentsOf: request.drafts)
            times.append(contentsOf: repeatElement(request.time, count: request.drafts.count))
            owner.append(contentsOf: repeatElement(index, count: request.drafts.count))
        }
        switch await attempt(drafts, times) {
        case .success(let outcome):
            var split = batch.map { _ in EventAppender.Outcome(events: [], draftIndices: [], leases: [:]) }
            for (position, event) in outcome.events.enumerated() {
                let draftIndex = outcome.draftIndices[position]
                let request = owner[draftIndex]
                split[request].events.append(event)
                split[request].draftIndices.append(draftIndex - firstDraft[request])
            }
            for (index, request) in batch.enumerated() {
                for jobID in Set(request.drafts.map(\.jobID)) {
                    if let epoch = outcome.leases[jobID] { split[index].leases[jobID] = epoch }
                }
                request.continuation.resume(returning: .success(split[index]))
            }
        case .failure(let error) where error.code == .unavailable:
            // The database is away: every request gets that answer now, not one call limit each.
            for request in batch { request.continuation.resume(returning: .failure(error)) }
        case .failure:
            // One request spoiled the batch: each alone, so only the one at fault fails.
            for request in batch {
                request.continuation.resume(
                    returning: await attempt(request.drafts, Array(repeating: request.time, count: request.drafts.count)))
            }
        }
    }

    private func attempt(_ drafts: [EventDraft], _ times: [Timestamp]) async -> Result<EventAppender.Outcome, OutboxError> {
        do throws(OutboxError) {
            return .success(try await run(drafts, times))
        } catch {
            return .failure(error)
        }
    }
}
