/// A bad setting: `serve` prints this one line and exits 1 (SPEC section 3).
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The environment variable at fault (its flag is named after it).
    public var variable: String
    public var message: String

    /// Creates an error.
    public init(_ variable: String, _ message: String) {
        self.variable = variable
        self.message = message
    }

    /// `CLIPPING_WORKER_PORT (--port): must be an integer from 0 to 65535, got "http"`.
    public var description: String { "\(variable) (--\(WorkerConfiguration.flagName(variable))): \(message)" }
}
