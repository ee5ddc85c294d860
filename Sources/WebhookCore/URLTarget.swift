/// The host an http(s) URL points to, read the way libcurl reads it (SPEC section 4).
///
/// Parsed by hand rather than with `URLComponents`: Foundation decodes `xn--` names to Unicode
/// and accepts forms libcurl does not (tabs, ports over 65535), and the submission check must see
/// what libcurl will connect to, not what another parser thinks.
public enum URLTarget: Sendable, Hashable {
    /// An IP literal (`127.1`, `0x7f000001` and `[::1]` included).
    case address(IPAddress)
    /// A host name, lower-cased, without a trailing dot.
    case name(String)

    /// Reads `text` as an http(s) URL.
    ///
    /// | input | result |
    /// |---|---|
    /// | over 2,048 bytes | "must be at most 2048 bytes" |
    /// | a space, CR, LF or other control character anywhere | "must not contain spaces or control characters" |
    /// | other scheme, or not `scheme://` | "must be an http(s) URL" |
    /// | `user@`, `user:pw@` | "must not carry user info" |
    /// | port 0, over 65535, not digits | "must have a port from 1 to 65535" |
    /// | no host; host with `%`-escapes that are not ASCII letters, digits, `-`, `.`, `_` | "must have a host" / "must have a valid host name" |
    /// | non-ASCII host | "must have an ASCII host name (xn-- form)" |
    /// | host ending in a number that is not an IPv4 address (`1.2.3.4.5`, `4294967296`) | "must have a valid IPv4 address" |
    /// | `[…]` that is not IPv6 | "must have a valid IPv6 address" |
    ///
    /// Percent-escapes in a host name are decoded first, as libcurl decodes them
    /// (`%31%32%37.0.0.1` is 127.0.0.1), and one trailing dot is dropped (`127.0.0.1.` is the
    /// literal, `localhost.` the name `localhost`); a bracketed IPv6 host is read as written.
    /// - Returns: the target, or the reason the URL is refused (after the field name).
    public static func parse(_ text: String) -> Result<URLTarget, URLRefusal> {
        let bytes = Array(text.utf8)
        guard bytes.count <= NetworkPolicy.maxURLBytes else {
            return .failure(URLRefusal("must be at most \(NetworkPolicy.maxURLBytes) bytes"))
        }
        guard !bytes.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            return .failure(URLRefusal("must not contain spaces or control characters"))
        }
        guard let separator = firstIndex(of: Array("://".utf8), in: bytes) else {
            return .failure(URLRefusal("must be an http(s) URL"))
        }
        let scheme = String(decoding: bytes[..<separator], as: UTF8.self).lowercased()
        guard scheme == "http" || scheme == "https" else { return .failure(URLRefusal("must be an http(s) URL")) }
        let rest = bytes[(separator + 3)...]
        let authorityEnd = rest.firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") })
        let authority = rest[..<(authorityEnd ?? rest.endIndex)]
        guard !authority.contains(UInt8(ascii: "@")) else { return .failure(URLRefusal("must not carry user info")) }
        // Host, then an optional `:port`. A bracketed IPv6 host has colons of its own.
        var hostBytes = authority
        var portBytes: ArraySlice<UInt8>?
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else {
                return .failure(URLRefusal("must have a valid IPv6 address"))
            }
            hostBytes = authority[...close]
            let after = authority[(close + 1)...]
            if let colon = after.first {
                guard colon == UInt8(ascii: ":") else { return .failure(URLRefusal("must have a valid IPv6 address")) }
                portBytes = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: UInt8(ascii: ":")) {
            hostBytes = authority[..<colon]
            portBytes = authority[(colon + 1)...]
        }
        if let portBytes, !portBytes.isEmpty {
            guard portBytes.count <= 5, portBytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let port = Int(String(decoding: portBytes, as: UTF8.self)), (1...65535).contains(port)
            else { return .failure(URLRefusal("must have a port from 1 to 65535")) }
        }
        if hostBytes.first == UInt8(ascii: "[") { return bracketedTarget(hostBytes) }
        guard let decoded = percentDecoded(hostBytes) else { return .failure(URLRefusal("must have a valid host name")) }
        return target(ofHost: decoded)
    }

    /// `[address]` or `[address%zone]`, read as libcurl's `ipv6_parse` does: no percent-escapes
    /// in the address, a zone of 1–15 characters after `%` or `%25` (dropped: it does not change
    /// which address is reached). Only unreserved characters are accepted in the zone, so the
    /// zone's length here is its length for libcurl too.
    static func bracketedTarget(_ host: ArraySlice<UInt8>) -> Result<URLTarget, URLRefusal> {
        let refusal = URLRefusal("must have a valid IPv6 address")
        guard host.count >= 4, host.last == UInt8(ascii: "]") else { return .failure(refusal) }
        var inner = host.dropFirst().dropLast()
        if let percent = inner.firstIndex(of: UInt8(ascii: "%")) {
            var zone = inner[(percent + 1)...]
            if zone.starts(with: Array("25".utf8)), zone.count > 2 { zone = zone.dropFirst(2) }
            let unreserved = { (byte: UInt8) in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    true
                default: byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
                }
            }
            guard (1...15).contains(zone.count), zone.allSatisfy(unreserved) else { return .failure(refusal) }
            inner = inner[..<percent]
        }
        guard let bytes = IPAddress.parseStrictIPv6(Substring(String(decoding: inner, as: UTF8.self))),
            let address = IPAddress(bytes: bytes)
        else { return .failure(refusal) }
        return .success(.address(address))
    }

    /// The target of a decoded host.
    static func target(ofHost decoded: [UInt8]) -> Result<URLTarget, URLRefusal> {
        guard !decoded.isEmpty else { return .failure(URLRefusal("must have a host")) }
        guard decoded.allSatisfy({ $0 < 0x80 }) else {
            return .failure(URLRefusal("must have an ASCII host name (the xn-- form of an international name)"))
        }
        guard decoded.allSatisfy({ isNameByte($0) }) else { return .failure(URLRefusal("must have a valid host name")) }
        var host = Substring(String(decoding: decoded, as: UTF8.self).lowercased())
        if host.hasSuffix(".") { host = host.dropLast() }
        guard !host.isEmpty else { return .failure(URLRefusal("must have a host")) }
        if let address = IPAddress(urlHost: host) { return .success(.address(address)) }
        guard !IPAddress.looksNumeric(host) else { return .failure(URLRefusal("must have a valid IPv4 address")) }
        return .success(.name(String(host)))
    }

    /// ASCII letters, digits, `-`, `.`, `_`.
    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
        }
    }

    /// `%XX` decoded; nil for a malformed escape.
    private static func percentDecoded(_ bytes: ArraySlice<UInt8>) -> [UInt8]? {
        guard bytes.contains(UInt8(ascii: "%")) else { return Array(bytes) }
        var out = [UInt8]()
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
                else { return nil }
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func firstIndex(of needle: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        for start in 0...(bytes.count - needle.count) where bytes[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}

/// Why a URL is refused, as words that follow the field name ("must not carry user info").
public struct URLRefusal: Error, Sendable, Hashable {
    public var reason: String

    /// Creates a refusal.
    public init(_ reason: String) {
        self.reason = reason
    }
}
