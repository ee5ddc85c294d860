@testable import FFmpegEngine
import Foundation

/// The installed engine helpers, for the tests that need them.
///
/// On a developer's machine without them those tests are skipped; `scripts/test.sh` (CI)
/// installs them and sets `CLIPPING_WORKER_TEST_REQUIRE_ENGINES=1`, which makes them run
/// regardless, so a missing helper there fails instead of passing silently.
enum EngineTestSupport {
    static let helpers = EngineHelpers.discover()
    static let required = ProcessInfo.processInfo.environment["CLIPPING_WORKER_TEST_REQUIRE_ENGINES"] == "1"
    static var enabled: Bool { required || (helpers.whisper != nil && helpers.faces != nil) }

    /// The multilingual model `scripts/install-engines.sh --multilingual` puts beside the helpers.
    static var multilingualModel: String? {
        guard let helper = helpers.whisper else { return nil }
        let bin = URL(fileURLWithPath: helper).resolvingSymlinksInPath().deletingLastPathComponent()
        let model = bin.deletingLastPathComponent().appendingPathComponent("models/whisper-base").path
        return FileManager.default.fileExists(atPath: model + "/model.bin") ? model : nil
    }
    /// Tests of the multilingual model run when it is installed, or when the engines are required.
    static var multilingualEnabled: Bool { required || multilingualModel != nil }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures").path

    /// A program that ended with a status other than 0, with what it printed on stderr.
    struct ProgramFailed: Error, CustomStringConvertible {
        var command: String
        var status: Int32
        var stderr: String
        var description: String { "\(command) exited with \(status): \(stderr.suffix(400))" }
    }

    /// Runs a program to its end; its stdout. Throws ``ProgramFailed`` when it does not exit 0.
    ///
    /// Through the engine's own `Subprocess` (posix_spawn, output to files), not Foundation's
    /// `Process`: tests run in parallel, and a grab that raced other tests' `Process` launches
    /// was seen to read an empty stdout from an ffmpeg that had produced its frame.
    /// - Parameter input: written to a file that becomes the program's stdin.
    static func run(_ executable: String, _ arguments: [String], input: Data? = nil) async throws -> Data {
        // Far above what any of these takes; a program that hangs fails its test instead of the run.
        let timeLimit: Duration = .seconds(120)
        let output: Subprocess.Output
        if let input {
            let file = NSTemporaryDirectory() + "stdin-\(UUID().uuidString)"
            try input.write(to: URL(fileURLWithPath: file))
            defer { try? FileManager.default.removeItem(atPath: file) }
            output = try await Subprocess.pipeline(
                .init(executable: "/bin/cat", arguments: [file]), into: .init(executable: executable, arguments: arguments),
                timeLimit: timeLimit
            ).consumer
        } else {
            output = try await Subprocess.run(executable, arguments, timeLimit: timeLimit)
        }
        guard output.status == 0 else {
            throw ProgramFailed(
                command: ([executable] + arguments).joined(separator: " "), status: output.status, stderr: output.stderrText)
        }
        return output.stdout
    }

    /// One frame of a video at `seconds`, as 8-bit gray pixels of `width`×`height`.
    static func grayFrame(_ path: String, at seconds: Double, width: Int, height: Int, filter: String? = nil) async throws -> Data {
        let scale = "scale=\(width):\(height),format=gray"
        return try await run(
            "/usr/bin/ffmpeg",
            ["-v", "error", "-ss", String(seconds), "-i", path, "-frames:v", "1", "-vf",
             filter.map { "\($0),\(scale)" } ?? scale, "-f", "rawvideo", "-pix_fmt", "gray", "-"])
    }

    /// The face helper's boxes in one gray frame.
    static func faces(in frame: Data, width: Int, height: Int) async throws -> [[Int]] {
        guard let helper = helpers.faces else { return [] }
        let data = try await run(helper, ["--width", "\(width)", "--height", "\(height)"], input: frame)
        struct Line: Decodable { var faces: [[Int]] }
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "{}"
        return (try? JSONDecoder().decode(Line.self, from: Data(line.utf8)))?.faces ?? []
    }
}
