import ArgumentParser
import CurlTransport
import Foundation

extension JobsCommand {
    /// `clipping-worker jobs list`: jobs newest first through `GET /ai-clipping/jobs`, following
    /// `next_cursor` until `-n` jobs are printed.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List jobs, newest first.")
        @Option(help: "Only this status: queued, downloading, …, completed, failed, cancelled") var status: String?
        @Option(help: "Only this external_job_id") var externalJobID: String?
        @Option(help: "Only this owner_user_id") var ownerUserID: String?
        @Option(help: "Created since: an ISO 8601 time or a duration back from now (30m, 12h, 7d)") var since: String?
        @Option(name: .short, help: "At most N jobs (default 100)") var n: Int = 100
        @Flag(help: "Print a JSON array of job objects") var json = false
        @OptionGroup var client: ClientOptions

        func validate() throws {
            if n < 1 { throw ValidationError("-n must be at least 1") }
        }

        private struct Page: Decodable {
            struct Job: Decodable {
                var job_id: String
                var status: String
                var progress_percent: Int
                var external_job_id: String?
                var created_at: String
            }
            var jobs: [Job]
            var next_cursor: String?
        }

        func run() async throws {
            var cursor: String?
            var printed = 0
            var objects = [Any]()
            // Bounded: each page brings up to 1000 jobs and the loop stops at n or the last page.
            repeat {
                var query = [("limit", String(min(1000, n - printed)))]
                if let status { query.append(("status", status)) }
                if let externalJobID { query.append(("external_job_id", externalJobID)) }
                if let ownerUserID { query.append(("owner_user_id", ownerUserID)) }
                if let since { query.append(("since", since)) }
                if let cursor { query.append(("cursor", cursor)) }
                let text = query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0.1)" }
                    .joined(separator: "&")
                let response = try await client.call("GET", "/ai-clipping/jobs?" + text)
                let page = try JSONDecoder().decode(Page.self, from: Data(response.body))
                if json {
                    let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
                    objects += (object?["jobs"] as? [Any]) ?? []
                } else {
                    if printed == 0 && !page.jobs.isEmpty {
                        print("JOB".padding(toLength: 31, withPad: " ", startingAt: 0) + "  STATUS        PROGRESS  CREATED                   EXTERNAL ID")
                    }
                    for job in page.jobs {
                        print(
                            job.job_id.padding(toLength: 31, withPad: " ", startingAt: 0) + "  "
                                + job.status.padding(toLength: 12, withPad: " ", startingAt: 0) + "  "
                                + "\(job.progress_percent)%".padding(toLength: 8, withPad: " ", startingAt: 0) + "  "
                                + job.created_at.padding(toLength: 24, withPad: " ", startingAt: 0) + "  " + (job.external_job_id ?? "-"))
                    }
                }
                printed += page.jobs.count
                cursor = page.next_cursor
            } while cursor != nil && printed < n
            if json {
                let data = try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
            }
        }
    }
}
