import ArgumentParser
import CurlTransport
import Foundation
import WebhookCore
import WorkerAPI

/// `--server` and `--token`, shared by the commands that talk to a running worker.
struct ClientOptions: ParsableArguments {
    @Option(help: "The worker's URL [env CLIPPING_WORKER_URL, default http://127.0.0.1:8080]")
    var server: String?

    @Option(help: "API bearer token [env CLIPPING_WORKER_API_TOKEN]")
    var token: String?

    var baseURL: String {
        var url = server ?? ProcessInfo.processInfo.environment["CLIPPING_WORKER_URL"] ?? "http://127.0.0.1:8080"
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    var bearer: String? { token ?? ProcessInfo.processInfo.environment["CLIPPING_WORKER_API_TOKEN"] }

    /// Calls the worker and returns the decoded JSON body; API errors become exit 1 with their message.
    func call(_ method: String, _ path: String, body: [UInt8]? = nil, headers: [String] = []) async throws -> HTTPClientResponse {
        var all = headers
        if body != nil { all.append("Content-Type: application/json") }
        if let bearer { all.append("Authorization: Bearer \(bearer)") }
        // The CLI talks to its own worker, often on loopback: no SSRF policy here.
        let configuration = CurlClientConfiguration(connectTimeout: .seconds(5), totalTimeout: .seconds(30), networkPolicy: nil)
        let response: HTTPClientResponse
        do {
            response = try await CurlHTTPClient.withClient(configuration: configuration) { client in
                try await client.request(method, url: baseURL + path, headers: all, body: body)
            }
        } catch let error as TransportError {
            printError("clipping-worker: cannot reach \(baseURL): \(error.message)")
            throw ExitCode(1)
        }
        guard (200..<300).contains(response.status) else {
            if let decoded = try? JSONDecoder().decode(ErrorBody.self, from: Data(response.body)) {
                printError("clipping-worker: \(response.status) \(decoded.error.code): \(decoded.error.message)")
            } else {
                printError("clipping-worker: HTTP \(response.status)")
            }
            throw ExitCode(1)
        }
        return response
    }
}

/// Pretty-prints JSON bytes (sorted keys), or prints them as they are.
func printJSON(_ bytes: [UInt8]) {
    if let object = try? JSONSerialization.jsonObject(with: Data(bytes)),
        let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    {
        print(String(decoding: pretty, as: UTF8.self))
    } else {
        print(String(decoding: bytes, as: UTF8.self))
    }
}
