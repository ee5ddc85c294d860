import Foundation
import WorkerCore
import WorkerPipeline

/// Renders one clip with ffmpeg: H.264/AAC MP4 in the platform's frame, captions burned from the
/// transcript's words when asked and when there is text (``CaptionTrack``). A source without
/// audio gets a silent track, so every clip has audio.
struct ClipRenderer: Sendable {
    let ffmpeg: String

    /// 9:16 1080×1920 for the short-form platforms (cut out by a ``CropPlan``, centred unless
    /// framing found a face), 16:9 1920×1080 (letterboxed) for YouTube.
    static func frame(for platform: TargetPlatform) -> (width: Int, height: Int, vertical: Bool) {
        switch platform {
        case .youtube: return (1920, 1080, false)
        case .tiktok, .youtubeShorts, .instagramReels: return (1080, 1920, true)
        }
    }

    /// Renders `clip` of `source` to `output`.
    /// - Parameters:
    ///   - crop: the 9:16 window (ignored for 16:9 output); nil: the centred one.
    ///   - words: the transcript's timed words (``SpokenWords/words(_:)``), for captions.
    /// - Throws: ``PipelineError`` `render_failed` with ffmpeg's last words in its detail.
    func render(
        source: String, info: MediaInfo, clip: PlannedClip, spec: JobSpec, words: [Transcript.Word], crop: CropPlan?,
        to output: String, workDirectory: String
    ) async throws {
        let frame = Self.frame(for: spec.targetPlatform)
        var filters: String
        if frame.vertical {
            let window = crop ?? CropPlan.centred(sourceWidth: info.width, sourceHeight: info.height)
            filters = window.filter + ",scale=\(frame.width):\(frame.height),setsar=1"
        } else {
            filters = "scale=1920:1080:force_original_aspect_ratio=decrease,pad=1920:1080:(ow-iw)/2:(oh-ih)/2,setsar=1"
        }
        if spec.includeCaptions, !words.isEmpty {
            let track = CaptionTrack(words: words, startMs: clip.startTimeMs, endMs: clip.endTimeMs)
            if !track.cues.isEmpty {
                let path = workDirectory + "/clip_\(clip.clipIndex).ass"
                do {
                    try track.ass(width: frame.width, height: frame.height).write(toFile: path, atomically: true, encoding: .utf8)
                } catch {
                    throw PipelineError(.renderFailed, "Rendering clip \(clip.clipIndex) failed", detail: "captions: \(error)")
                }
                filters += ",subtitles=filename=\(path)"
            }
        }
        let seconds = { (ms: Int) in String(format: "%.3f", Double(ms) / 1000) }
        var arguments = ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-ss", seconds(clip.startTimeMs), "-i", source]
        if !info.hasAudio { arguments += ["-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo"] }
        arguments += ["-t", seconds(clip.endTimeMs - clip.startTimeMs), "-vf", filters, "-map", "0:v:0"]
        arguments += info.hasAudio ? ["-map", "0:a:0"] : ["-map", "1:a:0", "-shortest"]
        arguments += [
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
            "-movflags", "+faststart", output,
        ]
        let result = try await Subprocess.run(
            ffmpeg, arguments, timeLimit: Subprocess.Limit.render(durationMs: clip.endTimeMs - clip.startTimeMs))
        guard result.status == 0 else {
            throw PipelineError(
                .renderFailed, "Rendering clip \(clip.clipIndex) failed (ffmpeg exit \(result.status))",
                detail: String(result.stderrText.suffix(300)))
        }
    }
}
