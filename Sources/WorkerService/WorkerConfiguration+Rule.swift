extension WorkerConfiguration {
    /// A check spanning several settings, run after every setting has been read on its own.
    public struct Rule: Sendable {
        /// Checks and stores; throws ``ConfigurationError`` naming a variable at fault.
        /// - Parameters:
        ///   - values: the variables' values as given to ``init(values:)``; read them with ``value(of:in:)``.
        ///   - configuration: the configuration with every setting read.
        public typealias Check =
            @Sendable (_ values: [String: String], _ configuration: inout WorkerConfiguration)
            throws(ConfigurationError) -> Void

        /// The variables it spans.
        public let variables: [String]
        /// The check.
        public let check: Check

        /// Creates a rule.
        /// - Parameters:
        ///   - variables: the variables it spans.
        ///   - check: checks them together and stores the result.
        public init(_ variables: [String], check: @escaping Check) {
            self.variables = variables
            self.check = check
        }
    }
}
