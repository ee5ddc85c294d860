import Foundation
import WorkerCore
import WorkerPipeline

/// Renders one clip with ffmpeg: H.264/AAC MP4 in the platform's frame, captions burned from the
/// transcript when asked and when there is text. A source without audio gets a silent track, so
/// every clip has audio.
struct ClipRenderer: Sendable {
    let ffmpeg: String

    /// 9:16 1080×1920 (center crop) for the short-form platforms, 16:9 1920×1080 (letterboxed) for YouTube.
    static func frame(for platform: TargetPlatform) -> (width: Int, height: Int, filter: String) {
        switch platform {
        case .youtube:
            return (1920, 1080, "scale=1920:1080:force_original_aspect_ratio=decrease,pad=1920:1080:(ow-iw)/2:(oh-ih)/2,setsar=1")
        case .tiktok, .youtubeShorts, .instagramReels:
            return (1080, 1920, "scale=1080:1920:force_original_aspect_ratio=increase,crop=1080:1920,setsar=1")
        }
    }

    func render(
        source: String, info: MediaInfo, clip: PlannedClip, spec: JobSpec, transcript: Transcript, to output: String,
        workDirectory: String
    ) async throws {
        let frame = Self.frame(for: spec.targetPlatform)
        var filters = frame.filter
        if spec.includeCaptions, transcript.hasText {
            let srt = workDirectory + "/clip_\(clip.clipIndex).srt"
            try Self.clipSubtitles(transcript, from: clip.startTimeMs, to: clip.endTimeMs).write(
                toFile: srt, atomically: true, encoding: .utf8)
            let size = frame.height > frame.width ? 14 : 20
            filters += ",subtitles=filename=\(srt):force_style='FontSize=\(size),Outline=2,Alignment=2,MarginV=40'"
        }
        let seconds = { (ms: Int) in String(format: "%.3f", Double(ms) / 1000) }
        var arguments = ["-hide_banner", "-loglevel", "error", "-y", "-ss", seconds(clip.startTimeMs), "-i", source]
        if !info.hasAudio { arguments += ["-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo"] }
        arguments += ["-t", seconds(clip.endTimeMs - clip.startTimeMs), "-vf", filters, "-map", "0:v:0"]
        arguments += info.hasAudio ? ["-map", "0:a:0"] : ["-map", "1:a:0", "-shortest"]
        arguments += [
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
            "-movflags", "+faststart", output,
        ]
        let result = try await Subprocess.run(ffmpeg, arguments)
        guard result.status == 0 else {
            throw PipelineError(
                .renderFailed, "Rendering clip \(clip.clipIndex) failed (ffmpeg exit \(result.status))",
                detail: String(result.stderrText.suffix(300)))
        }
    }

    /// The transcript's cues inside the clip, shifted to start at zero, as SRT.
    static func clipSubtitles(_ transcript: Transcript, from start: Int, to end: Int) -> String {
        func stamp(_ ms: Int) -> String {
            String(format: "%02d:%02d:%02d,%03d", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
        }
        var out = ""
        var number = 1
        for segment in transcript.segments where segment.endMs > start && segment.startMs < end {
            guard let text = segment.text, !text.isEmpty else { continue }
            out += "\(number)\n\(stamp(max(0, segment.startMs - start))) --> \(stamp(min(end, segment.endMs) - start))\n\(text)\n\n"
            number += 1
        }
        return out
    }
}
