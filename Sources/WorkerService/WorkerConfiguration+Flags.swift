extension WorkerConfiguration {
    /// The environment with `serve`'s flags laid over it, keyed by variable: flags win.
    ///
    /// Each setting of ``settings`` is a flag `--<flag> VALUE` or `--<flag>=VALUE`; when a flag is
    /// given twice, the last one wins.
    /// - Parameters:
    ///   - arguments: the flags, e.g. `["--port", "0", "--data-dir=/srv/clips"]`.
    ///   - environment: the process environment.
    /// - Returns: `environment` with each flag's value stored under its variable.
    /// - Throws: ``SettingsUsageError`` for an unknown flag, a flag without a value, or a stray argument.
    public static func values(
        arguments: [String], environment: [String: String]
    ) throws(SettingsUsageError) -> [String: String] {
        var values = environment
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw SettingsUsageError("unexpected argument '\(argument)'")
            }
            var name = String(argument.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard let setting = settingsByFlag[name] else {
                throw SettingsUsageError("unknown option '--\(name)'")
            }
            if value == nil {
                guard index < arguments.endIndex else {
                    throw SettingsUsageError("missing value for '--\(name) <value>'")
                }
                value = arguments[index]
                index += 1
            }
            values[setting.variable] = value
        }
        return values
    }

    private static let settingsByFlag = Dictionary(settings.map { ($0.flag, $0) }) { first, _ in first }
}
