extension IPAddress {
    /// Parses the host of a URL as libcurl does before it connects, or returns nil for a name.
    ///
    /// The submission check and the transport's pre-flight check both read hosts through this one
    /// function, so they can never disagree about which address a URL names; the connect-time
    /// check then sees the address libcurl really resolved.
    ///
    /// - `[…]`: an IPv6 literal (`inet_pton` rules; a `%zone` is dropped, as libcurl does).
    /// - Otherwise the `inet_aton` forms libcurl's URL parser normalizes (curl 7.77+,
    ///   `ipv4_normalize`): one to four parts separated by dots, each decimal, octal (leading
    ///   `0`) or hexadecimal (`0x`), the last part filling the remaining bytes:
    ///
    /// | text | address |
    /// |---|---|
    /// | `127.1` | 127.0.0.1 |
    /// | `0x7f000001`, `2130706433` | 127.0.0.1 |
    /// | `0177.0.0.1` | 127.0.0.1 |
    /// | `0` | 0.0.0.0 |
    /// | `0xa9fea9fe` | 169.254.169.254 |
    ///
    /// A trailing dot is not part of a literal here (libcurl resolves `127.0.0.1.` as a name);
    /// callers that refuse such names strip it first.
    /// - Parameter host: the host as it appears in the URL, percent-decoded, brackets included.
    public init?(urlHost host: Substring) {
        if host.first == "[" {
            guard host.last == "]", host.count > 2 else { return nil }
            var inner = host.dropFirst().dropLast()
            if let percent = inner.firstIndex(of: "%") { inner = inner[..<percent] }
            guard let bytes = Self.parseStrictIPv6(inner) else { return nil }
            self.init(bytes: bytes)
            return
        }
        guard let bytes = Self.parseInetAton(host.utf8) else { return nil }
        self.init(bytes: bytes)
    }

    /// True when `host` (without a trailing dot) ends in a label that is a number (`…​.123` or
    /// `…​.0x1f`): such a host is an IPv4 literal or nothing (the WHATWG URL rule; no top-level
    /// domain is numeric), never a name to look up.
    public static func looksNumeric(_ host: Substring) -> Bool {
        let last = host.split(separator: ".", omittingEmptySubsequences: false).last ?? host[...]
        guard let first = last.utf8.first else { return false }
        if last.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { return true }
        let bytes = Array(last.utf8)
        return first == UInt8(ascii: "0") && bytes.count >= 2 && (bytes[1] | 0x20) == UInt8(ascii: "x")
            && bytes.dropFirst(2).allSatisfy(\.isHexDigit)
    }

    /// `inet_aton` / libcurl `ipv4_normalize`: 1–4 parts; each starts with a digit; base by prefix.
    static func parseInetAton(_ text: Substring.UTF8View) -> [UInt8]? {
        var parts = [UInt64]()
        var index = text.startIndex
        while true {
            guard parts.count < 4, index < text.endIndex, text[index].isDecimalDigit else { return nil }
            var radix: UInt64 = 10
            if text[index] == UInt8(ascii: "0") {
                let next = text.index(after: index)
                if next < text.endIndex, text[next] | 0x20 == UInt8(ascii: "x") {
                    radix = 16
                    index = text.index(after: next)
                    // `0x` needs at least one hex digit (strtoul would stop at the `x`).
                    guard index < text.endIndex, text[index].isHexDigit else { return nil }
                } else {
                    radix = 8
                }
            }
            var value: UInt64 = 0
            while index < text.endIndex, let digit = text[index].digitValue, digit < radix {
                value = value * radix + digit
                // Beyond 32 bits no part is valid; stop before UInt64 could overflow.
                guard value <= 0xFFFF_FFFF else { return nil }
                index = text.index(after: index)
            }
            parts.append(value)
            if index == text.endIndex { break }
            guard text[index] == UInt8(ascii: ".") else { return nil }
            index = text.index(after: index)
        }
        let value: UInt64
        switch parts.count {
        case 1:
            value = parts[0]
        case 2:
            guard parts[0] <= 0xFF, parts[1] <= 0xFF_FFFF else { return nil }
            value = parts[0] << 24 | parts[1]
        case 3:
            guard parts[0] <= 0xFF, parts[1] <= 0xFF, parts[2] <= 0xFFFF else { return nil }
            value = parts[0] << 24 | parts[1] << 16 | parts[2]
        default:
            guard parts.allSatisfy({ $0 <= 0xFF }) else { return nil }
            value = parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]
        }
        return [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    /// `inet_pton(AF_INET6, …)`: hex groups of 1–4 digits (no sign), at most one `::`, an optional
    /// dotted-quad tail (decimal, no leading zeros) in the last 32 bits.
    static func parseStrictIPv6(_ text: Substring) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8.count <= 45 else { return nil }
        var groups = [UInt16]()
        var gap: Int?
        var index = 0
        if utf8[0] == UInt8(ascii: ":") {
            guard utf8[1] == UInt8(ascii: ":") else { return nil }
            gap = 0
            index = 2
            if index == utf8.count { return [UInt8](repeating: 0, count: 16) }
        }
        while index < utf8.count {
            // A dotted quad may end the address.
            let fieldEnd = utf8[index...].firstIndex(of: UInt8(ascii: ":")) ?? utf8.count
            let field = utf8[index..<fieldEnd]
            if field.contains(UInt8(ascii: ".")) {
                guard fieldEnd == utf8.count, groups.count <= 6, let quad = Self.parseDottedQuad(field) else { return nil }
                groups.append(UInt16(quad[0]) << 8 | UInt16(quad[1]))
                groups.append(UInt16(quad[2]) << 8 | UInt16(quad[3]))
                index = fieldEnd
                break
            }
            guard (1...4).contains(field.count), field.allSatisfy(\.isHexDigit) else { return nil }
            groups.append(field.reduce(UInt16(0)) { $0 << 4 | UInt16($1.digitValue ?? 0) })
            guard groups.count <= 8 else { return nil }
            index = fieldEnd
            if index == utf8.count { break }
            // At a colon: `::` marks the gap, a single one separates groups.
            index += 1
            if index < utf8.count, utf8[index] == UInt8(ascii: ":") {
                guard gap == nil else { return nil }
                gap = groups.count
                index += 1
            } else {
                guard index < utf8.count else { return nil }  // a trailing single colon
            }
        }
        if let gap {
            guard groups.count <= 7 else { return nil }
            groups.insert(contentsOf: [UInt16](repeating: 0, count: 8 - groups.count), at: gap)
        }
        guard groups.count == 8 else { return nil }
        return groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// `inet_pton(AF_INET, …)`: exactly four decimal parts 0–255, no leading zeros.
    static func parseDottedQuad(_ field: ArraySlice<UInt8>) -> [UInt8]? {
        let parts = field.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out = [UInt8]()
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(\.isDecimalDigit) else { return nil }
            if part.count > 1, part.first == UInt8(ascii: "0") { return nil }
            let value = part.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard value <= 255 else { return nil }
            out.append(UInt8(value))
        }
        return out
    }
}

extension UInt8 {
    fileprivate var isDecimalDigit: Bool { self >= 0x30 && self <= 0x39 }
    fileprivate var isHexDigit: Bool { digitValue != nil }

    /// 0–15 for `0-9a-fA-F`, else nil.
    fileprivate var digitValue: UInt64? {
        switch self {
        case 0x30...0x39: UInt64(self - 0x30)
        case 0x41...0x46: UInt64(self - 0x41 + 10)
        case 0x61...0x66: UInt64(self - 0x61 + 10)
        default: nil
        }
    }
}
