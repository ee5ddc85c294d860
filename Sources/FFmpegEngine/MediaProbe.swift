import Foundation
import WorkerCore
import WorkerPipeline

/// What ffprobe says about a source.
struct MediaInfo: Sendable, Hashable {
    var durationMs: Int
    var width: Int
    var height: Int
    var hasAudio: Bool
    var subtitleStreams: Int
    /// The container's title tag, if any.
    var title: String?
}

/// Probes media with ffprobe and refuses what is not a usable video, with a clear reason.
struct MediaProbe: Sendable {
    let ffprobe: String

    func probe(_ path: String) async throws -> MediaInfo {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        guard size > 0 else { throw PipelineError(.invalidMedia, "The video file is empty") }
        let output = try await Subprocess.run(
            ffprobe, ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", path],
            timeLimit: Subprocess.Limit.probe)
        guard output.status == 0 else {
            let reason = output.stderrText.split(separator: "\n").last.map(String.init) ?? "unreadable"
            throw PipelineError(.invalidMedia, "The file is not a readable video: \(Self.clean(reason, path: path))")
        }
        struct Probe: Decodable {
            struct Stream: Decodable {
                var codec_type: String?
                var width: Int?
                var height: Int?
                var duration: String?
                var disposition: [String: Int]?
            }
            struct Format: Decodable {
                var duration: String?
                var tags: [String: String]?
            }
            var streams: [Stream]?
            var format: Format?
        }
        guard let probe = try? JSONDecoder().decode(Probe.self, from: output.stdout) else {
            throw PipelineError(.invalidMedia, "The file is not a readable video")
        }
        let streams = probe.streams ?? []
        // Cover art in audio files is a video stream with the attached_pic disposition.
        guard let video = streams.first(where: { $0.codec_type == "video" && ($0.disposition?["attached_pic"] ?? 0) == 0 }),
            let width = video.width, let height = video.height, width > 0, height > 0
        else { throw PipelineError(.invalidMedia, "The file has no video stream") }
        let seconds = Double(probe.format?.duration ?? video.duration ?? "") ?? 0
        guard seconds > 0.1 else { throw PipelineError(.invalidMedia, "The video has no duration (corrupt or empty)") }
        let title = probe.format?.tags?.first(where: { $0.key.lowercased() == "title" })?.value
        return MediaInfo(
            durationMs: Int(seconds * 1000), width: width, height: height,
            hasAudio: streams.contains { $0.codec_type == "audio" },
            subtitleStreams: streams.filter { $0.codec_type == "subtitle" }.count,
            title: title.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// ffprobe prefixes messages with the path; keep only the reason.
    static func clean(_ message: String, path: String) -> String {
        message.replacingOccurrences(of: path + ": ", with: "").trimmingCharacters(in: .whitespaces)
    }
}
