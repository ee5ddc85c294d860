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
    }

    /// The `webhook-signature` value: space-separated `v1,<base64>` per secret, then `v1a,<base64>`.
    public func signature(id: String, timestamp: Int64, body: [UInt8]) -> String {
        let timestampText = String(timestamp)
        var parts = [String]()
        parts.reserveCapacity(secrets.count + 1)
        for secret in secrets {
            var hmac = HMAC<SHA256>(key: secret.key)
            hmac.update(data: Array(id.utf8))
            hmac.update(data: [UInt8(ascii: ".")])
            hmac.update(data: Array(timestampText.utf8))
            hmac.update(data: [UInt8(ascii: ".")])
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
        Self.legacyHexSignature(secretText: secrets[0].text, body: body)
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
            "User-Agent: \(userAgent)",
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
