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
    private let keyedHMACs: [HMAC<SHA256>]
    /// The same for the legacy `X-Webhook-Signature` key (the whole first secret string).
    private let legacyHMAC: HMAC<SHA256>
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
        keyedHMACs = secrets.map { HMAC<SHA256>(key: $0.key) }
        legacyHMAC = HMAC<SHA256>(key: SymmetricKey(data: Array(secrets[0].text.utf8)))
        userAgentHeader = "User-Agent: \(userAgent)"
    }

    /// The `webhook-signature` value: space-separated `v1,<base64>` per secret, then `v1a,<base64>`.
    public func signature(id: String, timestamp: Int64, body: [UInt8]) -> String {
        let timestampText = String(timestamp)
        var parts = [String]()
        parts.reserveCapacity(secrets.count + 1)
        // `{id}.{timestamp}.` once, shared by every secret's HMAC.
        var prefix = [UInt8]()
        prefix.reserveCapacity(id.utf8.count + timestampText.utf8.count + 2)
        prefix.append(contentsOf: id.utf8)
        prefix.append(UInt8(ascii: "."))
        prefix.append(contentsOf: timestampText.utf8)
        prefix.append(UInt8(ascii: "."))
        for keyed in keyedHMACs {
            var hmac = keyed
            hmac.update(data: prefix)
            hmac.update(data: body)
            parts.append("v1," + Data(hmac.finalize()).base64EncodedString())
        }
        if let signingKey {
            var content = [UInt8]()
            content.reserveCapacity(id.utf8.count + timestampText.utf8.count + body.count + 2)
            content.append(contentsOf: id.utf8)
            content.append(UInt8(ascii: "."))
            content.append(contentsOf: timestampText.utf8)
            content.append(UInt8(ascii: "."))
            content.append(contentsOf: body)
            if let signature = try? signingKey.privateKey.signature(for: content) {
                parts.append("v1a," + Data(signature).base64EncodedString())
            }
        }
        return parts.joined(separator: " ")
    }

    /// Lowercase hex HMAC-SHA256 of the body keyed by the UTF-8 bytes of the first secret string.
    public func legacyHexSignature(body: [UInt8]) -> String {
        var hmac = legacyHMAC
        hmac.update(data: body)
        return Self.hex(hmac.finalize())
    }

    /// Lowercase hex HMAC-SHA256 of `body` keyed by the UTF-8 bytes of `secretText`.
    public static func legacyHexSignature(secretText: String, body: [UInt8]) -> String {
        hex(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secretText.utf8))))
    }

    /// Every header of one attempt (SPEC section 5), as `Name: value` lines.
    public func headers(eventID: EventID, kind: EventKind, attempt: Int, timestamp: Timestamp, body: [UInt8]) -> [String] {
        let id = eventID.description
        let seconds = timestamp.unixSeconds
        var headers = [
            "Content-Type: application/json",
            userAgentHeader,
            "X-Webhook-Event: \(kind.rawValue)",
            "webhook-id: \(id)",
            "webhook-timestamp: \(seconds)",
            "webhook-signature: \(signature(id: id, timestamp: seconds, body: body))",
            "X-Webhook-Attempt: \(attempt)",
        ]
        if legacySignature {
            headers.append("X-Webhook-Signature: \(legacyHexSignature(body: body))")
        }
        return headers
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
