/// A failure of the outbox store, with context that is safe to log.
public struct OutboxError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure; cases may be added, so switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unavailable, writeFailed, readFailed, notFound, corrupt, closed, leaseLost
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The database could not be opened or reached.
        public static let unavailable = Code(.unavailable)
        /// A write transaction failed; nothing of it was stored.
        public static let writeFailed = Code(.writeFailed)
        /// A read failed.
        public static let readFailed = Code(.readFailed)
        /// No such event.
        public static let notFound = Code(.notFound)
        /// A stored row could not be understood.
        public static let corrupt = Code(.corrupt)
        /// The store was closed.
        public static let closed = Code(.closed)
        /// A shared store refused a write for a job whose lease this worker no longer holds (it
        /// expired and another worker claimed the job: the fencing epoch moved on), or that
        /// another worker holds now; nothing of the write was stored.
        public static let leaseLost = Code(.leaseLost)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// Details from the layer below; never SQL arguments or payloads.
    public var details: String
    public var file: String
    public var line: Int

    /// Creates an error, capturing where it was raised.
    public init(_ code: Code, _ details: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.details = details
        self.file = file
        self.line = line
    }

    public var description: String { "outbox \(code): \(details)" }
}
