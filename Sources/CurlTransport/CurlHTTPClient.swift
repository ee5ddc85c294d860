import CCurl
import Foundation
public import WebhookCore

/// An HTTP client on one libcurl multi handle, driven by one dedicated thread.
///
/// Callers `await` ``send(_:)``; the request is handed to the thread (which `curl_multi_wakeup`
/// wakes) and the caller resumes when its transfer ends. All transfers share the multi handle's
/// connection cache, so deliveries to one receiver reuse kept-alive connections. libcurl calls
/// block, so none of them runs on Swift's cooperative pool.
///
/// ```swift
/// try await CurlHTTPClient.withClient(configuration: .init()) { client in
///     let response = try await client.send(request)
/// }
/// ```
public final class CurlHTTPClient: WebhookSender, Sendable {
    /// What the caller threads share with the multi thread.
    struct Shared {
        var incoming: [CurlTransfer] = []
        var cancelled: [UInt64] = []
        /// Ids submitted and not finished, so a cancel can tell "not yet here" from "already done".
        var active: Set<UInt64> = []
        /// Ids whose cancellation handler ran while they were not `active`: before the request was
        /// handed to the loop (it must then not start), or after it finished (nothing to do).
        /// An id is here only while its `run` call is in progress: `run` removes it on every path
        /// (started, rejected, finished), so the set never holds more than the requests in flight.
        var cancelledEarly: Set<UInt64> = []
        var nextID: UInt64 = 1
        /// The last URL checked by ``CurlHTTPClient/preflightRefusal(_:policy:)`` and its verdict
        /// (the policy is the client's for life): deliveries mostly go to one callback, and the
        /// check is a parse.
        var lastPreflight: (url: String, refusal: String?)?
        var shuttingDown = false
        var stopped = false
    }

    /// The multi handle: used by the loop thread only, except `curl_multi_wakeup`, which libcurl
    /// documents as callable from any thread.
    struct MultiHandle: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
    }

    // The transfer objects crossing threads inside `Shared` are handed over under the mutex and
    // touched afterwards by the loop thread only.
    private let shared: SharedState
    private let multi: MultiHandle
    private let configuration: CurlClientConfiguration
    private let finished = DispatchSemaphore(value: 0)

    /// `Shared` behind a lock. `@unchecked`: the transfers inside are non-Sendable objects that
    /// are handed over under the lock and touched afterwards by the multi thread alone.
    final class SharedState: @unchecked Sendable {
        private let lock = NSLock()
        private var shared = Shared()

        func withLock<R>(_ body: (inout Shared) -> R) -> R {
            lock.lock()
            defer { lock.unlock() }
            return body(&shared)
        }
    }

    private static let globalInit: Void = {
        curl_global_init(ccurl_global_all)
        // NOSIGNAL removes libcurl's own SIGPIPE guard; a write to a closed socket must not kill us.
        signal(SIGPIPE, SIG_IGN)
    }()

    /// Creates a client and starts its thread. Prefer ``withClient(configuration:_:)``; a client
    /// made here must be stopped with ``shutdown()``.
    public init(configuration: CurlClientConfiguration) {
        _ = Self.globalInit
        self.configuration = configuration
        guard let handle = curl_multi_init() else {
            fatalError("curl_multi_init failed: out of memory")
        }
        multi = MultiHandle(pointer: handle)
        ccurl_multi_setopt_long(handle, CURLMOPT_MAXCONNECTS, configuration.maxCachedConnections)
        shared = SharedState()
        let loop = CurlMultiLoop(multi: multi, configuration: configuration, shared: shared, finished: finished)
        let thread = Thread { loop.run() }
        thread.name = "curl-multi"
        thread.start()
    }

    /// This libcurl and its TLS library, as `curl_version` says (`libcurl/7.88.1 OpenSSL/3.0.17 …`).
    public static var libcurlVersion: String {
        guard let text = curl_version() else { return "?" }
        return String(cString: text).split(separator: " ").prefix(2).joined(separator: " ")
    }

    /// Applies the client-wide options (protocols, TLS verification, CA file, client certificate,
    /// proxy) to a scratch handle and reports the first one libcurl refuses, so that `serve`
    /// stops at start with one line instead of failing every delivery (or, worse, sending it
    /// without the option: `CURLOPT_PROTOCOLS_STR` is unknown before libcurl 7.85).
    /// - Throws: ``CurlOptionError`` naming the option and libcurl's reason.
    public static func checkOptions(_ configuration: CurlClientConfiguration) throws(CurlOptionError) {
        _ = Self.globalInit
        guard let easy = curl_easy_init() else { throw CurlOptionError(option: "curl_easy_init", reason: "out of memory") }
        defer { curl_easy_cleanup(easy) }
        if let (option, code) = CurlMultiLoop.applyClientOptions(easy, configuration) {
            throw CurlOptionError(option: option, reason: String(cString: curl_easy_strerror(code)))
        }
    }

    /// Runs `body` with a client and shuts the client down afterwards, whatever happens.
    public static func withClient<Result>(
        configuration: CurlClientConfiguration,
        _ body: (CurlHTTPClient) async throws -> Result
    ) async rethrows -> Result {
        let client = CurlHTTPClient(configuration: configuration)
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// Ends every transfer still running (their callers get `.shutdown`) and stops the thread.
    public func shutdown() async {
        let alreadyStopped = shared.withLock { box in
            let was = box.shuttingDown
            box.shuttingDown = true
            return was
        }
        guard !alreadyStopped else { return }
        curl_multi_wakeup(multi.pointer)
        let semaphore = finished
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                semaphore.wait()
                continuation.resume()
            }
        }
        curl_multi_cleanup(multi.pointer)
    }

    /// The client's bookkeeping of requests, for tests: every count is 0 once no request is in flight.
    var bookkeeping: (active: Int, cancelledEarly: Int, cancelled: Int) {
        shared.withLock { ($0.active.count, $0.cancelledEarly.count, $0.cancelled.count) }
    }

    /// Performs one webhook POST. Cancelling the calling task aborts the transfer.
    /// - Throws: ``TransportError`` when no HTTP status arrived.
    public func send(_ request: WebhookRequest) async throws(TransportError) -> WebhookResponse {
        let outcome = try await run(
            method: "POST", url: request.url, headers: request.headers, body: request.body,
            sink: .prefix(limit: configuration.maxResponseBytes), totalTimeout: nil)
        return Self.response(outcome)
    }

    /// Starts one webhook POST; `completion` runs on the multi thread when it ends.
    ///
    /// The transfer goes to the thread at once, with no task or continuation in between, and
    /// its end is reported from there: the dispatcher's way, many attempts in flight.
    public func start(
        _ request: WebhookRequest, completion: @escaping @Sendable (Result<WebhookResponse, TransportError>) -> Void
    ) -> WebhookAttempt {
        let policy = configuration.networkPolicy
        let transfer = CurlTransfer(
            id: 0, method: "POST", url: request.url, headers: request.headers, body: request.body,
            sink: .prefix(limit: configuration.maxResponseBytes), policy: policy, totalTimeout: nil,
            completion: { outcome in completion(outcome.map(Self.response)) })
        let (id, accepted, wake): (UInt64, Bool, Bool) = shared.withLock { box in
            let id = box.nextID
            box.nextID += 1
            if box.shuttingDown { return (id, false, false) }
            transfer.id = id
            box.active.insert(id)
            box.incoming.append(transfer)
            // As in `run`: the first request of a batch wakes the loop, which takes the whole list.
            return (id, true, box.incoming.count == 1)
        }
        if !accepted {
            transfer.finish(.failure(TransportError(.shutdown, "the HTTP client is shut down")))
        } else if wake {
            curl_multi_wakeup(multi.pointer)
        }
        let shared = self.shared
        let multi = self.multi
        return WebhookAttempt {
            // Handed over under the lock above, so the transfer is either active or finished.
            let cancel = shared.withLock { box in
                guard box.active.contains(id) else { return false }
                box.cancelled.append(id)
                return true
            }
            if cancel { curl_multi_wakeup(multi.pointer) }
        }
    }

    private static func response(_ outcome: CurlOutcome) -> WebhookResponse {
        WebhookResponse(
            statusCode: outcome.status, retryAfter: outcome.retryAfter, bodyPrefix: outcome.body,
            bodyTruncated: outcome.endedEarly || outcome.bodyCut, duration: outcome.duration,
            deliveryDirective: outcome.deliveryDirective)
    }

    /// Performs a request and keeps the whole response body (up to `maxBodyBytes`).
    /// - Parameters:
    ///   - method: `GET`, `POST`, …; a body makes it a POST unless another method is named.
    ///   - totalTimeout: overrides the client's total timeout for this request.
    /// - Throws: ``TransportError`` when no complete response arrived (`.protocolError` for a body
    ///   over the limit).
    public func request(
        _ method: String, url: String, headers: [String] = [], body: [UInt8]? = nil, maxBodyBytes: Int = 16 << 20,
        totalTimeout: Duration? = nil, signing: AWSSigV4? = nil
    ) async throws(TransportError) -> HTTPClientResponse {
        let outcome = try await run(
            method: method, url: url, headers: headers, body: body, sink: .memory(limit: maxBodyBytes),
            totalTimeout: totalTimeout, signing: signing)
        if outcome.bodyCut { throw TransportError(.protocolError, "response body larger than \(maxBodyBytes) bytes") }
        if outcome.endedEarly { throw TransportError(.connectionReset, "the response ended early") }
        return HTTPClientResponse(status: outcome.status, headers: outcome.headers, body: outcome.body)
    }

    /// Downloads `url` with GET into the open file `descriptor` (at most `maxBytes`).
    /// - Returns: the status, headers and the number of body bytes written.
    /// - Throws: ``TransportError`` when the transfer failed, was cut, or the file could not be written.
    public func download(
        _ url: String, to descriptor: Int32, maxBytes: Int64, totalTimeout: Duration? = nil
    ) async throws(TransportError) -> (response: HTTPClientResponse, bytes: Int64) {
        let outcome = try await run(
            method: "GET", url: url, headers: [], body: nil, sink: .file(descriptor: descriptor, limit: maxBytes),
            totalTimeout: totalTimeout)
        if outcome.writeFailed { throw TransportError(.internalError, "could not write the downloaded file") }
        if outcome.bodyCut { throw TransportError(.protocolError, "larger than the \(maxBytes)-byte limit") }
        if outcome.endedEarly { throw TransportError(.connectionReset, "the download ended early") }
        return (HTTPClientResponse(status: outcome.status, headers: outcome.headers, body: []), outcome.bodyBytes)
    }

    /// Uploads a file with PUT, streaming it from disk, optionally signed with AWS SigV4 by libcurl.
    /// - Returns: the response with its body (S3 error documents are small).
    /// - Throws: ``TransportError`` when the file cannot be read or no complete answer arrived.
    public func upload(
        _ url: String, fromFile path: String, headers: [String] = [], signing: AWSSigV4? = nil, totalTimeout: Duration? = nil
    ) async throws(TransportError) -> HTTPClientResponse {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw TransportError(.internalError, "cannot open the file to upload") }
        defer { close(descriptor) }
        var info = stat()
        fstat(descriptor, &info)
        let outcome = try await run(
            method: "PUT", url: url, headers: headers, body: nil, sink: .memory(limit: 1 << 20), totalTimeout: totalTimeout,
            upload: (descriptor, Int64(info.st_size)), signing: signing)
        if outcome.endedEarly { throw TransportError(.connectionReset, "the upload ended early") }
        return HTTPClientResponse(status: outcome.status, headers: outcome.headers, body: outcome.body)
    }

    private func run(
        method: String, url: String, headers: [String], body: [UInt8]?, sink: CurlBodySink, totalTimeout: Duration?,
        upload: (Int32, Int64)? = nil, signing: AWSSigV4? = nil
    ) async throws(TransportError) -> CurlOutcome {
        let policy = configuration.networkPolicy
        let (id, checked) = shared.withLock { box in
            defer { box.nextID += 1 }
            return (box.nextID, box.lastPreflight.flatMap { $0.url == url ? $0 : nil })
        }
        if let policy {
            let refusal: String?
            if let checked {
                refusal = checked.refusal
            } else {
                refusal = Self.preflightRefusal(url, policy: policy)
                shared.withLock { $0.lastPreflight = (url, refusal) }
            }
            if let refusal { throw TransportError(.refusedByPolicy, "address refused: \(refusal)") }
        }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<CurlOutcome, TransportError>, Never>) in
                let transfer = CurlTransfer(
                    id: id, method: method, url: url, headers: headers, body: body, sink: sink, policy: policy,
                    totalTimeout: totalTimeout, completion: { continuation.resume(returning: $0) })
                transfer.uploadDescriptor = upload?.0
                transfer.uploadSize = upload?.1 ?? 0
                transfer.signing = signing
                let (rejection, wake): (TransportError?, Bool) = shared.withLock { box in
                    // Consume a cancellation that came first on every path, the shutdown one included.
                    let cancelledFirst = box.cancelledEarly.remove(id) != nil
                    if box.shuttingDown { return (TransportError(.shutdown, "the HTTP client is shut down"), false) }
                    if cancelledFirst { return (TransportError(.cancelled, "the request was cancelled"), false) }
                    box.active.insert(id)
                    box.incoming.append(transfer)
                    // Only the first request of a batch wakes the loop: it takes the whole list at
                    // once, so a wakeup per request would only cost a syscall each.
                    return (nil, box.incoming.count == 1)
                }
                if let rejection {
                    transfer.finish(.failure(rejection))
                } else if wake {
                    curl_multi_wakeup(multi.pointer)
                }
            }
        } onCancel: {
            shared.withLock { box in
                if box.active.contains(id) {
                    box.cancelled.append(id)
                } else {
                    box.cancelledEarly.insert(id)
                }
            }
            curl_multi_wakeup(multi.pointer)
        }
        // A handler that ran after the transfer finished (and so after `active` lost the id) left
        // the id in `cancelledEarly`. The handler cannot run once `withTaskCancellationHandler`
        // returned, and it runs only for a cancelled task, so this check catches every such entry.
        if Task.isCancelled {
            shared.withLock { _ = $0.cancelledEarly.remove(id) }
        }
        return try result.get()
    }
}

extension CurlHTTPClient {
    /// The URL's host checked before libcurl sees it, with the parser the submission check uses
    /// (``URLTarget``): a literal such as `0x7f000001` or `[::ffff:a9fe:a9fe]` that the policy
    /// refuses, or a `localhost` name.
    ///
    /// The open-socket callback checks every address libcurl connects to, but through a proxy
    /// libcurl connects only to the proxy, which then reaches the URL's host itself: this check is
    /// what keeps a literal internal address out of a proxied request. URLs that do not parse are
    /// left to libcurl (they fail as `invalidURL`).
    static func preflightRefusal(_ url: String, policy: NetworkPolicy) -> String? {
        guard case .success(let target) = URLTarget.parse(url) else { return nil }
        switch target {
        case .address(let address): return policy.refusal(for: address)
        case .name: return policy.refusal(for: target) == nil ? nil : "localhost"
        }
    }
}

/// AWS Signature Version 4, computed by libcurl (`CURLOPT_AWS_SIGV4`).
public struct AWSSigV4: Sendable, CustomStringConvertible {
    /// e.g. `aws:amz:us-east-1:s3`.
    public var provider: String
    public var accessKeyID: String
    public var secretAccessKey: String

    /// Signing for S3 in `region`.
    public init(region: String, accessKeyID: String, secretAccessKey: String) {
        provider = "aws:amz:\(region):s3"
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }

    /// Never shows the secret.
    public var description: String { "AWSSigV4(\(provider), key \(accessKeyID), secret <redacted>)" }
}

/// A response with its whole body (``CurlHTTPClient/request(_:url:headers:body:maxBodyBytes:totalTimeout:)``).
public struct HTTPClientResponse: Sendable {
    public var status: Int
    /// Header names lower-cased, in order.
    public var headers: [(String, String)]
    public var body: [UInt8]

    /// The first value of a header (name case-insensitive).
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.0 == lowered }?.1
    }
}

/// A libcurl option that this libcurl refused.
public struct CurlOptionError: Error, Sendable, CustomStringConvertible {
    /// `CURLOPT_…`.
    public let option: String
    public let reason: String
    public var description: String { "libcurl refused \(option): \(reason)" }
}
