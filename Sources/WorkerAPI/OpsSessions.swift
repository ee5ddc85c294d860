import Crypto
import Foundation
import Synchronization

/// Sign-in sessions of the operations page (SPEC section 9): a cookie that proves the browser
/// once gave the API token, so the page never keeps the token itself (not in a URL, not in
/// `localStorage`, where any script of the origin could read it).
///
/// The cookie value is `<expiry unix s>.<nonce>.<HMAC-SHA256>`, the MAC keyed by a key derived
/// from the token: every worker sharing the token accepts it (several workers behind one URL), a
/// new token ends every session, and there is nothing to store per session. Signing out revokes
/// the value in this process until it expires (a bounded list: a session's life is 12 hours).
final class OpsSessions: Sendable {
    /// The cookie's name.
    static let cookieName = "cw_ops_session"
    /// How long a session lasts (SPEC section 9: 12 hours).
    static let lifetimeSeconds: Int64 = 12 * 3600
    /// Revoked values kept at most; the oldest go first (they expire within 12 h anyway).
    static let maxRevoked = 10_000

    private let key: SymmetricKey
    private let revoked = Mutex([String: Int64]())

    /// Sessions for `token`.
    init(token: String) {
        key = SymmetricKey(data: SHA256.hash(data: Data(("clipping-worker ops session\n" + token).utf8)))
    }

    /// A new session value expiring `lifetimeSeconds` after `now` (Unix seconds).
    func issue(now: Int64) -> String {
        var nonce = [UInt8](repeating: 0, count: 16)
        for index in nonce.indices { nonce[index] = UInt8.random(in: 0...255) }
        let payload = "\(now + Self.lifetimeSeconds)." + nonce.map { String(format: "%02x", $0) }.joined()
        return payload + "." + mac(payload)
    }

    /// True for a value this key signed, not expired at `now` and not revoked.
    func isValid(_ value: String, now: Int64) -> Bool {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let expiry = Int64(parts[0]), expiry > now else { return false }
        let payload = parts[0] + "." + parts[1]
        guard TokenCheck.constantTimeEqual(Array(mac(String(payload)).utf8), Array(parts[2].utf8)) else { return false }
        return revoked.withLock { $0[value] == nil }
    }

    /// Ends a session in this process.
    func revoke(_ value: String, now: Int64) {
        let parts = value.split(separator: ".")
        guard let expiry = parts.first.flatMap({ Int64($0) }) else { return }
        revoked.withLock { list in
            list = list.filter { $0.value > now }
            if list.count >= Self.maxRevoked, let oldest = list.min(by: { $0.value < $1.value }) { list[oldest.key] = nil }
            list[value] = expiry
        }
    }

    private func mac(_ payload: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: key).map { String(format: "%02x", $0) }.joined()
    }

    /// The value of cookie `name` in a `Cookie` header, if present.
    static func cookie(_ name: String, in header: String?) -> String? {
        guard let header else { return nil }
        for pair in header.split(separator: ";") {
            let trimmed = pair.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix(name + "=") { return String(trimmed.dropFirst(name.count + 1)) }
        }
        return nil
    }

    /// The `Set-Cookie` value for a session (or, with `value` nil, one that clears it).
    static func setCookie(_ value: String?, secure: Bool) -> String {
        var parts = ["\(cookieName)=\(value ?? "")", "Path=/", "HttpOnly", "SameSite=Strict"]
        parts.append(value == nil ? "Max-Age=0" : "Max-Age=\(lifetimeSeconds)")
        if secure { parts.append("Secure") }
        return parts.joined(separator: "; ")
    }
}
