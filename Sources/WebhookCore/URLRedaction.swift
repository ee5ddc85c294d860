/// Makes URLs safe to log and show (SPEC section 7): query values and user info are replaced, and
/// so are path segments that look like tokens.
///
/// Slack- and Discord-style callback URLs carry their secret in the path
/// (`/services/T000/B000/XXXX…`, `/api/webhooks/123…/abcDEF…`), so the query alone is not enough.
/// Every log line and API answer that shows a callback URL goes through ``redact(_:)``.
public enum URLRedaction {
    /// What replaces a secret.
    public static let placeholder = "REDACTED"

    /// | input | output |
    /// |---|---|
    /// | `https://h/p?token=abc&x=1#f` | `https://h/p?token=REDACTED&x=REDACTED` |
    /// | `https://user:pw@h/p` | `https://REDACTED@h/p` |
    /// | `https://hooks.slack.com/services/T0/B0/a1b2c3d4e5f6g7h8i9j0k1l2` | `https://hooks.slack.com/services/T0/B0/REDACTED` |
    /// | `https://h/api/webhooks/1234/abcDEF-ghi_jkl0123456789` | `https://h/api/webhooks/1234/REDACTED` |
    public static func redact(_ url: String) -> String {
        var text = Substring(url)
        if let hash = text.firstIndex(of: "#") { text = text[..<hash] }
        var query: Substring?
        if let question = text.firstIndex(of: "?") {
            query = text[text.index(after: question)...]
            text = text[..<question]
        }
        var result = ""
        var path = text
        // user:password@host → REDACTED@host
        if let schemeEnd = Self.endOfScheme(text) {
            let afterScheme = text[schemeEnd...]
            let authorityEnd = afterScheme.firstIndex(of: "/") ?? afterScheme.endIndex
            let authority = afterScheme[..<authorityEnd]
            result = String(text[..<schemeEnd])
            if let at = authority.lastIndex(of: "@") {
                result += placeholder + "@" + authority[authority.index(after: at)...]
            } else {
                result += authority
            }
            path = afterScheme[authorityEnd...]
        }
        result += path.split(separator: "/", omittingEmptySubsequences: false)
            .map { isTokenLike($0) ? placeholder : String($0) }
            .joined(separator: "/")
        if let query, !query.isEmpty {
            let pairs = query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
                guard let equals = pair.firstIndex(of: "=") else { return isTokenLike(pair) ? placeholder : String(pair) }
                return String(pair[..<equals]) + "=" + placeholder
            }
            result += "?" + pairs.joined(separator: "&")
        }
        return result
    }

    /// A path segment that looks like a token (SPEC section 7): 20 or more characters of letters,
    /// digits, `-` or `_`, at least one of them a digit.
    public static func isTokenLike(_ segment: Substring) -> Bool {
        guard segment.utf8.count >= 20 else { return false }
        var sawDigit = false
        for byte in segment.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): sawDigit = true
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                continue
            default: return false
            }
        }
        return sawDigit
    }

    /// The index just past `://`, if present.
    private static func endOfScheme(_ text: Substring) -> Substring.Index? {
        var index = text.startIndex
        while index < text.endIndex {
            if text[index...].hasPrefix("://") { return text.index(index, offsetBy: 3) }
            index = text.index(after: index)
        }
        return nil
    }
}
