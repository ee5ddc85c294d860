public import CurlTransport
import Foundation
import WebhookCore
import WorkerCore

/// The download stage, real for every engine: http(s) through libcurl (the URL policy checked
/// again on the resolved address), or a `file://` URL under the local media directory.
public struct MediaDownloader: Sendable {
    private let client: CurlHTTPClient
    private let localMediaDirectory: String?
    private let maxBytes: Int64
    private let timeout: Duration

    /// Creates a downloader.
    /// - Parameters:
    ///   - client: a client whose network policy guards downloads.
    ///   - localMediaDirectory: where `file://` videos may come from.
    ///   - maxBytes: largest accepted video (default 4 GiB).
    ///   - timeout: for the whole download (default 30 min).
    public init(client: CurlHTTPClient, localMediaDirectory: String?, maxBytes: Int64 = 4 << 30, timeout: Duration = .seconds(1800)) {
        self.client = client
        self.localMediaDirectory = localMediaDirectory
        self.maxBytes = maxBytes
        self.timeout = timeout
    }

    /// Fetches `url` into `directory` (http) or checks it in place (file).
    /// - Throws: ``PipelineError`` such as `Failed to download video: HTTP 404`.
    public func fetch(_ url: String, into directory: String) async throws -> SourceMedia {
        if url.lowercased().hasPrefix("file:") {
            guard let localMediaDirectory, let path = JobRequestValidator.localPath(of: url, under: localMediaDirectory)
            else { throw PipelineError(.downloadFailed, "Failed to download video: file URLs must name a file under the local media directory") }
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                attributes[.type] as? FileAttributeType == .typeRegular
            else { throw PipelineError(.downloadFailed, "Failed to download video: no such file") }
            return SourceMedia(path: path, bytes: (attributes[.size] as? NSNumber)?.int64Value ?? 0, url: url)
        }
        let name = URL(string: url)?.lastPathComponent.filter { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" } ?? ""
        let path = directory + "/source-" + (name.isEmpty || name == "." || name == ".." ? "video" : name)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw PipelineError(.internal, "Failed to download video: cannot create a work file") }
        defer { close(descriptor) }
        do {
            let (response, bytes) = try await client.download(url, to: descriptor, maxBytes: maxBytes, totalTimeout: timeout)
            guard (200..<300).contains(response.status) else {
                throw PipelineError(.downloadFailed, "Failed to download video: HTTP \(response.status)")
            }
            guard bytes > 0 else { throw PipelineError(.downloadFailed, "Failed to download video: the file is empty") }
            return SourceMedia(path: path, bytes: bytes, url: url)
        } catch let error as TransportError {
            if error.code == .cancelled { throw CancellationError() }
            throw PipelineError(.downloadFailed, "Failed to download video: \(error.message)")
        }
    }
}
