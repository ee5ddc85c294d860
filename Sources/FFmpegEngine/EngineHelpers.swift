import Foundation

/// The optional helper programs of the ffmpeg engine, installed beside the worker by
/// `scripts/install-engines.sh` (never a build dependency): a worker without them runs as
/// before, with fewer transcript sources and blind centre crops, and says so at start.
public struct EngineHelpers: Sendable, Hashable {
    /// `clipping-worker-whisper`: media path in, transcript JSON lines out.
    public var whisper: String?
    /// `clipping-worker-faces`: raw gray frames in, face boxes as JSON lines out.
    public var faces: String?

    /// The launchers' names, as the install script writes them.
    public static let whisperName = "clipping-worker-whisper"
    public static let facesName = "clipping-worker-faces"

    /// The one line `serve` prints when a forced `whisper` source is missing.
    public static let installHint =
        "the built-in speech-to-text is not installed: run scripts/install-engines.sh (deploy/README.md, \"Engine helpers\")"

    /// Creates a set of helpers from explicit paths (tests, or a caller that found them itself).
    public init(whisper: String? = nil, faces: String? = nil) {
        self.whisper = whisper
        self.faces = faces
    }

    /// Finds the launchers: first in `PATH`, then in the install script's default directories
    /// (`/opt/clipping-worker/engines/bin` when installed as root,
    /// `${XDG_DATA_HOME:-~/.local/share}/clipping-worker/engines/bin` otherwise), so a worker
    /// started by systemd or a test finds them without a PATH edit.
    /// - Parameter environment: `PATH`, `HOME` and `XDG_DATA_HOME` are read from it; nil: this
    ///   process's environment.
    public static func discover(environment: [String: String]? = nil) -> EngineHelpers {
        let environment = environment ?? ProcessInfo.processInfo.environment
        var directories = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        directories.append("/opt/clipping-worker/engines/bin")
        if let data = environment["XDG_DATA_HOME"], !data.isEmpty {
            directories.append(data + "/clipping-worker/engines/bin")
        }
        if let home = environment["HOME"], !home.isEmpty {
            directories.append(home + "/.local/share/clipping-worker/engines/bin")
        }
        func find(_ name: String) -> String? {
            directories.lazy.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        }
        return EngineHelpers(whisper: find(whisperName), faces: find(facesName))
    }
}
