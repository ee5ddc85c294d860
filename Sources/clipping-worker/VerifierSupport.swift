import ArgumentParser
import WebhookSigning

/// A verifier from CLI text; a malformed secret or key is a usage error (exit 64).
func makeVerifier(secret: String?, publicKeys: [String]) throws -> WebhookVerifier {
    do {
        let secrets = try secret.map { try WebhookSecret.parseList($0) } ?? []
        return try WebhookVerifier(secrets: secrets, publicKeys: publicKeys)
    } catch {
        throw ValidationError("\(error)")
    }
}
