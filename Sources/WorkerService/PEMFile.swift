import Foundation

/// The start-time check of the PEM files the TLS settings name: libcurl would read them only at
/// the first https delivery and fail every one of them; `serve` instead stops at start with one
/// line naming the setting (SPEC section 3).
enum PEMFile {
    enum Content {
        case certificate
        case privateKey

        var label: String { self == .certificate ? "a PEM certificate" : "an unencrypted PEM private key" }
    }

    /// Checks that `path` is a readable file holding at least one well-formed block of `content`.
    /// - Throws: ``ConfigurationError`` for `setting`.
    static func check(_ path: String, holds content: Content, setting: String) throws(ConfigurationError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(setting, "cannot read \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(setting, "\(path) is not \(content.label) (not text)")
        }
        let blocks = Self.blocks(in: text)
        switch content {
        case .certificate:
            guard blocks.contains(where: { $0.label == "CERTIFICATE" && $0.decodes }) else {
                throw ConfigurationError(setting, "\(path) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
            }
        case .privateKey:
            if blocks.contains(where: { $0.label == "ENCRYPTED PRIVATE KEY" }) || text.contains("Proc-Type: 4,ENCRYPTED") {
                throw ConfigurationError(setting, "\(path) is an encrypted key; give an unencrypted one (readable by the worker only)")
            }
            guard blocks.contains(where: { $0.label.hasSuffix("PRIVATE KEY") && $0.decodes }) else {
                throw ConfigurationError(setting, "\(path) holds no PEM private key (-----BEGIN PRIVATE KEY-----)")
            }
        }
    }

    /// The `-----BEGIN X-----` … `-----END X-----` blocks of a text, and whether each body is base64.
    static func blocks(in text: String) -> [(label: String, decodes: Bool)] {
        var found = [(label: String, decodes: Bool)]()
        var label: String?
        var body = ""
        for line in text.split(whereSeparator: \.isNewline) {
            let line = line.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("-----BEGIN "), line.hasSuffix("-----") {
                label = String(line.dropFirst("-----BEGIN ".count).dropLast(5))
                body = ""
            } else if line.hasPrefix("-----END "), let open = label {
                found.append((open, !body.isEmpty && Data(base64Encoded: body) != nil))
                label = nil
            } else if label != nil, !line.contains(":") {
                body += line
            }
        }
        return found
    }
}
