import Crypto
import Foundation
import Testing
import WebhookCore
import WebhookSigning

/// Every vector of `fixtures/signatures.json` (copied from the shared contract).
struct SignatureVectorTests {
    struct Vectors: Decodable {
        struct Standard: Decodable {
            let name: String
            let secret: String
            let id: String
            let timestamp: Int64
            let body: String
            let signature: String
            let valid: Bool
        }
        struct Legacy: Decodable {
            let name: String
            let secret: String
            let body: String
            let hex: String
        }
        struct Asymmetric: Decodable {
            let name: String
            let signing_key: String
            let public_key: String
            let id: String
            let timestamp: Int64
            let body: String
            let signature: String
            let valid: Bool
        }
        let standard: [Standard]
        let legacy_hex: [Legacy]
        let asymmetric_v1a: [Asymmetric]
    }

    /// `fixtures/signatures.json` at the repository root, found from this file's path.
    static let vectors: Vectors = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/signatures.json")
        do {
            return try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
        } catch {
            fatalError("cannot read the signature vectors at \(url.path): \(error)")
        }
    }()

    @Test(arguments: vectors.standard.map(\.name))
    func standardVector(name: String) throws {
        let vector = try #require(Self.vectors.standard.first { $0.name == name })
        let secret = try WebhookSecret(vector.secret)
        let verifier = try WebhookVerifier(secrets: [secret])
        let result = verifier.verify(
            id: vector.id, timestamp: String(vector.timestamp), body: Array(vector.body.utf8),
            signatureHeader: vector.signature)
        #expect(((try? result.get()) != nil) == vector.valid)
        if vector.valid, !vector.signature.contains(" ") {
            // Our signer produces exactly the expected header.
            let signer = WebhookSigner(secrets: [secret])
            #expect(signer.signature(id: vector.id, timestamp: vector.timestamp, body: Array(vector.body.utf8)) == vector.signature)
            // The signer keeps keyed HMAC states and copies them per attempt: other content in
            // between must not leak into the next signature.
            _ = signer.signature(id: "evt_other", timestamp: 1, body: Array("other".utf8))
            _ = signer.legacyHexSignature(body: Array("other".utf8))
            #expect(signer.signature(id: vector.id, timestamp: vector.timestamp, body: Array(vector.body.utf8)) == vector.signature)
        }
    }

    @Test func legacyHexVectors() throws {
        for vector in Self.vectors.legacy_hex {
            #expect(WebhookSigner.legacyHexSignature(secretText: vector.secret, body: Array(vector.body.utf8)) == vector.hex)
            // The instance method (a precomputed keyed state) agrees, twice in a row.
            if let secret = try? WebhookSecret(vector.secret) {
                let signer = WebhookSigner(secrets: [secret])
                #expect(signer.legacyHexSignature(body: Array(vector.body.utf8)) == vector.hex)
                #expect(signer.legacyHexSignature(body: Array(vector.body.utf8)) == vector.hex)
            }
        }
    }

    @Test func legacyHeaderUsesTheWholeSecretString() throws {
        let secret = try WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let signer = WebhookSigner(secrets: [secret])
        let body = Array("{\"test\": 2432232314}".utf8)
        let expected = WebhookSigner.legacyHexSignature(secretText: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", body: body)
        #expect(signer.legacyHexSignature(body: body) == expected)
        let verifier = try WebhookVerifier(secrets: [secret])
        #expect((try? verifier.verifyLegacy(body: body, hexSignature: expected).get()) != nil)
        #expect((try? verifier.verifyLegacy(body: body + [0x20], hexSignature: expected).get()) == nil)
    }

    @Test func ed25519Vector() throws {
        for vector in Self.vectors.asymmetric_v1a {
            let key = try WebhookSigningKey(vector.signing_key)
            #expect(key.publicKeyText == vector.public_key)
            let secret = WebhookSecret.generate()
            let signer = WebhookSigner(secrets: [secret], signingKey: key)
            let header = signer.signature(id: vector.id, timestamp: vector.timestamp, body: Array(vector.body.utf8))
            // Ed25519 is deterministic: the v1a entry equals the vector.
            #expect(header.split(separator: " ").last.map(String.init) == vector.signature)
            let verifier = try WebhookVerifier(secrets: [], publicKeys: [vector.public_key])
            let result = verifier.verify(
                id: vector.id, timestamp: String(vector.timestamp), body: Array(vector.body.utf8),
                signatureHeader: vector.signature)
            #expect(((try? result.get()) != nil) == vector.valid)
            let tampered = verifier.verify(
                id: vector.id, timestamp: String(vector.timestamp + 1), body: Array(vector.body.utf8),
                signatureHeader: vector.signature)
            #expect((try? tampered.get()) == nil)
        }
    }

    @Test func rotationSignsWithEverySecret() throws {
        let old = WebhookSecret.generate()
        let new = WebhookSecret.generate()
        let signer = WebhookSigner(secrets: [new, old])
        let body = Array("{}".utf8)
        let header = signer.signature(id: "evt_1", timestamp: 1_700_000_000, body: body)
        #expect(header.split(separator: " ").count == 2)
        for secret in [old, new] {
            let verifier = try WebhookVerifier(secrets: [secret])
            #expect((try? verifier.verify(id: "evt_1", timestamp: "1700000000", body: body, signatureHeader: header).get()) != nil)
        }
        let stranger = try WebhookVerifier(secrets: [WebhookSecret.generate()])
        #expect((try? stranger.verify(id: "evt_1", timestamp: "1700000000", body: body, signatureHeader: header).get()) == nil)
    }

    @Test func headersOfOneAttempt() throws {
        let signer = WebhookSigner(secrets: [try WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")], legacySignature: false)
        let id = EventID.generate(at: Timestamp(milliseconds: 0))
        let headers = signer.headers(
            eventID: id, kind: .completed, attempt: 3, timestamp: Timestamp(milliseconds: 1_614_265_330_999), body: [])
        #expect(headers.contains("webhook-id: \(id)"))
        #expect(headers.contains("webhook-timestamp: 1614265330"))
        #expect(headers.contains("X-Webhook-Attempt: 3"))
        #expect(headers.contains("X-Webhook-Event: job.completed"))
        #expect(!headers.contains { $0.hasPrefix("X-Webhook-Signature") })
    }

    @Test func timestampToleranceIsOptional() throws {
        let secret = WebhookSecret.generate()
        let signer = WebhookSigner(secrets: [secret])
        let header = signer.signature(id: "evt_1", timestamp: 1_000, body: [])
        let verifier = try WebhookVerifier(secrets: [secret])
        #expect((try? verifier.verify(id: "evt_1", timestamp: "1000", body: [], signatureHeader: header).get()) != nil)
        let late = verifier.verify(id: "evt_1", timestamp: "1000", body: [], signatureHeader: header, now: 2_000, tolerance: 300)
        #expect(throws: WebhookVerifier.Failure.timestampOutOfTolerance(skewSeconds: -1000)) { try late.get() }
    }

    @Test(arguments: ["", "whsec_", "whsec_!!notbase64", "sk_live_123", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
    func rejectsMalformedSecrets(text: String) {
        #expect(throws: SigningError.self) { try WebhookSecret(text) }
    }

    @Test func secretsNeverPrintTheirValue() throws {
        let secret = try WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        #expect(!"\(secret)".contains("MfKQ"))
        #expect(!"\([secret])".contains("MfKQ"))
        let list = try WebhookSecret.parseList("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw  whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
        #expect(list.count == 2)
        #expect(throws: SigningError.self) { try WebhookSecret.parseList("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw nope") }
    }
}

/// The signer's own HMAC-SHA256 against swift-crypto's, over keys and bodies of every size class.
struct KeyedHMACTests {
    @Test(arguments: [1, 16, 32, 63, 64, 65, 200])
    func matchesCryptosHMAC(keyLength: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let keyBytes = (0..<keyLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let secret = try WebhookSecret("whsec_" + Data(keyBytes).base64EncodedString())
        let signer = WebhookSigner(secrets: [secret])
        for bodyLength in [0, 1, 55, 64, 119, 1000] {
            let body = (0..<bodyLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let expected = HMAC<SHA256>.authenticationCode(
                for: Array("evt_x.123.".utf8) + body, using: SymmetricKey(data: keyBytes))
            #expect(signer.signature(id: "evt_x", timestamp: 123, body: body) == "v1," + Data(expected).base64EncodedString())
            let legacy = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.text.utf8)))
            #expect(signer.legacyHexSignature(body: body) == legacy.map { String(format: "%02x", $0) }.joined())
        }
    }
}
