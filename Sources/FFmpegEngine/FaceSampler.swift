import Foundation
import Synchronization
import WorkerCore
import WorkerPipeline

/// What the face helper saw in one sampled frame, in source pixels.
struct FaceSample: Sendable, Hashable {
    struct Box: Sendable, Hashable {
        var x: Double
        var y: Double
        var width: Double
        var height: Double
        var centerX: Double { x + width / 2 }
    }

    /// Time in the source.
    var timeMs: Int
    /// Largest first.
    var faces: [Box]
    /// Mean absolute difference from the previous sample (gray levels); nil for the first.
    var motion: Double?
    /// Share of pixels on an edge.
    var edges: Double
}

/// Samples a time range of the source at ``framesPerSecond`` and runs the face helper on it:
/// ffmpeg decodes only that range (input seeking), scales to ``sampleWidth`` gray pixels and
/// pipes the raw frames straight into `clipping-worker-faces` (`engines/face_boxes.py`), which
/// prints one JSON line per frame. Frames stream through the pipe; none is kept.
struct FaceSampler: Sendable {
    let ffmpeg: String
    let helper: String

    /// The ceiling: at most 2 frames per second of clip.
    static let framesPerSecond = 2
    /// 640 pixels wide: a face of 8 % of the frame is 51 px there, well above the detector's
    /// smallest (25 px); measured 9–39 ms per 640×360 frame on one thread.
    static let sampleWidth = 640

    private struct Line: Decodable {
        var i: Int
        var faces: [[Double]]
        var motion: Double?
        var edges: Double
    }

    /// The samples of `[startMs, endMs)`.
    /// - Throws: ``PipelineError`` when ffmpeg or the helper fails; `timeout` past a minute plus
    ///   the range's own length.
    func sample(_ path: String, info: MediaInfo, from startMs: Int, to endMs: Int) async throws -> [FaceSample] {
        let width = min(Self.sampleWidth, info.width) / 2 * 2
        let height = max(2, Int((Double(width) * Double(info.height) / Double(info.width)).rounded()) / 2 * 2)
        let scale = Double(info.width) / Double(width)
        let seconds = { (ms: Int) in String(format: "%.3f", Double(ms) / 1000) }
        let producer = Subprocess.Command(
            executable: ffmpeg,
            arguments: [
                "-hide_banner", "-loglevel", "error", "-nostdin", "-ss", seconds(startMs), "-i", path,
                "-t", seconds(endMs - startMs), "-an", "-sn", "-vf",
                "fps=\(Self.framesPerSecond),scale=\(width):\(height),format=gray", "-f", "rawvideo", "-pix_fmt", "gray", "-",
            ])
        let consumer = Subprocess.Command(
            executable: helper, arguments: ["--width", "\(width)", "--height", "\(height)"])
        let samples = Mutex<[FaceSample]>([])
        let step = 1000 / Self.framesPerSecond
        let result = try await Subprocess.pipeline(
            producer, into: consumer, timeLimit: .seconds(60) + .milliseconds(endMs - startMs),
            onLine: { text in
                guard let line = try? JSONDecoder().decode(Line.self, from: Data(text.utf8)) else { return }
                let boxes = line.faces.filter { $0.count == 4 }.map {
                    FaceSample.Box(x: $0[0] * scale, y: $0[1] * scale, width: $0[2] * scale, height: $0[3] * scale)
                }
                let sample = FaceSample(
                    timeMs: startMs + line.i * step, faces: boxes, motion: line.motion, edges: line.edges)
                samples.withLock { $0.append(sample) }
            })
        guard result.producer.status == 0, result.consumer.status == 0 else {
            throw PipelineError(
                .invalidMedia, "Face detection failed",
                detail: "ffmpeg exit \(result.producer.status): \(result.producer.stderrText.suffix(200)); "
                    + "faces exit \(result.consumer.status): \(result.consumer.stderrText.suffix(200))")
        }
        return samples.withLock { $0 }
    }
}
