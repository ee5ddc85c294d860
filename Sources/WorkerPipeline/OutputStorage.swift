public import CurlTransport
import Foundation
import WorkerCore
import WebhookCore

/// Where a job's outputs (clips, transcript, plan) end up; returns the URL given in `output`.
public protocol OutputStorage: Sendable {
    /// Stores a finished file and returns its URL. The file may be moved away.
    /// - Throws: ``PipelineError`` when it could not be stored.
    func store(_ path: String, as name: String, jobID: String, contentType: String) async throws -> String
}

/// Outputs in the data directory, served by the worker at `/media/<job_id>/<name>`.
public struct LocalOutputStorage: OutputStorage {
    /// `<data dir>/media`.
    public let mediaDirectory: String
    private let base: @Sendable () -> String

    /// `CLIPPING_WORKER_PUBLIC_URL` + `/media/` (with port 0 and no public URL, the port bound).
    public var mediaBaseURL: String {
        let base = base()
        return base.hasSuffix("/") ? base : base + "/"
    }

    /// Creates the storage.
    public init(mediaDirectory: String, mediaBaseURL: String) {
        self.init(mediaDirectory: mediaDirectory, mediaBaseURL: { mediaBaseURL })
    }

    /// Creates the storage with a base URL known only once the API listens (`--port 0`).
    public init(mediaDirectory: String, mediaBaseURL: @escaping @Sendable () -> String) {
        self.mediaDirectory = mediaDirectory
        self.base = mediaBaseURL
    }

    public func store(_ path: String, as name: String, jobID: String, contentType: String) async throws -> String {
        let directory = mediaDirectory + "/" + jobID
        let destination = directory + "/" + name
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(atPath: destination)
            try FileManager.default.moveItem(atPath: path, toPath: destination)
        } catch {
            throw PipelineError(.uploadFailed, "Failed to store \(name)", detail: "\(error)")
        }
        return mediaBaseURL + jobID + "/" + name
    }
}

/// Outputs in an S3-compatible store, uploaded with PUT and signed with AWS SigV4 by libcurl
/// (`CLIPPING_WORKER_S3_*`). Objects are `<bucket>/<job_id>/<name>` (path-style URLs, which
/// every S3-compatible server accepts); the returned URL is that object's address.
public struct S3OutputStorage: OutputStorage {
    private let client: CurlHTTPClient
    private let endpoint: String
    private let bucket: String
    private let signing: AWSSigV4

    /// Creates the storage.
    public init(client: CurlHTTPClient, endpoint: String, region: String, bucket: String, accessKeyID: String, secretAccessKey: String) {
        self.client = client
        var base = endpoint
        while base.hasSuffix("/") { base.removeLast() }
        self.endpoint = base
        self.bucket = bucket
        self.signing = AWSSigV4(region: region, accessKeyID: accessKeyID, secretAccessKey: secretAccessKey)
    }

    public func store(_ path: String, as name: String, jobID: String, contentType: String) async throws -> String {
        let url = "\(endpoint)/\(bucket)/\(jobID)/\(name)"
        do {
            let response = try await client.upload(
                url, fromFile: path, headers: ["Content-Type: \(contentType)", "x-amz-content-sha256: UNSIGNED-PAYLOAD"],
                signing: signing, totalTimeout: .seconds(600))
            guard (200..<300).contains(response.status) else {
                throw PipelineError(.uploadFailed, "Failed to upload \(name) to S3: HTTP \(response.status)")
            }
        } catch let error as TransportError {
            throw PipelineError(.uploadFailed, "Failed to upload \(name) to S3: \(error.message)")
        }
        try? FileManager.default.removeItem(atPath: path)
        return url
    }
}
