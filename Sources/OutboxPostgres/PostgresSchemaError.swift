/// Why the shared store's schema could not be brought up to date. Its ``description`` is one line
/// without SQL values or credentials: `serve` prints it and exits 1.
public struct PostgresSchemaError: Error, Sendable, CustomStringConvertible {
    /// What went wrong; cases may be added, so switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case newerSchema, unavailable, failed
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The database was migrated by a newer worker: this one would misread it.
        public static let newerSchema = Code(.newerSchema)
        /// The database could not be reached.
        public static let unavailable = Code(.unavailable)
        /// A migration failed (nothing of it was applied).
        public static let failed = Code(.failed)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var details: String

    /// Creates an error.
    public init(_ code: Code, _ details: String) {
        self.code = code
        self.details = details
    }

    public var description: String {
        let text: String
        switch code {
        case .newerSchema: text = details
        case .unavailable: text = "cannot reach the database to migrate its schema: \(details)"
        default: text = "the database schema could not be migrated: \(details)"
        }
        // One line whatever the server said.
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
