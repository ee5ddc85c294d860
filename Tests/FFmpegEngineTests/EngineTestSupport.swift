import FFmpegEngine
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

    /// Runs a program to its end; its stdout.
    static func run(_ executable: String, _ arguments: [String], input: Data? = nil) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let inputPipe = Pipe()
        if input != nil { process.standardInput = inputPipe }
        try process.run()
        if let input {
            inputPipe.fileHandleForWriting.write(input)
            try inputPipe.fileHandleForWriting.close()
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return data
    }

    /// One frame of a video at `seconds`, as 8-bit gray pixels of `width`×`height`.
    static func grayFrame(_ path: String, at seconds: Double, width: Int, height: Int, filter: String? = nil) throws -> Data {
        let scale = "scale=\(width):\(height),format=gray"
        return try run(
            "/usr/bin/ffmpeg",
            ["-v", "error", "-ss", String(seconds), "-i", path, "-frames:v", "1", "-vf",
             filter.map { "\($0),\(scale)" } ?? scale, "-f", "rawvideo", "-pix_fmt", "gray", "-"])
    }

    /// The face helper's boxes in one gray frame.
    static func faces(in frame: Data, width: Int, height: Int) throws -> [[Int]] {
        guard let helper = helpers.faces else { return [] }
        let data = try run(helper, ["--width", "\(width)", "--height", "\(height)"], input: frame)
        struct Line: Decodable { var faces: [[Int]] }
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "{}"
        return (try? JSONDecoder().decode(Line.self, from: Data(line.utf8)))?.faces ?? []
    }
}
