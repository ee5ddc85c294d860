/// Makes URLs safe to log: query values (tokens often travel there) and user info are replaced.
public enum URLRedaction {
    /// `https://h/p?token=abc&x=1#f` → `https://h/p?token=REDACTED&x=REDACTED`.
    public static func redact(_ url: String) -> String {
        // Most callback URLs carry no query, fragment or user info: nothing to redact, no copy.
        if !url.utf8.contains(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") || $0 == UInt8(ascii: "@") }) {
            return url
        }
        var text = Substring(url)
        if let hash = text.firstIndex(of: "#") { text = text[..<hash] }
        var result = ""
        var base = text
        var query: Substring?
        if let question = text.firstIndex(of: "?") {
            base = text[..<question]
            query = text[text.index(after: question)...]
        }
        // user:password@host → REDACTED@host
        if let schemeEnd = Self.endOfScheme(base) {
            let afterScheme = base[schemeEnd...]
            let authorityEnd = afterScheme.firstIndex(of: "/") ?? afterScheme.endIndex
            let authority = afterScheme[..<authorityEnd]
            if let at = authority.lastIndex(of: "@") {
                result = String(base[..<schemeEnd]) + "REDACTED@" + String(authority[authority.index(after: at)...])
                    + String(afterScheme[authorityEnd...])
            } else {
                result = String(base)
            }
        } else {
            result = String(base)
        }
        if let query, !query.isEmpty {
            let pairs = query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
                guard let equals = pair.firstIndex(of: "=") else { return String(pair) }
                return String(pair[..<equals]) + "=REDACTED"
            }
            result += "?" + pairs.joined(separator: "&")
        }
        return result
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
