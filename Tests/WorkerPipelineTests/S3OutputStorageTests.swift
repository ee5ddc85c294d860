import CurlTransport
import Foundation
import Testing
import WebhookCore
import WebhookTestSupport
import WorkerPipeline

/// S3 uploads through libcurl's SigV4, against a real S3-compatible server (moto) and against a
/// scripted server that shows the signed request.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct S3OutputStorageTests {
    let configuration = CurlClientConfiguration(networkPolicy: nil)

    func file(_ bytes: Int) throws -> String {
        let path = NSTemporaryDirectory() + "upload-\(UUID().uuidString).bin"
        try Data((0..<bytes).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func uploadsToAnS3CompatibleStore() async throws {
        let moto = try await MotoServer.start()
        defer { moto.stop() }
        try await CurlHTTPClient.withClient(configuration: configuration) { client in
            let signing = AWSSigV4(region: "us-east-1", accessKeyID: "AKIATESTKEY", secretAccessKey: "test-secret")
            let bucket = try await client.request("PUT", url: moto.endpoint + "/clips", body: [], signing: signing)
            #expect(bucket.status == 200)
            let storage = S3OutputStorage(
                client: client, endpoint: moto.endpoint + "/", region: "us-east-1", bucket: "clips", accessKeyID: "AKIATESTKEY",
                secretAccessKey: "test-secret")
            let path = try file(300_000)
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            let url = try await storage.store(path, as: "clip_1.mp4", jobID: "job_x", contentType: "video/mp4")
            #expect(url == moto.endpoint + "/clips/job_x/clip_1.mp4")
            #expect(!FileManager.default.fileExists(atPath: path))
            let fetched = try await client.request("GET", url: url, signing: signing)
            #expect(fetched.status == 200)
            #expect(Data(fetched.body) == original)
            // The object is private: an unsigned read is refused.
            #expect(try await client.request("GET", url: url).status == 403)
        }
    }

    @Test func signsWithSigV4AndStreamsTheFile() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .status(200) }
        try await CurlHTTPClient.withClient(configuration: configuration) { client in
            let storage = S3OutputStorage(
                client: client, endpoint: server.url(""), region: "eu-west-1", bucket: "media", accessKeyID: "AKIAEXAMPLE",
                secretAccessKey: "shh")
            let path = try file(70_000)
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            _ = try await storage.store(path, as: "plan.json", jobID: "job_y", contentType: "application/json")
            let request = try #require(try await server.received.wait(count: 1).first)
            #expect(request.method == "PUT" && request.uri == "/media/job_y/plan.json")
            #expect(Data(request.body) == original)
            let authorization = request.header("authorization") ?? ""
            #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/"))
            #expect(authorization.contains("/eu-west-1/s3/aws4_request"))
            #expect(authorization.contains("SignedHeaders=") && authorization.contains("Signature="))
            #expect(!authorization.contains("shh"))
            #expect(request.header("x-amz-date") != nil)
            #expect(request.header("content-type") == "application/json")
        }
        try await server.shutdown()
    }

    @Test func refusedUploadsFailClearly() async throws {
        let server = try await ScriptedHTTPServer.start { _ in .status(403) }
        try await CurlHTTPClient.withClient(configuration: configuration) { client in
            let storage = S3OutputStorage(
                client: client, endpoint: server.url(""), region: "us-east-1", bucket: "b", accessKeyID: "k", secretAccessKey: "s")
            let path = try file(10)
            await #expect(throws: PipelineError.self) {
                try await storage.store(path, as: "clip_1.mp4", jobID: "job_z", contentType: "video/mp4")
            }
        }
        try await server.shutdown()
    }
}
