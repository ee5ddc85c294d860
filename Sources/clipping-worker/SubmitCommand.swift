import ArgumentParser
import Foundation
import CurlTransport
import WebhookSigning
import WorkerAPI
import WorkerCore

/// `clipping-worker submit`: POST a job, print its id.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "submit", abstract: "Submit a job to a running worker and print its id.")

    @Option(help: "http(s) or file:// URL of the video") var videoURL: String
    @Option(help: "Where webhooks go") var callbackURL: String?
    @Option(help: "1–20 (default 5)") var maxClips: Int?
    @Option(help: "Your own id for the job") var externalJobID: String?
    @Option(help: "The user the job is for") var ownerUserID: String?
    @Option(help: "tiktok, youtube_shorts, instagram_reels or youtube") var targetPlatform: String?
    @Option(help: "1–600 (default 15)") var minClipDurationSeconds: Int?
    @Option(help: "1–600 (default 90)") var maxClipDurationSeconds: Int?
    @Option(help: "Burn captions (default true)") var includeCaptions: Bool?
    @Option(help: "Makes a retried submission return the same job") var idempotencyKey: String?
    @OptionGroup var client: ClientOptions

    func run() async throws {
        var fields: [String: JSONValue] = ["video_url": .string(videoURL)]
        if let callbackURL { fields["callback_url"] = .string(callbackURL) }
        if let maxClips { fields["max_clips"] = .number(Double(maxClips)) }
        if let externalJobID { fields["external_job_id"] = .string(externalJobID) }
        if let ownerUserID { fields["owner_user_id"] = .string(ownerUserID) }
        if let targetPlatform { fields["target_platform"] = .string(targetPlatform) }
        if let minClipDurationSeconds { fields["min_clip_duration_seconds"] = .number(Double(minClipDurationSeconds)) }
        if let maxClipDurationSeconds { fields["max_clip_duration_seconds"] = .number(Double(maxClipDurationSeconds)) }
        if let includeCaptions { fields["include_captions"] = .bool(includeCaptions) }
        let headers = idempotencyKey.map { ["Idempotency-Key: \($0)"] } ?? []
        let response = try await client.call(
            "POST", "/ai-clipping/jobs", body: Array(JSONValue.object(fields).compactText.utf8), headers: headers)
        guard let submitted = try? JSONDecoder().decode(SubmitResponse.self, from: Data(response.body)) else {
            printError("clipping-worker: unexpected answer from the worker")
            throw ExitCode(1)
        }
        print(submitted.job_id)
    }
}

/// `clipping-worker jobs show ID` and `jobs list`.
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "jobs", abstract: "Look at jobs.", subcommands: [Show.self, List.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Print a job's status and output.")
        @Argument(help: "The job id") var id: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let response = try await client.call("GET", "/ai-clipping/jobs/\(id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? id)")
            printJSON(response.body)
        }
    }
}

/// `clipping-worker verify`: check one delivery offline; exit 0 valid, 1 invalid.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Verify one delivery's signature; the body comes on standard input.",
        discussion: "Exit status 0 when valid, 1 when not.")

    @Option(help: "whsec_… secret(s), space-separated") var secret: String
    @Option(help: "The webhook-id header") var id: String
    @Option(help: "The webhook-timestamp header") var timestamp: String
    @Option(help: "The webhook-signature header") var signature: String
    @Option(help: "Also accept v1a signatures by these whpk_… public keys") var publicKey: [String] = []

    func run() throws {
        let verifier = try makeVerifier(secret: secret, publicKeys: publicKey)
        let body = Array(FileHandle.standardInput.readDataToEndOfFile())
        switch verifier.verify(id: id, timestamp: timestamp, body: body, signatureHeader: signature) {
        case .success:
            print("valid")
        case .failure(let failure):
            print("invalid: \(failure)")
            throw ExitCode(1)
        }
    }
}
