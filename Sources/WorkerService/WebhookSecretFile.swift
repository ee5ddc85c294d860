import Foundation
import WebhookSigning

/// The secret `serve` generates when `WEBHOOK_SECRET` is unset, kept in the data directory with
/// mode 0600 so restarts keep signing with it. Its path is logged, never its value.
enum WebhookSecretFile {
    static func loadOrCreate(at path: String) throws(ConfigurationError) -> WebhookSecret {
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            do {
                return try WebhookSecret(text.trimmingCharacters(in: .whitespacesAndNewlines))
            } catch {
                throw ConfigurationError("WEBHOOK_SECRET", "the stored secret at \(path) is unreadable: \(error.details)")
            }
        }
        let secret = WebhookSecret.generate()
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw ConfigurationError("WEBHOOK_SECRET", "unset, and \(path) cannot be created to keep a generated one")
        }
        defer { close(descriptor) }
        let bytes = Array((secret.text + "\n").utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count, fsync(descriptor) == 0 else {
            throw ConfigurationError("WEBHOOK_SECRET", "unset, and \(path) could not be written")
        }
        return secret
    }
}
