import ArgumentParser
import CurlTransport
import DeliveryLog
import WorkerAPI
import Foundation

/// `clipping-worker deliveries tail|list|redeliver|discard`.
struct DeliveriesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deliveries", abstract: "Follow and manage webhook deliveries.",
        subcommands: [Tail.self, List.self, Redeliver.self, Discard.self])

    /// Prints (and follows) the delivery log under the data directory.
    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tail", abstract: "Print the delivery log; -f follows it (across rotation).")

        @Flag(name: .short, help: "Keep printing new lines as they are written") var follow = false
        @Option(help: "Only this job") var job: String?
        @Option(help: "Only this event type, e.g. job.progress") var event: String?
        @Option(help: "Only this outcome: delivered, retrying, failed, dropped, superseded") var outcome: String?
        @Flag(help: "Print the raw JSON lines") var json = false
        @Option(name: .short, help: "Only the last N matching lines") var n: Int?
        @Option(help: "The worker's data directory [env CLIPPING_WORKER_DATA_DIR, default ./data]") var dataDir: String?

        func validate() throws {
            if let outcome, !["delivered", "retrying", "failed", "dropped", "superseded"].contains(outcome) {
                throw ValidationError("--outcome must be delivered, retrying, failed, dropped or superseded")
            }
            if let n, n < 0 { throw ValidationError("-n must not be negative") }
        }

        func run() async throws {
            let directory = dataDir ?? ProcessInfo.processInfo.environment["CLIPPING_WORKER_DATA_DIR"] ?? "./data"
            let path = directory + "/logs/deliveries.jsonl"
            if !FileManager.default.fileExists(atPath: path) && !follow {
                printError("clipping-worker: no delivery log at \(path)")
                throw ExitCode(1)
            }
            let color = isatty(STDOUT_FILENO) == 1
            // Only the last `keep` matching lines are held (none without -n or -f): the files are
            // read as a stream, not whole (six rotated files can hold ~400 MB).
            let keep = n ?? (follow ? 10 : nil)
            var last = [String]()
            var unreadable = 0
            var currentSize: Int64 = 0
            // Oldest rotated file first, then the current one.
            for file in stride(from: 9, through: 1, by: -1).map({ "\(path).\($0)" }) + [path] {
                let read = LogFileReader.forEachLine(of: file) { line in
                    guard let line else {
                        unreadable += 1
                        return
                    }
                    guard matches(line) else { return }
                    if let keep {
                        last.append(line)
                        if last.count > keep { last.removeFirst(last.count - keep) }
                    } else {
                        print(render(line, color: color))
                    }
                }
                if file == path { currentSize = read }
            }
            for line in last { print(render(line, color: color)) }
            // A line that is not valid UTF-8 (a torn write at kill -9) is skipped, and said so.
            if unreadable > 0 { printError("clipping-worker: skipped \(unreadable) unreadable line(s) in \(path)*") }
            guard follow else { return }
            // A follower piped into another program (`| jq`) must see the existing lines now,
            // not when the next event fills the buffer.
            fflush(nil)
            try await followFile(path, from: currentSize, color: color)
        }

        private func followFile(_ path: String, from start: Int64, color: Bool) async throws {
            var offset = start
            var inode = Self.inode(path)
            // Offsets count bytes and only whole lines are consumed, so a line that is not UTF-8
            // (skipped) or a write seen half-done cannot shift where the next read starts.
            let show = { (line: String?) in
                guard let line, matches(line) else { return }
                print(render(line, color: color))
                fflush(nil)
            }
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(200))
                let nowInode = Self.inode(path)
                if nowInode != inode {
                    // Rotated: the old file became .1; finish it, then read the new one from the start.
                    _ = LogFileReader.forEachLine(of: "\(path).1", from: offset, show)
                    inode = nowInode
                    offset = 0
                }
                offset = LogFileReader.forEachLine(of: path, from: offset, show)
            }
        }

        static func inode(_ path: String) -> UInt64? {
            var info = stat()
            return stat(path, &info) == 0 ? UInt64(info.st_ino) : nil
        }

        func matches(_ line: String) -> Bool {
            guard let entry = DeliveryLogLine(line: line) else { return false }
            if let job, entry.jobID != job { return false }
            if let event, entry.event != event { return false }
            if let outcome, entry.outcome != outcome { return false }
            return true
        }

        func render(_ line: String, color: Bool) -> String {
            guard !json, let entry = DeliveryLogLine(line: line) else { return line }
            let paint: String
            switch entry.outcome {
            case "delivered": paint = "\u{1B}[32m"
            case "retrying": paint = "\u{1B}[33m"
            case "superseded": paint = "\u{1B}[90m"
            default: paint = "\u{1B}[31m"
            }
            let outcome = entry.outcome.padding(toLength: 10, withPad: " ", startingAt: 0)
            var text = "\(entry.ts)  \(color ? paint + outcome + "\u{1B}[0m" : outcome)  \(entry.event.padding(toLength: 13, withPad: " ", startingAt: 0))"
            text += " \(entry.jobID) #\(entry.sequence)"
            if let attempt = entry.attempt { text += " attempt \(attempt)" }
            if let status = entry.statusCode { text += " HTTP \(status)" }
            if let duration = entry.durationMs { text += " \(duration)ms" }
            if let error = entry.error, entry.outcome != "delivered" { text += " — \(error)" }
            if let next = entry.nextAttemptAt { text += " (next \(next))" }
            text += "  \(entry.eventID)"
            return text
        }
    }

    /// Every event of a job with its attempts.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Every event of a job with its attempts.")
        @Option(help: "The job id") var job: String
        @Flag(help: "Print the raw JSON") var json = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let response = try await client.call("GET", "/ai-clipping/jobs/\(job)/deliveries")
            if json { return printJSON(response.body) }
            let body = try JSONDecoder().decode(DeliveriesResponse.self, from: Data(response.body))
            for event in body.events {
                print("#\(event.sequence) \(event.event) \(event.state) \(event.event_id)")
                for attempt in event.attempts {
                    let status = attempt.status_code.map { "HTTP \($0)" } ?? "no answer"
                    print("    attempt \(attempt.attempt) \(attempt.started_at) \(attempt.outcome) \(status) \(attempt.duration_ms)ms\(attempt.error.map { " — \($0)" } ?? "")")
                }
            }
        }
    }

    /// Sends an event again (same webhook-id), or every event matching a filter (bulk).
    struct Redeliver: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "redeliver",
            abstract: "Send an event again (same webhook-id), or every event matching --state and the other filters.",
            discussion: """
                One event: clipping-worker deliveries redeliver EVENT_ID
                Bulk (POST /deliveries/redeliver, at most 10,000 per call; events whose callback is gone are \
                skipped unless --job names their job): clipping-worker deliveries redeliver --state failed --since 12h [--dry-run]
                """)
        @Argument(help: "The event id, evt_… (omit with --state)") var eventID: String?
        @Option(help: "Bulk: failed, dropped or superseded") var state: String?
        @OptionGroup var filter: BulkFilterOptions
        @Flag(help: "Bulk: only count what matches") var dryRun = false
        @OptionGroup var client: ClientOptions

        func validate() throws {
            switch (eventID, state) {
            case (nil, nil): throw ValidationError("give an event id, or --state for a bulk redelivery")
            case (.some, .some): throw ValidationError("give either an event id or --state, not both")
            case (.some, nil) where dryRun || filter.isSet:
                throw ValidationError("--dry-run and the filters apply to a bulk redelivery (--state)")
            case (nil, .some(let state)) where !["failed", "dropped", "superseded"].contains(state):
                throw ValidationError("--state must be failed, dropped or superseded")
            default: break
            }
        }

        func run() async throws {
            if let eventID {
                _ = try await client.call("POST", "/deliveries/\(eventID)/redeliver")
                print("queued \(eventID) for redelivery")
                return
            }
            let body = try filter.body(state: state ?? "failed", dryRun: dryRun)
            let response = try await client.call("POST", "/deliveries/redeliver", body: body)
            let result = try JSONDecoder().decode(BulkRedeliverResponse.self, from: Data(response.body))
            if dryRun {
                print("matched \(result.matched); would redeliver \(min(result.matched, 10_000) - result.skipped_gone), skip \(result.skipped_gone) (callback gone) — dry run, nothing sent")
            } else {
                print("matched \(result.matched); redelivered \(result.redelivered); skipped \(result.skipped_gone) (callback gone)")
            }
        }
    }

    /// Ends pending events without further attempts: a receiver gone for good.
    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "discard",
            abstract: "End pending events without further attempts (a receiver gone for good); count first with --dry-run.",
            discussion: "POST /deliveries/discard: terminal events end failed, others dropped, reason \"discarded by operator\".")
        @OptionGroup var filter: BulkFilterOptions
        @Flag(help: "Only count what matches") var dryRun = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let response = try await client.call("POST", "/deliveries/discard", body: try filter.body(state: "pending", dryRun: dryRun))
            let result = try JSONDecoder().decode(BulkDiscardResponse.self, from: Data(response.body))
            print(dryRun ? "matched \(result.matched) pending events — dry run, nothing discarded" : "matched \(result.matched); discarded \(result.discarded)")
        }
    }
}

/// The filters of the bulk commands (the body of `POST /deliveries/redeliver` and `/discard`).
struct BulkFilterOptions: ParsableArguments {
    @Option(help: "Only this job (also redelivers events whose callback is gone)") var job: String?
    @Option(help: "Only this event type, e.g. job.completed") var event: String?
    @Option(help: "Only callbacks to this origin, e.g. https://hooks.example.com") var origin: String?
    @Option(help: "Stored since: an ISO 8601 time or a duration back from now (30m, 12h, 7d)") var since: String?
    @Option(help: "Stored before: an ISO 8601 time or a duration back from now") var until: String?

    var isSet: Bool { job != nil || event != nil || origin != nil || since != nil || until != nil }

    private struct Body: Encodable {
        var state: String
        var job_id: String?
        var event: String?
        var origin: String?
        var since: String?
        var until: String?
        var dry_run: Bool
    }

    func body(state: String, dryRun: Bool) throws -> [UInt8] {
        Array(
            try JSONEncoder().encode(
                Body(state: state, job_id: job, event: event, origin: origin, since: since, until: until, dry_run: dryRun)))
    }
}
