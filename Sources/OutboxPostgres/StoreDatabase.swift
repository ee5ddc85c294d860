import Logging
import Synchronization
import PostgresNIO
import _ConnectionPoolModule
import WebhookCore

/// The stores' way into PostgreSQL: transactions that hand back the closure's own errors
/// unwrapped, retried when the server aborts them for a deadlock or a serialization failure,
/// and every other failure turned into an ``OutboxError`` whose text is safe to log (the server's
/// message and SQLSTATE, never a bound value or a row).
struct StoreDatabase: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// The longest one store call may take, waiting for a pooled connection included. Server-side
    /// limits (statement, lock and idle-in-transaction timeouts) cover a server that answers; this
    /// covers one that does not: a query on a connection cut while the server restarted was seen
    /// never to return, leaving its job unfinished and its worker deaf to SIGTERM.
    let callTimeout: Duration

    /// How often a transaction the server aborted (deadlock, serialization) is run again.
    private static let maxTries = 4

    init(client: PostgresClient, logger: Logger, callTimeout: Duration = .seconds(30)) {
        self.client = client
        self.logger = logger
        self.callTimeout = callTimeout
    }

    /// Runs `body` in a transaction on one pooled connection and commits it, within `timeout`
    /// (default ``callTimeout``; API requests pass a shorter one).
    /// - Throws: an ``OutboxError`` thrown by `body` as is (after a rollback); any other failure
    ///   as `.unavailable` (no connection, no answer within ``callTimeout``) or `failure` (the
    ///   statement failed).
    func transaction<T: Sendable>(
        failure: OutboxError.Code = .writeFailed, timeout: Duration? = nil,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws(OutboxError) -> T {
        let logger = self.logger
        var tries = 0
        while true {
            tries += 1
            let outcome = await bounded(timeout: timeout) { connection in
                try await connection.query("BEGIN", logger: logger)
                do {
                    let value = try await body(connection)
                    try await connection.query("COMMIT", logger: logger)
                    return value
                } catch {
                    // A failed statement leaves the transaction aborted: roll back before the
                    // connection goes back to the pool (a broken connection is dropped anyway).
                    // In a task of its own: when the caller was cancelled, a ROLLBACK sent from
                    // its task may not go out, and the open transaction would keep its locks.
                    await Task { _ = try? await connection.query("ROLLBACK", logger: logger) }.value
                    throw error
                }
            }
            switch outcome {
            case .success(let value):
                return value
            case .failure(let error as OutboxError):
                throw error
            case .failure(let error):
                if tries < Self.maxTries, Self.isTransient(error) { continue }
                throw Self.outboxError(error, code: failure)
            }
        }
    }

    /// Runs `body` on one pooled connection without a transaction (single statements commit alone).
    func withConnection<T: Sendable>(
        failure: OutboxError.Code = .readFailed, timeout: Duration? = nil,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws(OutboxError) -> T {
        switch await bounded(timeout: timeout, body) {
        case .success(let value): return value
        case .failure(let error): throw Self.outboxError(error, code: failure)
        }
    }

    /// `work` on a pooled connection, given up after ``callTimeout`` (or at once when the caller
    /// is cancelled) without waiting for it to notice. The connection of a call given up on is
    /// closed: that fails whatever still waits on it and gives its pool slot back, where a
    /// connection that no longer answers would otherwise hold it for good.
    private func bounded<T: Sendable>(
        timeout: Duration? = nil, _ work: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async -> Result<T, any Error> {
        let (client, timeout, logger) = (self.client, timeout ?? callTimeout, self.logger)
        let lent = LentConnection()
        let outcome: Result<T, any Error> = await DeadlineRace.first(
            probe: {
                do {
                    return .success(
                        try await client.withConnection { connection in
                            lent.set(connection)
                            defer { lent.set(nil) }
                            return try await work(connection)
                        })
                } catch {
                    return .failure(error)
                }
            },
            deadline: timeout,
            onTimeout: .failure(OutboxError(.unavailable, "the database did not answer within \(timeout)")),
            onCancel: .failure(OutboxError(.unavailable, "the store call was cancelled")))
        if case .failure(let error as OutboxError) = outcome, error.code == .unavailable, let connection = lent.take() {
            logger.warning("closing a database connection that did not answer", metadata: ["reason": "\(error.details)"])
            Task { try? await connection.close() }
        }
        return outcome
    }

    /// The connection a bounded call is using, for closing it when the call is given up.
    private final class LentConnection: Sendable {
        private let connection = Mutex<PostgresConnection?>(nil)
        func set(_ value: PostgresConnection?) { connection.withLock { $0 = value } }
        func take() -> PostgresConnection? { connection.withLock { value in defer { value = nil }; return value } }
    }

    /// A deadlock or a serialization failure: the server rolled the transaction back, and running
    /// it again is the remedy it asks for.
    static func isTransient(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, error.code == .server,
            let state = error.serverInfo?[.sqlState]
        else { return false }
        // Deadlock, serialization failure, lock wait over `lock_timeout`: the transaction can run again.
        return state == "40P01" || state == "40001" || state == "55P03"
    }

    /// The text of a failure that is safe to log: the server's message and SQLSTATE (not its
    /// `detail`, which quotes row values), or what became of the connection.
    static func safeDescription(_ error: any Error) -> String {
        if let error = error as? ConnectionPoolError {
            switch error {
            case .connectionCreationCircuitBreakerTripped:
                return "cannot connect to the database (connection attempts keep failing)"
            case .poolShutdown:
                return "the database client is shut down"
            default:
                return "the database connection request was cancelled"
            }
        }
        guard let error = error as? PSQLError else {
            if let error = error as? OutboxError { return error.details }
            return String(describing: type(of: error))
        }
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? "?"
            let message = error.serverInfo?[.message] ?? "server error"
            return "\(message) (SQLSTATE \(state))"
        case .connectionError:
            return "cannot connect to the database" + (error.underlying.map { ": \($0)" } ?? "")
        case .serverClosedConnection, .uncleanShutdown:
            return "the database closed the connection"
        case .poolClosed, .clientClosedConnection:
            return "the database client is shut down"
        case .queryCancelled:
            return "the query was cancelled"
        default:
            return "database client error \(error.code)"
        }
    }

    /// `error` as an ``OutboxError``: `.unavailable` when no connection could be had or it
    /// broke, else `code`.
    static func outboxError(_ error: any Error, code: OutboxError.Code, file: String = #fileID, line: Int = #line)
        -> OutboxError
    {
        if let error = error as? OutboxError { return error }
        var code = code
        if error is ConnectionPoolError { code = .unavailable }
        if let error = error as? PSQLError {
            switch error.code {
            case .connectionError, .serverClosedConnection, .uncleanShutdown, .poolClosed, .clientClosedConnection,
                .queryCancelled:
                code = .unavailable
            case .server:
                // 57P01 admin shutdown, 57P02/57P03: the server is going away or not there yet;
                // 08xxx: connection exceptions; 53xxx: out of resources (disk full, too many connections).
                let state = error.serverInfo?[.sqlState] ?? ""
                if state.hasPrefix("57P") || state.hasPrefix("08") || state.hasPrefix("53") { code = .unavailable }
            default:
                break
            }
        }
        return OutboxError(code, safeDescription(error), file: file, line: line)
    }
}
