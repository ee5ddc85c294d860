import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Verifies webhook signatures as a receiver would; used by `verify`, `receive` and the tests.
public struct WebhookVerifier: Sendable {
    /// Why a delivery did not verify.
    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        case missingHeader(String)
        case invalidTimestamp
        case timestampOutOfTolerance(skewSeconds: Int64)
        case noMatchingSignature
        case legacyMismatch

        public var description: String {
            switch self {
            case .missingHeader(let name): "missing header \(name)"
            case .invalidTimestamp: "webhook-timestamp is not a Unix time in seconds"
            case .timestampOutOfTolerance(let skew): "webhook-timestamp is \(skew) s away from now"
            case .noMatchingSignature: "no signature matches"
            case .legacyMismatch: "X-Webhook-Signature does not match"
            }
        }
    }

    let secrets: [WebhookSecret]
    let publicKeys: [Curve25519.Signing.PublicKey]

    /// Creates a verifier for HMAC secrets and optional Ed25519 public keys (`whpk_<base64>`).
    /// - Throws: ``SigningError`` `.invalidPublicKey` for a malformed public key.
    public init(secrets: [WebhookSecret], publicKeys: [String] = []) throws(SigningError) {
        self.secrets = secrets
        var keys = [Curve25519.Signing.PublicKey]()
        for text in publicKeys {
            guard text.hasPrefix("whpk_"), let data = Data(base64Encoded: String(text.dropFirst(5))),
                let key = try? Curve25519.Signing.PublicKey(rawRepresentation: data)
            else { throw SigningError(.invalidPublicKey, "a public key must be whpk_ followed by 32 bytes of base64") }
            keys.append(key)
        }
        self.publicKeys = keys
    }

    /// Checks a `webhook-signature` header: valid when any `v1` entry matches any secret, or any
    /// `v1a` entry verifies with any public key. Other versions are ignored.
    /// - Parameters:
    ///   - tolerance: when set with `now`, also require the timestamp within ± tolerance
    ///     (Standard Webhooks suggests 5 minutes against replays).
    public func verify(
        id: String, timestamp: String, body: [UInt8], signatureHeader: String,
        now: Int64? = nil, tolerance: Int64? = nil
    ) -> Result<Void, Failure> {
        guard let seconds = Int64(timestamp) else { return .failure(.invalidTimestamp) }
        if let now, let tolerance, abs(now - seconds) > tolerance {
            return .failure(.timestampOutOfTolerance(skewSeconds: seconds - now))
        }
        var content = [UInt8]()
        content.append(contentsOf: id.utf8)
        content.append(UInt8(ascii: "."))
        content.append(contentsOf: timestamp.utf8)
        content.append(UInt8(ascii: "."))
        content.append(contentsOf: body)
        for entry in signatureHeader.split(separator: " ") {
            guard let comma = entry.firstIndex(of: ",") else { continue }
            let version = entry[..<comma]
            guard let signature = Data(base64Encoded: String(entry[entry.index(after: comma)...])), !signature.isEmpty
            else { continue }
            if version == "v1" {
                for secret in secrets
                where HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: content, using: secret.key) {
                    return .success(())
                }
            } else if version == "v1a" {
                for key in publicKeys where key.isValidSignature(signature, for: content) {
                    return .success(())
                }
            }
        }
        return .failure(.noMatchingSignature)
    }

    /// Checks the legacy `X-Webhook-Signature` against the first secret, in constant time.
    public func verifyLegacy(body: [UInt8], hexSignature: String) -> Result<Void, Failure> {
        guard let secret = secrets.first else { return .failure(.legacyMismatch) }
        let expected = WebhookSigner.legacyHexSignature(secretText: secret.text, body: body)
        let given = hexSignature.lowercased()
        guard expected.utf8.count == given.utf8.count else { return .failure(.legacyMismatch) }
        var difference: UInt8 = 0
        for (a, b) in zip(expected.utf8, given.utf8) { difference |= a ^ b }
        return difference == 0 ? .success(()) : .failure(.legacyMismatch)
    }
}
