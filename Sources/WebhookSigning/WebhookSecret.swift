public import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A Standard Webhooks HMAC secret, `whsec_<base64>`.
///
/// `description` never shows the value, so a secret can sit in a configuration struct that is
/// logged without leaking.
public struct WebhookSecret: Sendable, CustomStringConvertible {
    /// The HMAC key: the base64-decoded part after `whsec_`.
    public let key: SymmetricKey
    /// The whole secret string, the key of the legacy `X-Webhook-Signature`.
    public let text: String

    /// Parses a secret.
    /// - Throws: ``SigningError`` `.invalidSecret` when the prefix or the base64 is wrong, or the key is empty.
    public init(_ text: String) throws(SigningError) {
        guard text.hasPrefix("whsec_") else {
            throw SigningError(.invalidSecret, "a webhook secret must start with whsec_")
        }
        guard let data = Data(base64Encoded: String(text.dropFirst(6))), !data.isEmpty else {
            throw SigningError(.invalidSecret, "the part after whsec_ must be non-empty base64")
        }
        self.key = SymmetricKey(data: data)
        self.text = text
    }

    /// A new random secret with a 32-byte key.
    public static func generate() -> WebhookSecret {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        // A freshly built whsec_ string always parses.
        return (try? WebhookSecret("whsec_" + Data(bytes).base64EncodedString()))!
    }

    /// Parses `WEBHOOK_SECRET`: one or more secrets separated by spaces (rotation).
    /// - Throws: ``SigningError`` naming the position of the bad entry.
    public static func parseList(_ text: String) throws(SigningError) -> [WebhookSecret] {
        var secrets = [WebhookSecret]()
        for (index, entry) in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).enumerated() {
            do {
                secrets.append(try WebhookSecret(String(entry)))
            } catch {
                throw SigningError(.invalidSecret, "secret #\(index + 1): \(error.details)")
            }
        }
        guard !secrets.isEmpty else { throw SigningError(.invalidSecret, "no secret given") }
        return secrets
    }

    public var description: String { "whsec_<redacted>" }
}

/// An Ed25519 signing key, `whsk_<base64 of 32-byte seed + 32-byte public key>`.
public struct WebhookSigningKey: Sendable, CustomStringConvertible {
    let privateKey: Curve25519.Signing.PrivateKey

    /// Parses a signing key; the public half must match the seed.
    /// - Throws: ``SigningError`` `.invalidSigningKey`.
    public init(_ text: String) throws(SigningError) {
        guard text.hasPrefix("whsk_"), let data = Data(base64Encoded: String(text.dropFirst(5))) else {
            throw SigningError(.invalidSigningKey, "a signing key must be whsk_ followed by base64")
        }
        guard data.count == 64 || data.count == 32 else {
            throw SigningError(.invalidSigningKey, "a signing key holds a 32-byte seed and a 32-byte public key")
        }
        do {
            privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: data.prefix(32))
        } catch {
            throw SigningError(.invalidSigningKey, "the seed is not a valid Ed25519 key")
        }
        if data.count == 64, privateKey.publicKey.rawRepresentation != data.suffix(32) {
            throw SigningError(.invalidSigningKey, "the public key does not belong to the seed")
        }
    }

    /// The public key as receivers configure it, `whpk_<base64>`.
    public var publicKeyText: String { "whpk_" + privateKey.publicKey.rawRepresentation.base64EncodedString() }

    public var description: String { "whsk_<redacted>" }
}

/// A signing or verification failure.
public struct SigningError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable { case invalidSecret, invalidSigningKey, invalidPublicKey }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public static let invalidSecret = Code(.invalidSecret)
        public static let invalidSigningKey = Code(.invalidSigningKey)
        public static let invalidPublicKey = Code(.invalidPublicKey)
        public var description: String { base.rawValue }
    }

    public var code: Code
    /// Safe to show: never contains key material.
    public var details: String

    /// Creates an error.
    public init(_ code: Code, _ details: String) {
        self.code = code
        self.details = details
    }

    public var description: String { details }
}
