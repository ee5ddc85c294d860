extension WorkerConfiguration {
    /// One setting of `serve`: its environment variable, its flag (derived from the variable), the
    /// default and meaning shown by `serve --help` and the README, and how its value is read.
    ///
    /// Every setting is one entry of ``WorkerConfiguration/settings``; the flags, the help, the
    /// README table and ``WorkerConfiguration/init(values:)`` all come from that table.
    public struct Setting: Sendable {
        /// What an unset setting means.
        public enum Default: Sendable, Hashable {
            /// Unset reads the same as this literal value (a test holds the table to it).
            case value(String)
            /// Unset means off or absent.
            case unset
            /// Unset gives something computed at start, described here.
            case described(String)
        }

        /// Reads one setting into the configuration.
        /// - Parameters:
        ///   - text: the value, trimmed; nil when unset or empty.
        ///   - configuration: the configuration so far (settings earlier in the table are already read).
        /// - Throws: ``ConfigurationError`` naming the variable at fault.
        public typealias Reader =
            @Sendable (_ text: String?, _ configuration: inout WorkerConfiguration)
            throws(ConfigurationError) -> Void

        /// The environment variable, e.g. `CLIPPING_WORKER_PORT`.
        public let variable: String
        /// What leaving it unset means.
        public let defaultValue: Default
        /// One line (Markdown backticks allowed) for `--help` and the README.
        public let meaning: String
        /// A password, token or key: never echoed in errors, and `--help` recommends the environment.
        public let isSecret: Bool
        /// Parses, checks and stores the value; also called when the setting is unset.
        public let read: Reader

        /// Creates a setting whose reader also runs when it is unset (for checks that depend on absence).
        /// - Parameters:
        ///   - variable: the environment variable; the flag is derived from it (``WorkerConfiguration/flagName(_:)``).
        ///   - defaultValue: what unset means.
        ///   - meaning: one line for the help and the README.
        ///   - secret: true for passwords, tokens and keys.
        ///   - read: parses and stores the value, nil when unset.
        public init(
            _ variable: String, default defaultValue: Default, meaning: String, secret: Bool = false,
            read: @escaping Reader
        ) {
            self.variable = variable
            self.defaultValue = defaultValue
            self.meaning = meaning
            self.isSecret = secret
            self.read = read
        }

        /// The flag without its dashes: the variable without `CLIPPING_WORKER_`, lower-case, `_` → `-`.
        public var flag: String { WorkerConfiguration.flagName(variable) }

        /// The default as shown to people (Markdown backticks allowed).
        public var defaultText: String {
            switch defaultValue {
            case .value(let text): "`\(text)`"
            case .unset: "unset"
            case .described(let text): text
            }
        }
    }
}

extension WorkerConfiguration.Setting {
    /// A setting read only when set.
    /// - Parameter parse: parses, checks and stores a set value.
    static func text(
        _ variable: String, default defaultValue: Default, meaning: String, secret: Bool = false,
        parse:
            @escaping @Sendable (_ text: String, _ configuration: inout WorkerConfiguration) throws(ConfigurationError)
            -> Void
    ) -> Self {
        Self(variable, default: defaultValue, meaning: meaning, secret: secret) {
            text, configuration throws(ConfigurationError) in
            if let text { try parse(text, &configuration) }
        }
    }

    /// Free text stored as it is.
    static func string(
        _ variable: String, default defaultValue: Default, meaning: String, secret: Bool = false,
        into field: any WritableKeyPath<WorkerConfiguration, String> & Sendable
    ) -> Self {
        text(variable, default: defaultValue, meaning: meaning, secret: secret) { text, configuration in
            configuration[keyPath: field] = text
        }
    }

    /// Optional free text stored as it is; unset stores nil.
    static func optionalString(
        _ variable: String, meaning: String, secret: Bool = false,
        into field: any WritableKeyPath<WorkerConfiguration, String?> & Sendable
    ) -> Self {
        Self(variable, default: .unset, meaning: meaning, secret: secret) { text, configuration in
            configuration[keyPath: field] = text
        }
    }

    /// An integer in `range`.
    static func integer(
        _ variable: String, default defaultValue: Default, meaning: String, range: ClosedRange<Int>,
        into field: any WritableKeyPath<WorkerConfiguration, Int> & Sendable
    ) -> Self {
        text(variable, default: defaultValue, meaning: meaning) { text, configuration throws(ConfigurationError) in
            guard let number = Int(text), range.contains(number) else {
                throw ConfigurationError(
                    variable, "must be an integer from \(range.lowerBound) to \(range.upperBound), got \"\(text)\"")
            }
            configuration[keyPath: field] = number
        }
    }

    /// A duration in seconds (decimals allowed, at most 10⁷), > 0 or, with `allowZero`, ≥ 0.
    static func seconds(
        _ variable: String, default defaultValue: Default, meaning: String, allowZero: Bool = false,
        into field: any WritableKeyPath<WorkerConfiguration, Duration> & Sendable
    ) -> Self {
        text(variable, default: defaultValue, meaning: meaning) { text, configuration throws(ConfigurationError) in
            guard let number = Double(text), number.isFinite, number >= 0, allowZero || number > 0, number <= 1e7 else {
                throw ConfigurationError(
                    variable, "must be a number of seconds\(allowZero ? " ≥ 0" : " > 0"), got \"\(text)\"")
            }
            configuration[keyPath: field] = .milliseconds(Int64((number * 1000).rounded()))
        }
    }

    /// `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off`, any case.
    static func boolean(
        _ variable: String, default defaultValue: Default, meaning: String,
        into field: any WritableKeyPath<WorkerConfiguration, Bool> & Sendable
    ) -> Self {
        text(variable, default: defaultValue, meaning: meaning) { text, configuration throws(ConfigurationError) in
            switch text.lowercased() {
            case "true", "1", "yes", "on": configuration[keyPath: field] = true
            case "false", "0", "no", "off": configuration[keyPath: field] = false
            default: throw ConfigurationError(variable, "must be true or false, got \"\(text.lowercased())\"")
            }
        }
    }
}
