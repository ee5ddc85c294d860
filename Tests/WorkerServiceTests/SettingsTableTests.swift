import Foundation
import Testing
import WebhookCore
import WorkerService

/// The table of `serve` settings: flags derived by the SPEC rule, flags over the environment,
/// defaults as documented, and the README generated from it.
struct SettingsTableTests {
    /// SPEC section 3, written out independently of ``WorkerConfiguration/flagName(_:)``.
    static func specFlag(_ variable: String) -> String {
        let name =
            variable.hasPrefix("CLIPPING_WORKER_") ? String(variable.dropFirst("CLIPPING_WORKER_".count)) : variable
        return String(name.lowercased().map { $0 == "_" ? "-" : $0 })
    }

    @Test func everySettingHasTheFlagTheSpecDerives() throws {
        let settings = WorkerConfiguration.settings
        #expect(settings.count == WorkerConfiguration.variables.count)
        #expect(Set(settings.map(\.variable)).count == settings.count, "a variable is listed twice")
        #expect(Set(settings.map(\.flag)).count == settings.count, "two variables share a flag")
        for setting in settings {
            #expect(setting.flag == Self.specFlag(setting.variable), "\(setting.variable)")
            #expect(setting.variable.hasPrefix("CLIPPING_WORKER_") || setting.variable.hasPrefix("WEBHOOK_"))
            #expect(!setting.meaning.isEmpty && !setting.meaning.contains("\n"), "\(setting.variable)")
            // Both spellings reach the variable.
            let spaced = try WorkerConfiguration.values(arguments: ["--\(setting.flag)", "x y"], environment: [:])
            let joined = try WorkerConfiguration.values(arguments: ["--\(setting.flag)=x=y"], environment: [:])
            #expect(spaced == [setting.variable: "x y"] && joined == [setting.variable: "x=y"])
        }
    }

    @Test func flagsWinOverTheEnvironment() throws {
        let environment = Dictionary(uniqueKeysWithValues: WorkerConfiguration.variables.map { ($0, "from-env") })
        for setting in WorkerConfiguration.settings {
            let values = try WorkerConfiguration.values(
                arguments: ["--\(setting.flag)", "from-flag"], environment: environment.merging(["PATH": "/bin"]) { $1 }
            )
            #expect(values[setting.variable] == "from-flag")
            #expect(values["PATH"] == "/bin")
            #expect(values.filter { $0.value == "from-flag" }.count == 1)
        }
        // Through to the configuration; the last of a repeated flag wins.
        let values = try WorkerConfiguration.values(
            arguments: [
                "--port", "9001", "--max-concurrent-jobs=4", "--max-concurrent-jobs", "5", "--webhook-timeout-seconds",
                "1.5",
            ],
            environment: [
                "CLIPPING_WORKER_PORT": "9000", "CLIPPING_WORKER_MAX_CONCURRENT_JOBS": "3",
                "WEBHOOK_MAX_AGE_HOURS": "1",
            ])
        let configuration = try WorkerConfiguration(values: values)
        #expect(configuration.port == 9001 && configuration.maxConcurrentJobs == 5)
        #expect(configuration.webhookTimeout == .milliseconds(1500))
        #expect(configuration.retryPolicy.maxAge == .seconds(3600))
    }

    @Test(arguments: [
        (["--no-such-flag"], "unknown option '--no-such-flag'"),
        (["--no-such-flag=1"], "unknown option '--no-such-flag'"),
        (["--port"], "missing value for '--port <value>'"),
        (["stray"], "unexpected argument 'stray'"),
        (["-p", "1"], "unexpected argument '-p'"),
        (["--CLIPPING_WORKER_PORT", "1"], "unknown option '--CLIPPING_WORKER_PORT'"),
    ])
    func badCommandLinesAreUsageErrors(arguments: [String], message: String) {
        #expect(throws: SettingsUsageError(message)) {
            try WorkerConfiguration.values(arguments: arguments, environment: [:])
        }
    }

    @Test func everyBadValueGivesOneLineNamingTheVariable() {
        // Values most settings refuse, tried on every setting through its flag. A host that is
        // not loopback is refused on behalf of the API token it then needs.
        let related = ["CLIPPING_WORKER_HOST": "CLIPPING_WORKER_API_TOKEN"]
        for setting in WorkerConfiguration.settings {
            for junk in ["-1", "not valid at all", "ftp://x"] {
                let values: [String: String]
                do {
                    values = try WorkerConfiguration.values(arguments: ["--\(setting.flag)", junk], environment: [:])
                } catch {
                    Issue.record("\(error)")
                    continue
                }
                do {
                    _ = try WorkerConfiguration(values: values)
                } catch {
                    let line = error.description
                    #expect(!line.contains("\n"), "\(line)")
                    // The setting itself, or (S3) the setting the group still needs.
                    let named =
                        error.variable == setting.variable || error.variable == related[setting.variable]
                        || (setting.variable.hasPrefix("CLIPPING_WORKER_S3_")
                            && error.variable.hasPrefix("CLIPPING_WORKER_S3_"))
                    #expect(named, "\(setting.variable)=\(junk): \(line)")
                    #expect(line.hasPrefix("\(error.variable) (--\(Self.specFlag(error.variable))): "))
                    if setting.isSecret { #expect(!line.contains(junk), "\(line)") }
                }
            }
        }
    }

    @Test func documentedDefaultsAreTheDefaults() throws {
        let defaults = "\(try WorkerConfiguration(values: [:]))"
        #expect(defaults == "\(WorkerConfiguration())")
        for setting in WorkerConfiguration.settings {
            guard case .value(let text) = setting.defaultValue else { continue }
            let explicit = try WorkerConfiguration(values: [setting.variable: text])
            #expect("\(explicit)" == defaults, "\(setting.variable)=\(text) is not what unset gives")
        }
    }

    @Test func helpListsEveryFlagWithItsVariableDefaultAndMeaning() {
        let help = WorkerConfiguration.flagHelp()
        for line in help.split(separator: "\n") {
            #expect(line.count < 80, "\(line)")
        }
        // Each block, its wrapped lines joined again.
        let blocks = help.replacingOccurrences(of: "\n      ", with: " ").split(separator: "\n").map(String.init)
        #expect(blocks.count == WorkerConfiguration.settings.count)
        for (block, setting) in zip(blocks, WorkerConfiguration.settings) {
            let defaultText = setting.defaultText.replacingOccurrences(of: "`", with: "")
            #expect(block.hasPrefix("  --\(setting.flag) <value> "), "\(block)")
            #expect(block.hasSuffix(" env \(setting.variable), default \(defaultText)"), "\(block)")
            #expect(block.contains(setting.meaning.replacingOccurrences(of: "`", with: "")), "\(block)")
        }
    }

    @Test func readmeConfigurationTableIsTheSettingsTable() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let begin = "<!-- settings:begin -->\n"
        let end = "\n<!-- settings:end -->"
        guard let start = text.range(of: begin), let stop = text.range(of: end, range: start.upperBound..<text.endIndex)
        else {
            Issue.record("README.md lacks the \(begin.dropLast()) … \(end.dropFirst()) markers")
            return
        }
        let table = String(text[start.upperBound..<stop.lowerBound])
        #expect(
            table == WorkerConfiguration.settingsMarkdown,
            "README.md's configuration table differs from the settings table: regenerate it with `swift run clipping-worker serve --print-settings-markdown`"
        )
    }
}
