import Foundation
public import WebhookCore
public import WorkerCore
public import WorkerPipeline

/// The real engine: ffprobe and ffmpeg do the media work (SPEC section 4, issues "ffmpeg engine"
/// and #13).
///
/// - transcribe: see ``Transcriber`` (command, embedded subtitles, sidecar file, built-in
///   speech-to-text, silence detection; `CLIPPING_WORKER_TRANSCRIBER` may force one).
/// - plan: ``ClipPlanner`` on the words and sentences, then
/// - detect: ffmpeg scene changes refine the plan; with the face helper installed, each planned
///   clip is sampled and framed (``FaceSampler``, ``FaceFraming``: crop on the speaker, layout
///   from the faces); without it, the layout comes from speech and cuts: `talking_head` (speech
///   over half the clip and at most one cut per 20 s), `dynamic` (3 or more cuts), else `unknown`.
/// - render: ``ClipRenderer``, word-timed captions, one progress event per clip ("Rendering clip 3/5...").
/// - upload: clips, `transcript.json` and `plan.json` through the job's ``OutputStorage`` (the
///   media directory served under `/media/<job_id>/`, or S3).
/// Nothing is invented: without transcript text, summaries and tags say so or stay empty.
public struct FFmpegMediaEngine: ClippingEngine {
    public let name = "ffmpeg"
    private let ffmpeg: String
    private let ffprobe: String
    private let transcribeCommand: [String]?
    private let source: TranscriptSource
    private let helpers: EngineHelpers
    private let whisperModel: String?

    /// The engine, if `ffmpeg` and `ffprobe` are on PATH.
    /// - Parameters:
    ///   - transcribeCommand: `CLIPPING_WORKER_TRANSCRIBE_COMMAND`, split on spaces.
    ///   - transcriber: `CLIPPING_WORKER_TRANSCRIBER`.
    ///   - helpers: the installed helper programs (``EngineHelpers/discover(environment:)``);
    ///     none by default.
    ///   - whisperModel: `CLIPPING_WORKER_WHISPER_MODEL`; nil for the packaged English model.
    public init?(
        transcribeCommand: String? = nil, transcriber: TranscriptSource = .auto, helpers: EngineHelpers = EngineHelpers(),
        whisperModel: String? = nil
    ) {
        guard let ffmpeg = Subprocess.which("ffmpeg"), let ffprobe = Subprocess.which("ffprobe") else { return nil }
        self.ffmpeg = ffmpeg
        self.ffprobe = ffprobe
        self.transcribeCommand = transcribeCommand.map { $0.split(separator: " ").map(String.init) }.flatMap { $0.isEmpty ? nil : $0 }
        self.source = transcriber
        self.helpers = helpers
        self.whisperModel = whisperModel
    }

    /// True when `ffmpeg` and `ffprobe` are on PATH.
    public static var isAvailable: Bool { Subprocess.which("ffmpeg") != nil && Subprocess.which("ffprobe") != nil }

    /// The transcript sources this engine can use, in `auto` order (for the start-up log).
    public var transcriptSources: [TranscriptSource] {
        if source != .auto { return [source] }
        return [transcribeCommand == nil ? nil : .command, .embedded, .sidecar, helpers.whisper == nil ? nil : .whisper, .silence]
            .compactMap { $0 }
    }

    /// True when the face helper is installed: 9:16 crops follow the speaker.
    public var framesFaces: Bool { helpers.faces != nil }

    public func process(
        _ context: EngineContext, enter: @Sendable (JobStatus) async -> Void, reporter: any StageReporter
    ) async throws -> JobOutput {
        let spec = context.job.spec
        let info = try await MediaProbe(ffprobe: ffprobe).probe(context.source.path)

        await enter(.transcribing)
        let transcriber = Transcriber(
            ffmpeg: ffmpeg, command: transcribeCommand, source: source,
            whisper: helpers.whisper.map { WhisperTranscriber(helper: $0, model: whisperModel) })
        let transcript = try await transcriber.transcribe(
            context.source.path, info: info, originalURL: context.source.url,
            progress: { fraction in
                await reporter.report(fraction: fraction, step: "Transcribing speech...", clipsCompleted: nil, totalClips: nil)
            })

        await enter(.planning)
        let draft = ClipPlanner.plan(spec: spec, durationMs: info.durationMs, speech: transcript.segments, cuts: [])

        await enter(.detecting)
        // Scene cuts add starts and snap points; without any, the speech-only draft stands.
        let cuts = try await SceneDetector(ffmpeg: ffmpeg).cuts(context.source.path, durationMs: info.durationMs)
        var plan = cuts.isEmpty
            ? draft : ClipPlanner.plan(spec: spec, durationMs: info.durationMs, speech: transcript.segments, cuts: cuts)
        guard !plan.isEmpty else { throw PipelineError(.invalidMedia, "No clip fits the requested durations") }
        var crops = [Int: CropPlan]()
        if let faces = helpers.faces {
            let sampler = FaceSampler(ffmpeg: ffmpeg, helper: faces)
            for index in plan.indices {
                await reporter.report(
                    fraction: Double(index) / Double(plan.count), step: "Finding faces in clip \(index + 1)/\(plan.count)...",
                    clipsCompleted: nil, totalClips: plan.count)
                let samples: [FaceSample]
                do {
                    samples = try await sampler.sample(
                        context.source.path, info: info, from: plan[index].startTimeMs, to: plan[index].endTimeMs)
                } catch let error as PipelineError {
                    // Framing is an improvement, not a requirement: a helper that fails (or runs
                    // out of time) leaves this clip centre-cropped, and says so; a cancel still ends the job.
                    plan[index].reasons.append("framing: centre crop (face detection failed: \(error.message))")
                    continue
                }
                let decision = FaceFraming.decide(
                    clip: plan[index], samples: samples, cuts: cuts, sourceWidth: info.width, sourceHeight: info.height)
                plan[index].layoutType = decision.layout
                plan[index].reasons += decision.reasons
                crops[plan[index].clipIndex] = decision.crop
            }
        } else {
            for index in plan.indices {
                plan[index].reasons.append("framing: centre crop (face detection is not installed on this worker)")
            }
        }
        let words = SpokenWords.words(transcript.segments)

        await enter(.rendering)
        let renderer = ClipRenderer(ffmpeg: ffmpeg)
        var rendered = [(PlannedClip, String)]()
        for (offset, clip) in plan.enumerated() {
            await reporter.report(
                fraction: Double(offset) / Double(plan.count), step: "Rendering clip \(offset + 1)/\(plan.count)...",
                clipsCompleted: offset, totalClips: plan.count)
            let path = context.workDirectory + "/clip_\(clip.clipIndex).mp4"
            try await renderer.render(
                source: context.source.path, info: info, clip: clip, spec: spec, words: words, crop: crops[clip.clipIndex],
                to: path, workDirectory: context.workDirectory)
            rendered.append((clip, path))
        }

        await enter(.uploading)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        struct PlanFile: Encodable { var clips: [PlannedClip] }
        let transcriptPath = context.workDirectory + "/transcript.json"
        let planPath = context.workDirectory + "/plan.json"
        do {
            try encoder.encode(transcript).write(to: URL(fileURLWithPath: transcriptPath))
            try encoder.encode(PlanFile(clips: plan)).write(to: URL(fileURLWithPath: planPath))
        } catch {
            throw PipelineError(.uploadFailed, "Failed to store outputs", detail: "\(error)")
        }
        let storage = context.storage
        let jobID = context.job.id
        var clips = [JobOutput.Clip]()
        for (clip, path) in rendered {
            let url = try await storage.store(path, as: "clip_\(clip.clipIndex).mp4", jobID: jobID, contentType: "video/mp4")
            clips.append(
                JobOutput.Clip(
                    clipIndex: clip.clipIndex, s3URL: url, durationMs: clip.endTimeMs - clip.startTimeMs,
                    startTimeMs: clip.startTimeMs, endTimeMs: clip.endTimeMs, viralityScore: clip.viralityScore,
                    layoutType: clip.layoutType, summary: clip.summary, tags: clip.tags))
        }
        let transcriptURL = try await storage.store(transcriptPath, as: "transcript.json", jobID: jobID, contentType: "application/json")
        let planURL = try await storage.store(planPath, as: "plan.json", jobID: jobID, contentType: "application/json")
        let title = info.title ?? URL(fileURLWithPath: URL(string: spec.videoURL)?.path ?? spec.videoURL).deletingPathExtension().lastPathComponent
        return JobOutput(
            jobID: context.job.id, sourceVideoURL: spec.videoURL, sourceVideoTitle: title,
            sourceVideoDurationSeconds: Double(info.durationMs) / 1000, totalClips: clips.count, clips: clips,
            transcriptURL: transcriptURL, planURL: planURL,
            processingTimeSeconds: 0, createdAt: context.job.createdAt.iso8601, engine: name)
    }
}
