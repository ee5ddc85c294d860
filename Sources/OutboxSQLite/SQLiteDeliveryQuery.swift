import GRDB
import WebhookCore

/// The `WHERE` clause of a listing across jobs, with its arguments in order (shared by the
/// listing, the bulk count and the bulk match so the three always agree).
struct SQLiteDeliveryQuery {
    var conditions: [String] = []
    /// Plain values (Sendable), handed to GRDB as `StatementArguments` inside the read.
    var arguments: [DatabaseValue] = []

    /// The conditions for `filter` on `webhook_events` aliased `e`, and, when given, the keyset
    /// position to continue after.
    init(_ filter: DeliveryFilter, after cursor: DeliveryCursor? = nil) {
        if let state = filter.state {
            conditions.append("e.state = ?")
            arguments.append((state.rawValue).databaseValue)
            // The term of the partial state index, literally: SQLite uses a partial index only
            // when the query's terms include its condition.
            if state != .pending { conditions.append("e.state != 'pending'") }
        }
        if let jobID = filter.jobID {
            conditions.append("e.job_id = ?")
            arguments.append((jobID).databaseValue)
        }
        if let kind = filter.kind {
            conditions.append("e.event_type = ?")
            arguments.append((kind.rawValue).databaseValue)
        }
        if let since = filter.since {
            conditions.append("e.created_at >= ?")
            arguments.append((since.milliseconds).databaseValue)
        }
        if let until = filter.until {
            conditions.append("e.created_at < ?")
            arguments.append((until.milliseconds).databaseValue)
        }
        let bases = filter.originBases
        if !bases.isEmpty {
            var alternatives = [String]()
            for base in bases {
                alternatives.append("e.callback_url = ?")
                arguments.append((base).databaseValue)
                for separator in ["/", "?"] {
                    alternatives.append("substr(e.callback_url, 1, ?) = ?")
                    arguments.append(((base + separator).utf8.count).databaseValue)
                    arguments.append((base + separator).databaseValue)
                }
            }
            conditions.append("(" + alternatives.joined(separator: " OR ") + ")")
        }
        if let cursor {
            conditions.append("(e.created_at, e.event_id) < (?, ?)")
            arguments.append((cursor.createdAt.milliseconds).databaseValue)
            arguments.append((cursor.eventID.description).databaseValue)
        }
    }

    /// `WHERE …`, or nothing for an empty filter.
    var whereClause: String { conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ") }

    /// The newest-first order the indices hold.
    static let order = "ORDER BY e.created_at DESC, e.event_id DESC"
}
