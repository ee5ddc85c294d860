#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Which URLs and addresses callbacks and downloads may reach (SPEC section 4, SSRF).
///
/// Checked at submission (the URL text, literal hosts parsed as libcurl parses them, names
/// resolved: ``refusal(forURL:resolvingWith:timeout:)``), and again on every address libcurl is
/// about to connect to, so a name that resolves somewhere else later (DNS rebinding) still cannot
/// reach a refused address.
public struct NetworkPolicy: Sendable, Hashable {
    /// Blocks allowed although private (`CLIPPING_WORKER_ALLOWED_NETWORKS`).
    public var allowedNetworks: [CIDRBlock]

    /// Creates a policy.
    public init(allowedNetworks: [CIDRBlock] = []) {
        self.allowedNetworks = allowedNetworks
    }

    /// Loopback, private, link-local, multicast, unspecified and other non-public ranges, each
    /// with the words that name it in a message ("127.0.0.1, a loopback address").
    ///
    /// The IPv6 prefixes that lead into IPv4 space are here too: 6to4 (`2002::/16`), Teredo
    /// (`2001::/32`), NAT64 (`64:ff9b::/96` and the local-use `64:ff9b:1::/48`), and the
    /// deprecated site-local `fec0::/10`. An operator who allows one of them (a NAT64 network)
    /// still gets the embedded IPv4 address checked (``embeddedIPv4(in:)``).
    static let refusedBlocks: [(CIDRBlock, String)] = [
        ("0.0.0.0/8", "an unspecified"), ("127.0.0.0/8", "a loopback"), ("10.0.0.0/8", "a private"),
        ("172.16.0.0/12", "a private"), ("192.168.0.0/16", "a private"), ("100.64.0.0/10", "a shared (carrier-grade NAT)"),
        ("169.254.0.0/16", "a link-local"), ("192.0.0.0/24", "an IETF-reserved"),
        ("192.0.2.0/24", "a documentation"), ("198.18.0.0/15", "a benchmarking"), ("198.51.100.0/24", "a documentation"),
        ("203.0.113.0/24", "a documentation"), ("224.0.0.0/4", "a multicast"), ("240.0.0.0/4", "a reserved"),
        ("::/128", "an unspecified"), ("::1/128", "a loopback"), ("fc00::/7", "a private"), ("fe80::/10", "a link-local"),
        ("fec0::/10", "a site-local"), ("ff00::/8", "a multicast"), ("64:ff9b::/96", "a NAT64"),
        ("64:ff9b:1::/48", "a local-use NAT64"), ("2002::/16", "a 6to4"), ("2001::/32", "a Teredo"),
        ("2001:db8::/32", "a documentation"),
    ].compactMap { text, label in CIDRBlock(text).map { ($0, label) } }

    /// IPv6 forms that carry an IPv4 address a router or translator may deliver to.
    static let embeddingBlocks: [(CIDRBlock, String, Range<Int>)] = [
        ("2002::/16", "a 6to4", 2..<6), ("64:ff9b::/96", "a NAT64", 12..<16),
        ("::ffff:0:0:0/96", "an IPv4-translated", 12..<16), ("::/96", "an IPv4-compatible", 12..<16),
    ].compactMap { text, label, bytes in CIDRBlock(text).map { ($0, label, bytes) } }

    /// The longest URL accepted (bytes); libcurl and many proxies and receivers refuse longer ones.
    public static let maxURLBytes = 2048

    /// Why `address` is refused ("169.254.169.254, a link-local address"), or nil when it may be
    /// reached. The same answer at submission and at connect time.
    public func refusal(for address: IPAddress) -> String? {
        if let (kind, embedded) = Self.embeddedIPv4(in: address), let inner = refusal(for: embedded) {
            // The embedded address's own reason, after its address: "… (10.0.0.1, a private address)".
            return "\(address), \(kind) address for \(inner)"
        }
        if allowedNetworks.contains(where: { $0.contains(address) }) { return nil }
        for (block, label) in Self.refusedBlocks where block.contains(address) {
            return "\(address), \(label) address"
        }
        return nil
    }

    /// The IPv4 address inside a 6to4, NAT64, IPv4-translated or IPv4-compatible IPv6 address
    /// (`::` and `::1` excluded: they are themselves), with the words that name the form.
    static func embeddedIPv4(in address: IPAddress) -> (String, IPAddress)? {
        guard !address.isIPv4 else { return nil }
        for (block, kind, bytes) in embeddingBlocks where block.contains(address) {
            if block.prefixLength == 96, address.bytes[0..<15].allSatisfy({ $0 == 0 }), address.bytes[15] <= 1 { return nil }
            guard let embedded = IPAddress(bytes: Array(address.bytes[bytes])) else { return nil }
            return (kind, embedded)
        }
        return nil
    }

    /// Checks a URL's text: what libcurl would refuse, then http/https, no user info, a valid
    /// host; a literal host must be allowed. Names are not resolved here (see
    /// ``refusal(forURL:resolvingWith:timeout:)``); they are checked on their resolved addresses
    /// at connect time.
    /// - Returns: nil when acceptable, else a reason fit for an API error message after the field
    ///   name ("must not point to 127.0.0.1, a loopback address").
    public func refusal(forURL text: String) -> String? {
        switch URLTarget.parse(text) {
        case .failure(let refusal): refusal.reason
        case .success(let target): refusal(for: target)
        }
    }

    /// Why the host a URL names is refused: a refused literal address, or a `localhost` name.
    public func refusal(for target: URLTarget) -> String? {
        switch target {
        case .address(let address):
            return refusal(for: address).map { "must not point to \($0)" }
        case .name(let name):
            guard name == "localhost" || name.hasSuffix(".localhost") else { return nil }
            if allowedNetworks.contains(where: { $0.contains(IPAddress(bytes: [127, 0, 0, 1])!) }) { return nil }
            return "must not point to localhost"
        }
    }

    /// Parses `CLIPPING_WORKER_ALLOWED_NETWORKS` (comma- or space-separated CIDRs).
    /// - Returns: nil and the bad entry when one does not parse.
    public static func parseAllowedNetworks(_ text: String) -> Result<[CIDRBlock], InvalidCIDR> {
        var blocks = [CIDRBlock]()
        for entry in text.split(whereSeparator: { $0 == "," || $0 == " " }) where !entry.isEmpty {
            guard let block = CIDRBlock(String(entry)) else { return .failure(InvalidCIDR(text: String(entry))) }
            blocks.append(block)
        }
        return .success(blocks)
    }

    /// A CIDR entry that did not parse.
    public struct InvalidCIDR: Error, Sendable, Hashable {
        public var text: String
    }
}

/// The scheme, host and port of a URL: the unit of pausing and concurrency limits.
public struct Origin: Hashable, Sendable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int

    /// The origin of `url`, or nil when it has no scheme or host.
    public init?(url: String) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.host?.lowercased(), !host.isEmpty
        else { return nil }
        self.scheme = scheme
        self.host = host
        self.port = components.port ?? (scheme == "https" ? 443 : 80)
    }

    public var description: String { "\(scheme)://\(host):\(port)" }
}
