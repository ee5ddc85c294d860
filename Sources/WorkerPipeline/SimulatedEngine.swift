import Foundation
public import WebhookCore
public import WorkerCore

/// An engine that does no media work: it spends `stageDuration` per stage and reports clips it
/// did not render, for demos, load tests and benchmarks. It says so: the output's `engine` is
/// `simulated`, clip URLs use the `simulated:` scheme, and the transcript carries a note that no transcription was done.
/// The plan and transcript JSON it writes are real files, stored like any output.
public struct SimulatedEngine<Clock: WorkerClock>: ClippingEngine {
    public let name = "simulated"
    private let stageDuration: Duration
    private let clock: Clock

    /// Creates the engine.
    /// - Parameters:
    ///   - stageDuration: `CLIPPING_WORKER_SIMULATED_STAGE_SECONDS` (default 0.2 s).
    ///   - clock: what it waits on.
    public init(stageDuration: Duration, clock: Clock) {
        self.stageDuration = stageDuration
        self.clock = clock
    }

    public func process(
        _ context: EngineContext, enter: @Sendable (JobStatus) async -> Void, reporter: any StageReporter
    ) async throws -> JobOutput {
        let spec = context.job.spec
        await enter(.transcribing)
        try await wait()
        await enter(.planning)
        try await wait()
        let clips = Self.plan(spec)
        await enter(.detecting)
        try await wait()
        await enter(.rendering)
        for index in clips.indices {
            await reporter.report(
                fraction: Double(index) / Double(clips.count), step: "Rendering clip \(index + 1)/\(clips.count)...",
                clipsCompleted: index, totalClips: clips.count)
            try await clock.sleep(until: clock.now.advanced(by: stageDuration / max(1, clips.count)))
        }
        await enter(.uploading)
        try await wait()
        let transcript = #"{"source":"silence","language":null,"segments":[],"note":"simulated engine: no transcription was done"}"#
        let plan = try String(decoding: JSONEncoder().encode(PlanFile(clips: clips.map(PlanFile.Clip.init))), as: UTF8.self)
        try write(transcript, to: context.workDirectory + "/transcript.json")
        try write(plan, to: context.workDirectory + "/plan.json")
        let transcriptURL = try await context.storage.store(
            context.workDirectory + "/transcript.json", as: "transcript.json", jobID: context.job.id, contentType: "application/json")
        let planURL = try await context.storage.store(
            context.workDirectory + "/plan.json", as: "plan.json", jobID: context.job.id, contentType: "application/json")
        let output = clips.map { clip in
            JobOutput.Clip(
                clipIndex: clip.index, s3URL: "simulated://\(context.job.id)/clip_\(clip.index).mp4",
                durationMs: clip.endMs - clip.startMs, startTimeMs: clip.startMs, endTimeMs: clip.endMs,
                viralityScore: clip.score, layoutType: "unknown", summary: "Simulated clip \(clip.index) (not rendered)",
                tags: ["simulated"])
        }
        return JobOutput(
            jobID: context.job.id, sourceVideoURL: spec.videoURL,
            sourceVideoTitle: URL(string: spec.videoURL).map { $0.deletingPathExtension().lastPathComponent },
            sourceVideoDurationSeconds: nil, totalClips: output.count, clips: output,
            transcriptURL: transcriptURL, planURL: planURL,
            processingTimeSeconds: 0, createdAt: context.job.createdAt.iso8601, engine: name)
    }

    private func wait() async throws {
        try await clock.sleep(until: clock.now.advanced(by: stageDuration))
    }

    private func write(_ text: String, to path: String) throws {
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw PipelineError(.uploadFailed, "Failed to store outputs", detail: "\(error)")
        }
    }

    struct PlannedClip {
        var index: Int
        var startMs: Int
        var endMs: Int
        var score: Double
    }

    /// `max_clips` back-to-back windows whose lengths respect the duration ranges (their
    /// midpoints, in turn) or else min/max, 5 s apart.
    static func plan(_ spec: JobSpec) -> [PlannedClip] {
        var clips = [PlannedClip]()
        var start = 0
        for index in 1...spec.maxClips {
            let seconds: Int
            if spec.durationRanges.isEmpty {
                seconds = min(max(30, spec.minClipDurationSeconds), spec.maxClipDurationSeconds)
            } else {
                let range = spec.durationRanges[(index - 1) % spec.durationRanges.count]
                seconds = (range.lower + range.upper) / 2
            }
            clips.append(
                PlannedClip(index: index, startMs: start, endMs: start + seconds * 1000, score: max(0.1, 0.9 - 0.05 * Double(index - 1))))
            start += (seconds + 5) * 1000
        }
        return clips
    }

    /// The plan JSON of SPEC section 4.
    struct PlanFile: Encodable {
        struct Clip: Encodable {
            var clip_index: Int
            var start_time_ms: Int
            var end_time_ms: Int
            var virality_score: Double
            var layout_type = "unknown"
            var summary: String
            var tags = ["simulated"]
            var reasons = ["simulated engine: evenly spaced windows, no media analysis"]

            init(_ clip: PlannedClip) {
                clip_index = clip.index
                start_time_ms = clip.startMs
                end_time_ms = clip.endMs
                virality_score = clip.score
                summary = "Simulated clip \(clip.index) (not rendered)"
            }
        }
        var clips: [Clip]
    }
}
