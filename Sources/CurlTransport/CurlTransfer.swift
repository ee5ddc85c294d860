import CCurl
import WebhookCore
#if canImport(Glibc)
import Glibc
#endif

/// Where a response body goes.
enum CurlBodySink {
    /// Webhooks: keep the first bytes for diagnostics; past `limit` end the transfer, the status stands.
    case prefix(limit: Int)
    /// Keep the whole body up to `limit`; past it end the transfer and report it as too large.
    case memory(limit: Int)
    /// Write the body to an open file descriptor, up to `limit` bytes.
    case file(descriptor: Int32, limit: Int64)
}

/// What a finished transfer hands back, before it is shaped for a caller.
struct CurlOutcome {
    var status: Int
    var headers: [(String, String)]
    var retryAfter: String?
    var deliveryDirective: String?
    var body: [UInt8]
    var bodyBytes: Int64
    /// The body was cut at the sink's limit.
    var bodyCut: Bool
    /// libcurl ended with an error after the status arrived.
    var endedEarly: Bool
    var writeFailed: Bool
    var duration: Duration
}

/// One request while libcurl works on it. Owned by the multi thread; libcurl holds an unretained
/// pointer to it (write/header/open-socket callbacks, `CURLOPT_PRIVATE`) from `add` until `remove`,
/// and the loop's `running` table keeps it alive for exactly that span.
final class CurlTransfer {
    /// Set before the transfer is handed to the multi thread, never after.
    var id: UInt64
    let method: String
    let url: String
    let headers: [String]
    let body: [UInt8]?
    let sink: CurlBodySink
    let policy: NetworkPolicy?
    let totalTimeout: Duration?
    /// Streams the request body from this descriptor (PUT uploads).
    var uploadDescriptor: Int32?
    var uploadSize: Int64 = 0
    /// AWS SigV4 signing done by libcurl itself.
    var signing: AWSSigV4?
    /// Called once with the result: resumes an awaiting caller, or reports to a started attempt.
    var completion: ((Result<CurlOutcome, TransportError>) -> Void)?
    var easy: UnsafeMutableRawPointer?
    var headerBlock: CurlHeaderBlock?
    var started = ContinuousClock.now

    // Filled by the callbacks on the multi thread.
    var received: [UInt8] = []
    var bodyBytes: Int64 = 0
    var bodyCut = false
    var writeFailed = false
    var responseHeaders: [(String, String)] = []
    var retryAfter: String?
    var deliveryDirective: String?
    /// Why the first refused address was refused by the SSRF policy (open-socket callback).
    var policyRefusal: String?
    /// Addresses the open-socket callback refused, and those it let through to `socket()`.
    /// Together they tell "every candidate was refused" from "one was refused, another failed".
    var refusedAddresses = 0
    var allowedAddresses = 0
    /// A connection was made or reused and the request was about to be sent (prereq callback):
    /// from then on a failure is about the reply, not the URL.
    var connected = false
    /// libcurl follows redirects for this transfer (downloads).
    var followsRedirects = false
    /// `CURLOPT_ERRORBUFFER`: libcurl's own words for a failure (a TLS alert, the verify
    /// result), richer than the code's generic text. Allocated once per transfer object.
    let errorBuffer: UnsafeMutablePointer<CChar> = {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
        buffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        return buffer
    }()

    /// What libcurl wrote to the error buffer, or nil.
    var errorDetail: String? {
        errorBuffer.pointee == 0 ? nil : String(cString: errorBuffer)
    }

    deinit {
        errorBuffer.deallocate()
    }

    /// A redirect is being followed: what the callbacks learnt about the last hop's addresses
    /// no longer describes the next one, whose refusal alone must decide (a refused hop after an
    /// allowed one is a policy refusal, not a mixed connect failure).
    func beginHop() {
        policyRefusal = nil
        refusedAddresses = 0
        allowedAddresses = 0
        connected = false
    }

    init(
        id: UInt64, method: String, url: String, headers: [String], body: [UInt8]?, sink: CurlBodySink,
        policy: NetworkPolicy?, totalTimeout: Duration?,
        completion: @escaping (Result<CurlOutcome, TransportError>) -> Void
    ) {
        self.id = id
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.sink = sink
        self.policy = policy
        self.totalTimeout = totalTimeout
        self.completion = completion
    }

    /// Hands the result over; later calls do nothing, so every path may call it safely.
    func finish(_ result: Result<CurlOutcome, TransportError>) {
        guard let completion else { return }
        self.completion = nil
        completion(result)
    }

    var pointer: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ pointer: UnsafeMutableRawPointer) -> CurlTransfer {
        Unmanaged<CurlTransfer>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Fills libcurl's upload buffer from the upload descriptor.
    func readUpload(into buffer: UnsafeMutableRawPointer, capacity: Int) -> Int {
        guard let descriptor = uploadDescriptor else { return 0 }
        while true {
            let count = read(descriptor, buffer, capacity)
            if count < 0 && errno == EINTR { continue }
            return count < 0 ? Int(CURL_READFUNC_ABORT) : count
        }
    }

    /// Takes a chunk of body; returns false to end the transfer.
    func take(_ chunk: UnsafeRawBufferPointer) -> Bool {
        bodyBytes += Int64(chunk.count)
        switch sink {
        case .prefix(let limit):
            let room = WebhookResponse.keptBodyBytes - received.count
            if room > 0 { received.append(contentsOf: chunk.prefix(room)) }
            if bodyBytes > Int64(limit) {
                bodyCut = true
                return false
            }
        case .memory(let limit):
            if bodyBytes > Int64(limit) {
                bodyCut = true
                return false
            }
            received.append(contentsOf: chunk)
        case .file(let descriptor, let limit):
            if bodyBytes > limit {
                bodyCut = true
                return false
            }
            var offset = 0
            while offset < chunk.count {
                let written = write(descriptor, chunk.baseAddress! + offset, chunk.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    writeFailed = true
                    return false
                }
                offset += written
            }
        }
        return true
    }
}

/// libcurl callbacks. They run on the multi thread, inside `curl_multi_perform`.
enum CurlCallbacks {
    /// Keeps the first bytes for diagnostics and stops reading past the response limit
    /// (returning a short count makes libcurl end the transfer with `CURLE_WRITE_ERROR`).
    static let write: ccurl_data_callback = { data, size, count, userdata in
        guard let data, let userdata else { return 0 }
        let length = size * count
        return CurlTransfer.from(userdata).take(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
    }

    /// Streams an upload from its file.
    static let read: ccurl_data_callback = { data, size, count, userdata in
        guard let data, let userdata else { return Int(CURL_READFUNC_ABORT) }
        return CurlTransfer.from(userdata).readUpload(into: data, capacity: size * count)
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
            transfer.deliveryDirective = nil
            transfer.responseHeaders.removeAll()
            // "HTTP/1.1 302 Found": a 3xx that libcurl will follow starts a new hop.
            if transfer.followsRedirects, let space = line.firstIndex(of: UInt8(ascii: " ")),
                space + 1 < line.count, line[space + 1] == UInt8(ascii: "3")
            {
                transfer.beginHop()
            }
        } else if case .prefix = transfer.sink {
            // Webhook deliveries need only Retry-After (below).
        } else if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: " \t\r\n")
            transfer.responseHeaders.append((name, value))
        }
        if line.count > name.count,
            zip(line.prefix(name.count), name).allSatisfy({ ($0 | 0x20) == ($1 | 0x20) })
        {
            var value = String(decoding: line.dropFirst(name.count), as: UTF8.self)
            value = value.trimmingCharacters(in: " \t\r\n")
            transfer.retryAfter = value
        }
        let directive = "webhook-delivery:".utf8
        if line.count > directive.count,
            zip(line.prefix(directive.count), directive).allSatisfy({ ($0 | 0x20) == ($1 | 0x20) })
        {
            transfer.deliveryDirective = String(decoding: line.dropFirst(directive.count), as: UTF8.self)
                .trimmingCharacters(in: " \t\r\n").lowercased()
        }
        return length
    }

    /// The SSRF check on the address libcurl is about to connect to, after DNS resolution.
    static let openSocket: ccurl_opensocket_callback = { clientp, purpose, address in
        guard let clientp, let address else { return ccurl_socket_bad }
        let transfer = CurlTransfer.from(clientp)
        if let policy = transfer.policy {
            guard let ip = ipAddress(of: address) else {
                if transfer.policyRefusal == nil { transfer.policyRefusal = "unsupported address family" }
                transfer.refusedAddresses += 1
                return ccurl_socket_bad
            }
            if let refusal = policy.refusal(for: ip) {
                if transfer.policyRefusal == nil { transfer.policyRefusal = refusal }
                transfer.refusedAddresses += 1
                return ccurl_socket_bad
            }
        }
        transfer.allowedAddresses += 1
        // Close-on-exec: the worker starts ffmpeg and helpers, which must not inherit callback sockets.
        return socket(address.pointee.family, address.pointee.socktype | Int32(SOCK_CLOEXEC.rawValue), address.pointee.protocol)
    }

    /// Notes that a connection is up (new or reused) and the request goes out now.
    static let prerequest: ccurl_prereq_callback = { clientp, _, _, _, _ in
        if let clientp { CurlTransfer.from(clientp).connected = true }
        return ccurl_prereqfunc_ok
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
