import ArgumentParser
import CurlTransport
import DeliveryLog
import WorkerAPI
import Foundation

/// `clipping-worker deliveries tail|list|redeliver`.
struct DeliveriesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deliveries", abstract: "Follow and manage webhook deliveries.",
        subcommands: [Tail.self, List.self, Redeliver.self])

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

    /// Sends an event again, same webhook-id.
    struct Redeliver: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "redeliver", abstract: "Send an event again (same webhook-id).")
        @Argument(help: "The event id, evt_…") var eventID: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            _ = try await client.call("POST", "/deliveries/\(eventID)/redeliver")
            print("queued \(eventID) for redelivery")
        }
    }
}
