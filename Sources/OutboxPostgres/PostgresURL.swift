import Foundation
import NIOSSL
public import PostgresNIO

/// `CLIPPING_WORKER_DATABASE_URL` parsed: `postgres://` or `postgresql://`, `user[:password]@host[:port]/db`,
/// with an optional `?sslmode=disable|prefer|require` (SPEC section 8).
///
/// The password is kept out of everything that can reach a log or a terminal: ``description``,
/// `debugDescription`, `dump` (a custom mirror) and every ``PostgresURLError``, which never
/// quotes the text it was given.
///
/// `sslmode` follows libpq: `prefer` (the default) tries TLS and falls back to plain TCP,
/// `require` refuses plain TCP; neither verifies the server's certificate (libpq's `verify-full`
/// is not part of the contract), so that a managed database's private CA works as it does with
/// `psql`.
///
/// ```swift
/// let url = try PostgresURL("postgres://worker:secret@db.internal:5432/clipping?sslmode=require")
/// let client = PostgresClient(configuration: url.clientConfiguration(maximumConnections: 10))
/// ```
public struct PostgresURL: Sendable, Hashable {
    /// How the connection is protected (`sslmode`).
    public enum SSLMode: String, Sendable, Hashable, CaseIterable {
        case disable
        case prefer
        case require
    }

    public var host: String
    public var port: Int
    public var username: String
    /// Nil when the URL has none (trust or peer authentication).
    public var password: String?
    public var database: String
    public var sslMode: SSLMode

    /// Parses `text`.
    /// - Throws: ``PostgresURLError`` naming what is wrong, never quoting `text`.
    public init(_ text: String) throws(PostgresURLError) {
        guard let components = URLComponents(string: text) else { throw PostgresURLError(.malformed) }
        guard let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql" else {
            throw PostgresURLError(.scheme)
        }
        guard var host = components.percentEncodedHost, !host.isEmpty else { throw PostgresURLError(.host) }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let decodedHost = host.removingPercentEncoding else { throw PostgresURLError(.host) }
        guard let user = components.percentEncodedUser?.removingPercentEncoding, !user.isEmpty else {
            throw PostgresURLError(.user)
        }
        var password: String?
        if let encoded = components.percentEncodedPassword {
            guard let decoded = encoded.removingPercentEncoding else { throw PostgresURLError(.password) }
            password = decoded
        }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw PostgresURLError(.port) }
        var path = components.percentEncodedPath
        if path.hasPrefix("/") { path.removeFirst() }
        guard !path.isEmpty, !path.contains("/"), let database = path.removingPercentEncoding, !database.isEmpty else {
            throw PostgresURLError(.database)
        }
        var sslMode = SSLMode.prefer
        for item in components.queryItems ?? [] {
            guard item.name == "sslmode" else { throw PostgresURLError(.parameter(item.name)) }
            guard let value = item.value, let mode = SSLMode(rawValue: value) else { throw PostgresURLError(.sslMode) }
            sslMode = mode
        }
        if components.fragment != nil { throw PostgresURLError(.malformed) }
        self.host = decodedHost
        self.port = port
        self.username = user
        self.password = password
        self.database = database
        self.sslMode = sslMode
    }

    /// The configuration of a ``PostgresClient`` for this URL.
    /// - Parameters:
    ///   - maximumConnections: the pool's size: the most connections this process opens.
    ///   - connectTimeout: how long one connection attempt may take.
    public func clientConfiguration(maximumConnections: Int = 10, connectTimeout: Duration = .seconds(5))
        -> PostgresClient.Configuration
    {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.maximumConnections = max(1, maximumConnections)
        configuration.options.connectTimeout = connectTimeout
        // No store call may wait forever. A transaction left open by a connection the worker
        // gave up on (a task cancelled between BEGIN and COMMIT, so its ROLLBACK never went out)
        // would hold its row locks, and every later write of that job would wait on them without
        // end; the server ends such a session after 15 s. Lock waits end after 10 s (the caller
        // retries), statements after 20 s, within the client's own 30 s limit on a store call
        // (`PostgresStoreConfiguration.callTimeout`), so a slow statement is ended by the server
        // rather than abandoned on a connection that is then closed.
        configuration.options.additionalStartupParameters = [
            ("idle_in_transaction_session_timeout", "15000"), ("lock_timeout", "10000"), ("statement_timeout", "20000"),
        ]
        return configuration
    }

    private var tls: PostgresClient.Configuration.TLS {
        var tls = TLSConfiguration.makeClientConfiguration()
        // libpq's prefer/require: encrypted, the certificate not verified (see the type's comment).
        tls.certificateVerification = .none
        switch sslMode {
        case .disable: return .disable
        case .prefer: return .prefer(tls)
        case .require: return .require(tls)
        }
    }
}

extension PostgresURL: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The URL without its password, e.g. `postgres://worker@db.internal:5432/clipping?sslmode=require`.
    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(username)@\(shownHost):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    public var debugDescription: String { description }

    /// What `dump` and the debugger show: every field but the password.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host, "port": port, "username": username, "password": password == nil ? "none" : "REDACTED",
                "database": database, "sslMode": sslMode,
            ])
    }
}
