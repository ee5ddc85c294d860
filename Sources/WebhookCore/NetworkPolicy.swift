#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Which URLs and addresses callbacks and downloads may reach (SPEC section 4, SSRF).
///
/// Checked twice: on the URL text at submission, and on every resolved address at connect time,
/// so a name that resolves somewhere else later (DNS rebinding) still cannot reach a refused
/// address.
public struct NetworkPolicy: Sendable, Hashable {
    /// Blocks allowed although private (`CLIPPING_WORKER_ALLOWED_NETWORKS`).
    public var allowedNetworks: [CIDRBlock]

    /// Creates a policy.
    public init(allowedNetworks: [CIDRBlock] = []) {
        self.allowedNetworks = allowedNetworks
    }

    /// Loopback, private, link-local, multicast, unspecified and other non-public ranges.
    static let refusedBlocks: [(CIDRBlock, String)] = [
        ("0.0.0.0/8", "unspecified"), ("127.0.0.0/8", "loopback"), ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"), ("192.168.0.0/16", "private"), ("100.64.0.0/10", "shared address space"),
        ("169.254.0.0/16", "link-local"), ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation"), ("198.18.0.0/15", "benchmarking"), ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"), ("224.0.0.0/4", "multicast"), ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"), ("::1/128", "loopback"), ("fc00::/7", "private"), ("fe80::/10", "link-local"),
        ("ff00::/8", "multicast"), ("64:ff9b::/96", "NAT64"), ("2001:db8::/32", "documentation"),
    ].compactMap { text, label in CIDRBlock(text).map { ($0, label) } }

    /// Why `address` is refused, or nil when it may be reached.
    public func refusal(for address: IPAddress) -> String? {
        if allowedNetworks.contains(where: { $0.contains(address) }) { return nil }
        for (block, label) in Self.refusedBlocks where block.contains(address) {
            return "\(address) is a \(label) address"
        }
        // IPv4-compatible (deprecated ::a.b.c.d) addresses carry an IPv4 address too.
        if !address.isIPv4, address.bytes[0..<12].allSatisfy({ $0 == 0 }),
            let embedded = IPAddress(bytes: Array(address.bytes[12..<16]))
        {
            return refusal(for: embedded)
        }
        return nil
    }

    /// Checks a URL's text: http/https only, no user info, a host; an IP-literal host must be
    /// allowed. Host names are checked again on their resolved addresses at connect time.
    /// - Returns: nil when acceptable, else a reason fit for an API error message.
    public func refusal(forURL text: String) -> String? {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            return "must be an http(s) URL"
        }
        guard scheme == "http" || scheme == "https" else { return "must be an http(s) URL" }
        guard components.user == nil, components.password == nil else { return "must not carry user info" }
        guard let host = components.host, !host.isEmpty else { return "must have a host" }
        if let address = IPAddress(host) {
            return refusal(for: address).map { "must not point to \($0)" }
        }
        let lowered = host.lowercased()
        if lowered == "localhost" || lowered.hasSuffix(".localhost") {
            if allowedNetworks.contains(where: { $0.contains(IPAddress("127.0.0.1")!) }) { return nil }
            return "must not point to localhost"
        }
        return nil
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
