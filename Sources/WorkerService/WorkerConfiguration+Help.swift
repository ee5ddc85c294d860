import Foundation

extension WorkerConfiguration {
    /// The settings as `serve --help` lists them: each flag on a line, then its meaning, then its
    /// variable and default, indented and wrapped to `width` columns.
    /// - Parameter width: the column limit; argument-parser re-wraps lines of 80 columns or more
    ///   without indenting them.
    /// - Returns: one block of lines per setting.
    public static func flagHelp(width: Int = 78) -> String {
        settings.map { setting in
            var meaning = plain(setting.meaning)
            if setting.isSecret { meaning += " (secret: prefer the environment variable)" }
            let source = "env \(setting.variable), default \(plain(setting.defaultText))"
            return
                (["  --\(setting.flag) <value>"] + wrap(meaning, width: width, indent: 6)
                + wrap(source, width: width, indent: 6))
                .joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// The README's configuration table (between `<!-- settings:begin -->` and
    /// `<!-- settings:end -->`); a test keeps the README equal to it, and
    /// `clipping-worker serve --print-settings-markdown` prints it.
    public static var settingsMarkdown: String {
        var lines = ["| env | flag | default | meaning |", "|---|---|---|---|"]
        for setting in settings {
            let meaning = setting.meaning + (setting.isSecret ? " (secret)" : "")
            let cells = ["`\(setting.variable)`", "`--\(setting.flag)`", setting.defaultText, meaning]
            lines.append(
                "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }

    private static func plain(_ markdown: String) -> String {
        markdown.replacingOccurrences(of: "`", with: "")
    }

    private static func wrap(_ text: String, width: Int, indent: Int) -> [String] {
        let prefix = String(repeating: " ", count: indent)
        var lines = [String]()
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && indent + line.count + 1 + word.count > width {
                lines.append(prefix + line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(prefix + line) }
        return lines
    }
}
