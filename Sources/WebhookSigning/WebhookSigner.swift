import Crypto
public import WebhookCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Signs webhook requests the Standard Webhooks way, plus the legacy hex header.
///
/// The signed content is `{webhook-id}.{webhook-timestamp}.{body}` over the exact body bytes.
/// Each attempt is signed anew with its own timestamp, so receivers that reject stale
/// timestamps accept retries.
public struct WebhookSigner: Sendable {
    /// HMAC secrets; each yields one `v1,` entry. The first also keys the legacy header.
    public let secrets: [WebhookSecret]
    /// Adds a `v1a,` Ed25519 entry when set.
    public let signingKey: WebhookSigningKey?
    /// Sends `X-Webhook-Signature` too.
    public let legacySignature: Bool
    /// `clipping-worker/<version>`.
    public let userAgent: String
    /// Each secret's HMAC with its key already absorbed: copying it is cheaper than keying a new
    /// one per attempt (keying hashes the padded key twice).
    private let keyed: [KeyedSHA256]
    /// The same for the legacy `X-Webhook-Signature` key (the whole first secret string).
    private let legacyKeyed: KeyedSHA256
    /// `User-Agent: …`, built once.
    private let userAgentHeader: String

    /// Creates a signer.
    /// - Parameters:
    ///   - secrets: at least one secret; the first is the current one.
    ///   - signingKey: optional Ed25519 key.
    ///   - legacySignature: also send the hex `X-Webhook-Signature`.
    ///   - userAgent: the `User-Agent` value.
    public init(
        secrets: [WebhookSecret], signingKey: WebhookSigningKey? = nil, legacySignature: Bool = true,
        userAgent: String = "clipping-worker/0.1.0"
    ) {
        precondition(!secrets.isEmpty, "a signer needs at least one secret")
        self.secrets = secrets
        self.signingKey = signingKey
        self.legacySignature = legacySignature
        self.userAgent = userAgent
        keyed = secrets.map { secret in KeyedSHA256(key: secret.key.withUnsafeBytes { Array($0) }) }
        legacyKeyed = KeyedSHA256(key: Array(secrets[0].text.utf8))
        userAgentHeader = "User-Agent: \(userAgent)"
    }

    /// The `webhook-signature` value: space-separated `v1,<base64>` per secret, then `v1a,<base64>`.
    public func signature(id: String, timestamp: Int64, body: [UInt8]) -> String {
        signatureText(prefix: "", id: id, timestamp: String(timestamp), body: body)
    }

    /// `prefix` then the signature value, written into one string.
    private func signatureText(prefix: StaticString, id: String, timestamp: String, body: [UInt8]) -> String {
        // `{id}.{timestamp}.` once, shared by every secret's HMAC.
        var head = [UInt8]()
        head.reserveCapacity(id.utf8.count + timestamp.utf8.count + 2)
        head.append(contentsOf: id.utf8)
        head.append(UInt8(ascii: "."))
        head.append(contentsOf: timestamp.utf8)
        head.append(UInt8(ascii: "."))
        var asymmetric: String?
        if let signingKey, let signature = try? signingKey.privateKey.signature(for: head + body) {
            asymmetric = "v1a," + Data(signature).base64EncodedString()
        }
        let entry = 3 + SignatureText.base64Length(SHA256.byteCount)
        let capacity = keyed.count * (entry + 1) + (asymmetric?.utf8.count ?? 0)
        return head.withUnsafeBytes { head in
            body.withUnsafeBytes { body in
                SignatureText.string(prefix: prefix, capacity: capacity) { out in
                    var written = 0
                    for key in keyed {
                        if written > 0 {
                            out[written] = UInt8(ascii: " ")
                            written += 1
                        }
                        out[written] = UInt8(ascii: "v")
                        out[written + 1] = UInt8(ascii: "1")
                        out[written + 2] = UInt8(ascii: ",")
                        written += 3
                        written += key.authenticate(head, body) { mac in
                            SignatureText.writeBase64(mac, to: UnsafeMutableBufferPointer(rebasing: out[written...]))
                        }
                    }
                    if let asymmetric {
                        out[written] = UInt8(ascii: " ")
                        written += 1
                        for byte in asymmetric.utf8 {
                            out[written] = byte
                            written += 1
                        }
                    }
                    return written
                }
            }
        }
    }

    /// Lowercase hex HMAC-SHA256 of the body keyed by the UTF-8 bytes of the first secret string.
    public func legacyHexSignature(body: [UInt8]) -> String {
        Self.hexText(prefix: "", key: legacyKeyed, body: body)
    }

    /// Lowercase hex HMAC-SHA256 of `body` keyed by the UTF-8 bytes of `secretText`.
    public static func legacyHexSignature(secretText: String, body: [UInt8]) -> String {
        hexText(prefix: "", key: KeyedSHA256(key: Array(secretText.utf8)), body: body)
    }

    private static func hexText(prefix: StaticString, key: KeyedSHA256, body: [UInt8]) -> String {
        body.withUnsafeBytes { body in
            SignatureText.string(prefix: prefix, capacity: 2 * SHA256.byteCount) { out in
                key.authenticate(body, UnsafeRawBufferPointer(start: nil, count: 0)) { mac in
                    SignatureText.writeHex(mac, to: out)
                    return 2 * mac.count
                }
            }
        }
    }

    /// Every header of one attempt (SPEC section 5), as `Name: value` lines.
    public func headers(eventID: EventID, kind: EventKind, attempt: Int, timestamp: Timestamp, body: [UInt8]) -> [String] {
        let id = eventID.description
        let seconds = String(timestamp.unixSeconds)
        // Concatenations rather than interpolations: one allocation each, no interpolation buffer.
        var headers = [String]()
        headers.reserveCapacity(8)
        headers.append("Content-Type: application/json")
        headers.append(userAgentHeader)
        headers.append("X-Webhook-Event: " + kind.rawValue)
        headers.append("webhook-id: " + id)
        headers.append("webhook-timestamp: " + seconds)
        headers.append(signatureText(prefix: "webhook-signature: ", id: id, timestamp: seconds, body: body))
        headers.append("X-Webhook-Attempt: " + String(attempt))
        if legacySignature {
            headers.append(Self.hexText(prefix: "X-Webhook-Signature: ", key: legacyKeyed, body: body))
        }
        return headers
    }
}
