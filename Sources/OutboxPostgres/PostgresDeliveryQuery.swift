import PostgresNIO
import WebhookCore

/// A statement built from optional filters: its `WHERE` conditions with numbered parameters
/// (`$1`, `$2` …) and their bindings, in order. Shared by the listing, the bulk count and the bulk
/// match so the three always agree.
struct PostgresDeliveryQuery: Sendable {
    private(set) var conditions: [String] = []
    private(set) var bindings = PostgresBindings()

    /// The next parameter, bound to `value`.
    mutating func parameter(_ value: some PostgresNonThrowingEncodable & Sendable) -> String {
        bindings.append(value)
        return "$\(bindings.count)"
    }

    mutating func add(_ condition: String) {
        conditions.append(condition)
    }

    /// The conditions for `filter` on `webhook_events` aliased `e`, continuing after `cursor`.
    init(_ filter: DeliveryFilter, after cursor: DeliveryCursor? = nil) {
        if let state = filter.state { add("e.state = \(parameter(state.rawValue))") }
        if let jobID = filter.jobID { add("e.job_id = \(parameter(jobID))") }
        if let kind = filter.kind { add("e.event_type = \(parameter(kind.rawValue))") }
        if let since = filter.since { add("e.created_at >= \(parameter(since.milliseconds))") }
        if let until = filter.until { add("e.created_at < \(parameter(until.milliseconds))") }
        let bases = filter.originBases
        if !bases.isEmpty {
            var alternatives = [String]()
            for base in bases {
                alternatives.append("e.callback_url = \(parameter(base))")
                for separator in ["/", "?"] {
                    let prefix = base + separator
                    alternatives.append("left(e.callback_url, \(parameter(Int32(prefix.count)))) = \(parameter(prefix))")
                }
            }
            add("(" + alternatives.joined(separator: " OR ") + ")")
        }
        if let cursor {
            add("(e.created_at, e.event_id) < (\(parameter(cursor.createdAt.milliseconds)), \(parameter(cursor.eventID.description)))")
        }
    }

    /// An empty statement builder (for the job listing).
    init() {}

    /// `WHERE …`, or nothing.
    var whereClause: String { conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ") }

    /// The query `sql` with these bindings.
    func query(_ sql: String) -> PostgresQuery {
        PostgresQuery(unsafeSQL: sql, binds: bindings)
    }

    static let order = "ORDER BY e.created_at DESC, e.event_id DESC"
}
