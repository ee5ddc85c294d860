// Fuzz target `address`: the URL and address policy (SPEC section 4) against libcurl itself.
//
// The first input byte picks a mode; the rest is the input.
// - URL (the rest as a URL, or `http://<rest>/p` when it has no `://`): libcurl's URL parser
//   (the flags an easy handle uses) is the oracle.
//   * Property of the issue: whenever libcurl would connect to an address literal the
//     connect-time check refuses, the submission check refuses the URL, without any lookup (as
//     with WEBHOOK_PROXY).
//   * Where both read a literal, they read the same address; a URL libcurl refuses is refused
//     at submission too (a 400, never a 202 and a later `invalid_url`).
// - Address (16 bytes): the connect-time verdict on the address equals the submission verdict on
//   its text and on a name resolving to it (with a public address besides), for three policies.
// - IPv6 text: the bracket parser agrees with `inet_pton(AF_INET6)` byte for byte.
// Every mode also checks that redaction is idempotent.
import CCurl
import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import WebhookCore


/// `precondition` without its message in optimized builds would hide what broke: this keeps it.
private func check(_ condition: Bool, _ message: @autoclosure () -> String = "") {
    if !condition { fatalError("property violated: \(message())") }
}
private let curlReady: Void = { curl_global_init(ccurl_global_all) }()
private let policies = [
    NetworkPolicy(),
    NetworkPolicy(allowedNetworks: ["64:ff9b::/96", "2002::/16", "10.0.0.0/8"].compactMap(CIDRBlock.init)),
    NetworkPolicy(allowedNetworks: ["127.0.0.1/32", "fd00::/8"].compactMap(CIDRBlock.init)),
]

/// libcurl's reading of a URL: nil when it refuses it, else its scheme and host.
private func curlParse(_ url: String) -> (scheme: String, host: String)? {
    guard let handle = curl_url() else { return nil }
    defer { curl_url_cleanup(handle) }
    let flags = UInt32(CURLU_GUESS_SCHEME) | UInt32(CURLU_NON_SUPPORT_SCHEME)
    guard curl_url_set(handle, CURLUPART_URL, url, flags) == CURLUE_OK else { return nil }
    var scheme: UnsafeMutablePointer<CChar>?
    var host: UnsafeMutablePointer<CChar>?
    defer {
        curl_free(scheme)
        curl_free(host)
    }
    guard curl_url_get(handle, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK,
        curl_url_get(handle, CURLUPART_HOST, &host, 0) == CURLUE_OK, let scheme, let host
    else { return nil }
    return (String(cString: scheme).lowercased(), String(cString: host))
}

/// `inet_pton` on a host as libcurl returns it (`[v6]` or dotted IPv4), zone dropped.
private func literal(_ host: String) -> IPAddress? {
    if host.hasPrefix("["), host.hasSuffix("]") {
        var inner = String(host.dropFirst().dropLast())
        if let percent = inner.firstIndex(of: "%") { inner = String(inner[..<percent]) }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, inner, &v6) == 1 else { return nil }
        return withUnsafeBytes(of: &v6) { IPAddress(bytes: Array($0)) }
    }
    var v4 = in_addr()
    guard inet_pton(AF_INET, host, &v4) == 1 else { return nil }
    return withUnsafeBytes(of: &v4) { IPAddress(bytes: Array($0)) }
}

private func checkURL(_ bytes: [UInt8]) {
    guard !bytes.contains(0) else { return }  // a C string ends at NUL: libcurl would see another URL
    let text = String(decoding: bytes, as: UTF8.self)
    let url = text.contains("://") ? text : "http://" + text + "/p"
    let ours = URLTarget.parse(url)
    guard let curl = curlParse(url) else {
        // libcurl refuses it: so must we.
        if case .success(let target) = ours { fatalError("libcurl refuses \(url.debugDescription), we read \(target)") }
        return
    }
    guard curl.scheme == "http" || curl.scheme == "https", let address = literal(curl.host) else { return }
    for policy in policies where policy.refusal(for: address) != nil {
        check(policy.refusal(forURL: url) != nil, "libcurl connects to refused \(address) for \(url.debugDescription); submission accepts")
    }
    if case .success(let target) = ours {
        check(target == .address(address), "libcurl reads \(address), we read \(target) in \(url.debugDescription)")
    }
}

private func checkAddress(_ bytes: [UInt8]) {
    guard bytes.count >= 16, let address = IPAddress(bytes: Array(bytes.prefix(16))) else { return }
    let host = address.isIPv4 ? address.description : "[\(address)]"
    check(IPAddress(urlHost: Substring(host)) == address, "\(host) does not read back")
    for policy in policies {
        let refused = policy.refusal(for: address) != nil
        check((policy.refusal(forURL: "http://\(host)/") != nil) == refused, "literal \(host) judged otherwise")
        // What the submission check decides once the lookup answered (the async part only races it
        // against the time limit; a fuzz run cannot afford a task per input).
        let viaName = policy.refusal(forName: "name.example", resolvedAs: .addresses([IPAddress(bytes: [93, 184, 215, 14])!, address]))
        check((viaName != nil) == refused, "a name resolving to \(address) judged otherwise")
    }
}

private func checkIPv6Text(_ bytes: [UInt8]) {
    guard !bytes.contains(0), bytes.count <= 64 else { return }
    let text = String(decoding: bytes, as: UTF8.self)
    var v6 = in6_addr()
    let system = inet_pton(AF_INET6, text, &v6) == 1 ? withUnsafeBytes(of: &v6) { Array($0) } : nil
    let ours = IPAddress.parseStrictIPv6(Substring(text))
    check(ours == system, "\(text.debugDescription): inet_pton \(String(describing: system)), ours \(String(describing: ours))")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAddress(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = curlReady
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let mode = input.first else { return 0 }
    let rest = Array(input.dropFirst())
    switch mode % 3 {
    case 0: checkURL(rest)
    case 1: checkAddress(rest)
    default: checkIPv6Text(rest)
    }
    let text = String(decoding: rest, as: UTF8.self)
    let once = URLRedaction.redact(text)
    check(URLRedaction.redact(once) == once, "redaction is not idempotent for \(text.debugDescription)")
    return 0
}
