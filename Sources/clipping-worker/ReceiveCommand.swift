import ArgumentParser
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Synchronization
import WebhookSigning

/// `clipping-worker receive`: a reference receiver that verifies signatures and prints events.
struct ReceiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive",
        abstract: "A reference webhook receiver: verifies signatures, prints events, answers 204.",
        discussion: """
            Accepts POSTs on any path, / included. Invalid signatures get 400 and do not count as seen; \
            repeated webhook-ids of valid deliveries are printed as duplicates and answered 204.
            """)

    @Option(help: "Port to listen on (127.0.0.1)") var port: Int
    @Option(help: "whsec_… secret(s) to verify with, space-separated [env WEBHOOK_SECRET]") var secret: String?
    @Option(help: "Host to listen on") var host = "127.0.0.1"
    @Flag(help: "Print each body as JSON too") var json = false

    func run() async throws {
        let secretText = secret ?? ProcessInfo.processInfo.environment["WEBHOOK_SECRET"]
        let verifier = try secretText.map { try makeVerifier(secret: $0, publicKeys: []) }
        let seen = Mutex(Set<String>())
        let printJSONBodies = json
        let router = Router()
        let handle: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            var request = request
            let body = Array((try await request.collectBody(upTo: 1 << 20)).readableBytesView)
            let id = request.headers[HTTPField.Name("webhook-id")!]
            let timestamp = request.headers[HTTPField.Name("webhook-timestamp")!] ?? ""
            let signature = request.headers[HTTPField.Name("webhook-signature")!] ?? ""
            let attempt = request.headers[HTTPField.Name("X-Webhook-Attempt")!] ?? "?"
            var verdict = "unverified (no --secret)"
            var valid = true
            if let verifier {
                switch verifier.verify(id: id ?? "", timestamp: timestamp, body: body, signatureHeader: signature) {
                case .success: verdict = "signature valid"
                case .failure(let failure):
                    verdict = "SIGNATURE INVALID: \(failure)"
                    valid = false
                }
            }
            // Only a delivery that verified counts as seen: a forged request carrying the id of a
            // coming event must not make the real one look like a duplicate.
            var duplicate = false
            if valid, let id { duplicate = !seen.withLock { $0.insert(id).inserted } }
            print(
                Self.describe(body)
                    + "  attempt \(attempt)  \(verdict)\(duplicate ? "  (duplicate webhook-id)" : "")  \(id ?? "?")")
            if printJSONBodies { print("  " + String(decoding: body, as: UTF8.self)) }
            fflush(nil)
            return Response(status: valid ? .noContent : .badRequest)
        }
        // SPEC section 2: POSTs on any path, `/` included; "**" matches one or more components only.
        router.post("/", use: handle)
        router.post("**", use: handle)
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port)),
            onServerRunning: { channel in
                print("receiving webhooks on http://\(host):\(channel.localAddress?.port ?? port)/ (Ctrl-C to stop)")
                fflush(nil)
            },
            logger: Logger(label: "receive", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.runService()
    }

    /// `job.progress #3 job_… rendering 60% Rendering clip 2/3...`
    static func describe(_ body: [UInt8]) -> String {
        struct Payload: Decodable {
            var event: String?
            var sequence: Int?
            var job_id: String?
            var status: String?
            var progress_percent: Int?
            var current_step: String?
            var error: String?
        }
        guard let payload = try? JSONDecoder().decode(Payload.self, from: Data(body)) else { return "(body is not a webhook payload)" }
        var text = "\(payload.event ?? "?") #\(payload.sequence ?? 0) \(payload.job_id ?? "?") \(payload.status ?? "?")"
        text += " \(payload.progress_percent ?? 0)% \(payload.current_step ?? "")"
        if let error = payload.error { text += " error: \(error)" }
        return text
    }
}
