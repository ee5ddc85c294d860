import Foundation
import WorkerCore
import WorkerPipeline

/// Scene changes: frames whose ffmpeg scene score passes 0.3 (on a 160-pixel-wide copy, which
/// finds the same hard cuts at a fraction of the cost).
struct SceneDetector: Sendable {
    let ffmpeg: String

    /// - Parameter durationMs: the video's length, which sets the time limit of the pass.
    func cuts(_ path: String, durationMs: Int) async throws -> [Int] {
        let output = try await Subprocess.run(
            ffmpeg,
            ["-hide_banner", "-nostats", "-i", path, "-an", "-vf", "scale=160:-2,select='gt(scene,0.3)',showinfo", "-f", "null", "-"],
            timeLimit: Subprocess.Limit.pass(durationMs: durationMs))
        guard output.status == 0 else { throw PipelineError(.invalidMedia, "Scene detection failed") }
        return output.stderrText.split(separator: "\n").compactMap { line in
            guard line.contains("Parsed_showinfo"), let range = line.range(of: "pts_time:") else { return nil }
            return Double(line[range.upperBound...].prefix { $0 == "." || $0.isNumber }).map { Int($0 * 1000) }
        }
    }
}
