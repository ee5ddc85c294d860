/// Where the ffmpeg engine gets what is said (`CLIPPING_WORKER_TRANSCRIBER`, SPEC section 3).
public enum TranscriptSource: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The first available of: the command, an embedded subtitle stream, a sidecar file, the
    /// built-in speech-to-text, silence detection.
    case auto
    /// `CLIPPING_WORKER_TRANSCRIBE_COMMAND`.
    case command
    /// A subtitle stream inside the video.
    case embedded
    /// An `.srt` or `.vtt` beside a `file://` video.
    case sidecar
    /// The built-in speech-to-text (faster-whisper, installed by `scripts/install-engines.sh`).
    case whisper
    /// Speech times from ffmpeg's `silencedetect`; no words.
    case silence

    public var description: String { rawValue }
}
