import FFmpegEngine

extension WorkerConfiguration {
    /// What the start-up log says about the ffmpeg engine's sources, so an operator sees at once
    /// whether the built-in speech-to-text and face framing are installed: the transcript sources
    /// in the order `auto` tries them (or the forced one), e.g. `embedded,sidecar,whisper,silence`;
    /// `none` for the simulated engine.
    public var transcriptSourcesSummary: String {
        guard engine == "ffmpeg",
            let engine = FFmpegMediaEngine(
                transcribeCommand: transcribeCommand, transcriber: transcriber, helpers: engineHelpers,
                whisperModel: whisperModel)
        else { return "none" }
        return engine.transcriptSources.map(\.rawValue).joined(separator: ",")
    }

    /// `faces` when 9:16 crops follow the speaker, `centre` when the face helper is missing.
    public var framingSummary: String {
        engine == "ffmpeg" && engineHelpers.faces != nil ? "faces" : "centre"
    }
}
