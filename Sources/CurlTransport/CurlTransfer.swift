import CCurl
import WebhookCore
#if canImport(Glibc)
import Glibc
#endif

/// One request while libcurl works on it. Owned by the multi thread; libcurl holds an unretained
/// pointer to it (write/header/open-socket callbacks, `CURLOPT_PRIVATE`) from `add` until `remove`,
/// and the loop's `active` table keeps it alive for exactly that span.
final class CurlTransfer {
    let id: UInt64
    let request: WebhookRequest
    let policy: NetworkPolicy?
    let maxResponseBytes: Int
    var continuation: CheckedContinuation<Result<WebhookResponse, TransportError>, Never>?
    var easy: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?
    var started = ContinuousClock.now

    // Filled by the callbacks on the multi thread.
    var bodyPrefix: [UInt8] = []
    var bodyBytes = 0
    var bodyCut = false
    var retryAfter: String?
    var policyRefusal: String?

    init(
        id: UInt64, request: WebhookRequest, policy: NetworkPolicy?, maxResponseBytes: Int,
        continuation: CheckedContinuation<Result<WebhookResponse, TransportError>, Never>
    ) {
        self.id = id
        self.request = request
        self.policy = policy
        self.maxResponseBytes = maxResponseBytes
        self.continuation = continuation
    }

    /// Resumes the awaiting caller; later calls do nothing, so every path may call it safely.
    func finish(_ result: Result<WebhookResponse, TransportError>) {
        continuation?.resume(returning: result)
        continuation = nil
    }

    var pointer: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ pointer: UnsafeMutableRawPointer) -> CurlTransfer {
        Unmanaged<CurlTransfer>.fromOpaque(pointer).takeUnretainedValue()
    }
}

/// libcurl callbacks. They run on the multi thread, inside `curl_multi_perform`.
enum CurlCallbacks {
    /// Keeps the first bytes for diagnostics and stops reading past the response limit
    /// (returning a short count makes libcurl end the transfer with `CURLE_WRITE_ERROR`).
    static let write: ccurl_data_callback = { data, size, count, userdata in
        guard let data, let userdata else { return 0 }
        let transfer = CurlTransfer.from(userdata)
        let length = size * count
        transfer.bodyBytes += length
        let room = WebhookResponse.keptBodyBytes - transfer.bodyPrefix.count
        if room > 0 {
            let raw = UnsafeRawBufferPointer(start: data, count: min(room, length))
            transfer.bodyPrefix.append(contentsOf: raw)
        }
        if transfer.bodyBytes > transfer.maxResponseBytes {
            transfer.bodyCut = true
            return 0
        }
        return length
    }

    /// Picks `Retry-After` out of the header lines; a new status line (e.g. after 100) resets it.
    static let header: ccurl_data_callback = { data, size, count, userdata in
        guard let data, let userdata else { return 0 }
        let transfer = CurlTransfer.from(userdata)
        let length = size * count
        let line = UnsafeRawBufferPointer(start: data, count: length)
        let name = "retry-after:".utf8
        if line.count > 5, line.starts(with: "HTTP/".utf8) {
            transfer.retryAfter = nil
        } else if line.count > name.count,
            zip(line.prefix(name.count), name).allSatisfy({ ($0 | 0x20) == ($1 | 0x20) })
        {
            var value = String(decoding: line.dropFirst(name.count), as: UTF8.self)
            value = value.trimmingCharacters(in: " \t\r\n")
            transfer.retryAfter = value
        }
        return length
    }

    /// The SSRF check on the address libcurl is about to connect to, after DNS resolution.
    static let openSocket: ccurl_opensocket_callback = { clientp, purpose, address in
        guard let clientp, let address else { return ccurl_socket_bad }
        let transfer = CurlTransfer.from(clientp)
        if let policy = transfer.policy {
            guard let ip = ipAddress(of: address) else {
                transfer.policyRefusal = "unsupported address family"
                return ccurl_socket_bad
            }
            if let refusal = policy.refusal(for: ip) {
                transfer.policyRefusal = refusal
                return ccurl_socket_bad
            }
        }
        return socket(address.pointee.family, address.pointee.socktype, address.pointee.protocol)
    }

    static func ipAddress(of address: UnsafeMutablePointer<curl_sockaddr>) -> IPAddress? {
        guard let offset = MemoryLayout<curl_sockaddr>.offset(of: \curl_sockaddr.addr) else { return nil }
        let base = UnsafeRawPointer(address).advanced(by: offset)
        switch address.pointee.family {
        case AF_INET:
            var v4 = base.loadUnaligned(as: sockaddr_in.self).sin_addr.s_addr
            return withUnsafeBytes(of: &v4) { IPAddress(bytes: Array($0)) }
        case AF_INET6:
            var v6 = base.loadUnaligned(as: sockaddr_in6.self).sin6_addr
            return withUnsafeBytes(of: &v6) { IPAddress(bytes: Array($0)) }
        default:
            return nil
        }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let c = slice.first, set.contains(c) { slice = slice.dropFirst() }
        while let c = slice.last, set.contains(c) { slice = slice.dropLast() }
        return String(slice)
    }
}
