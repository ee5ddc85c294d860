/// A `CLIPPING_WORKER_DATABASE_URL` that cannot be used. Its text names the part that is wrong
/// and never quotes the URL, which may carry a password.
public struct PostgresURLError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong; cases may be added.
    public enum Code: Sendable, Hashable {
        case malformed
        case scheme
        case host
        case user
        case password
        case port
        case database
        case sslMode
        /// A query parameter other than `sslmode` (its name only).
        case parameter(String)
    }

    public var code: Code

    /// Creates an error.
    public init(_ code: Code) {
        self.code = code
    }

    public var description: String {
        let expected = "expected postgres://user:password@host:port/database?sslmode=disable|prefer|require"
        switch code {
        case .malformed: return "CLIPPING_WORKER_DATABASE_URL is not a URL; \(expected)"
        case .scheme: return "CLIPPING_WORKER_DATABASE_URL must start with postgres:// or postgresql://"
        case .host: return "CLIPPING_WORKER_DATABASE_URL has no host; \(expected)"
        case .user: return "CLIPPING_WORKER_DATABASE_URL has no user name; \(expected)"
        case .password: return "CLIPPING_WORKER_DATABASE_URL has a badly percent-encoded password"
        case .port: return "CLIPPING_WORKER_DATABASE_URL has a port outside 1-65535"
        case .database: return "CLIPPING_WORKER_DATABASE_URL names no database (one path segment); \(expected)"
        case .sslMode: return "CLIPPING_WORKER_DATABASE_URL: sslmode must be disable, prefer or require"
        case .parameter(let name):
            // The name is shown only when it is a plain word: a stray `?password=…` stays hidden.
            let plain = !name.isEmpty && name.count <= 32 && name.allSatisfy { $0.isLetter || $0 == "_" }
            return "CLIPPING_WORKER_DATABASE_URL: unknown parameter \(plain ? name : "(not shown)"); only sslmode is allowed"
        }
    }
}
