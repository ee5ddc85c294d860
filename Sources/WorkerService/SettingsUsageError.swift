/// A `serve` command line that names no setting or lacks a value: a usage error (exit 64).
public struct SettingsUsageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, for the CLI to print.
    public var message: String

    /// Creates an error.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
