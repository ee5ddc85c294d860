/// One HTTP POST of a webhook.
public struct WebhookRequest: Sendable {
    /// The callback URL.
    public var url: String
    /// Header lines, `Name: value`, in order.
    public var headers: [String]
    /// The exact bytes to send.
    public var body: [UInt8]

    /// Creates a request.
    public init(url: String, headers: [String], body: [UInt8]) {
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// What a receiver answered.
public struct WebhookResponse: Sendable, Hashable {
    /// The HTTP status code (3xx included: redirects are never followed).
    public var statusCode: Int
    /// The raw `Retry-After` header, if any.
    public var retryAfter: String?
    /// The `webhook-delivery` response header, lowercased (`abort-message`, `disable`), if any:
    /// the receiver's say on further attempts (SPEC section 6).
    public var deliveryDirective: String?
    /// The first bytes of the body (at most ``WebhookResponse/keptBodyBytes``), for diagnostics.
    public var bodyPrefix: [UInt8]
    /// True when the body was cut at the read limit or by an error after the status arrived.
    public var bodyTruncated: Bool
    /// From the start of the transfer to its end.
    public var duration: Duration

    /// How much of a response body is kept for the log and API.
    public static let keptBodyBytes = 512

    /// Creates a response.
    public init(
        statusCode: Int, retryAfter: String?, bodyPrefix: [UInt8], bodyTruncated: Bool, duration: Duration,
        deliveryDirective: String? = nil
    ) {
        self.deliveryDirective = deliveryDirective
        self.statusCode = statusCode
        self.retryAfter = retryAfter
        self.bodyPrefix = bodyPrefix
        self.bodyTruncated = bodyTruncated
        self.duration = duration
    }
}

/// Why an attempt got no HTTP answer.
public struct TransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The class of failure; cases may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidURL = "invalid_url"
            case refusedByPolicy = "refused_by_policy"
            case dnsFailed = "dns_failed"
            case connectFailed = "connect_failed"
            case timedOut = "timed_out"
            case connectionReset = "connection_reset"
            case tlsFailed = "tls_failed"
            case protocolError = "protocol_error"
            case cancelled
            case shutdown
            case internalError = "internal_error"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Not an http(s) URL, or otherwise unusable.
        public static let invalidURL = Code(.invalidURL)
        /// The URL or the address it resolved to is not allowed (SSRF policy).
        public static let refusedByPolicy = Code(.refusedByPolicy)
        /// The host name did not resolve.
        public static let dnsFailed = Code(.dnsFailed)
        /// No connection could be made (refused, unreachable).
        public static let connectFailed = Code(.connectFailed)
        /// The connect or total timeout passed.
        public static let timedOut = Code(.timedOut)
        /// The connection broke before a complete answer.
        public static let connectionReset = Code(.connectionReset)
        /// TLS could not be established.
        public static let tlsFailed = Code(.tlsFailed)
        /// The receiver spoke something other than HTTP.
        public static let protocolError = Code(.protocolError)
        /// The awaiting task was cancelled.
        public static let cancelled = Code(.cancelled)
        /// The sender was shut down.
        public static let shutdown = Code(.shutdown)
        /// A failure inside the sender itself.
        public static let internalError = Code(.internalError)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// A message safe to log (no URL query, no secrets).
    public var message: String
    /// The raw `CURLcode`, when libcurl reported the failure.
    public var curlCode: Int32?

    /// Creates a transport error.
    public init(_ code: Code, _ message: String, curlCode: Int32? = nil) {
        self.code = code
        self.message = message
        self.curlCode = curlCode
    }

    public var description: String { "\(code): \(message)" }
}

/// Sends one webhook request. The real one is `CurlHTTPClient`; tests may script their own.
public protocol WebhookSender: Sendable {
    /// Performs one attempt.
    /// - Returns: the response, whatever its status.
    /// - Throws: ``TransportError`` when no HTTP status arrived.
    func send(_ request: WebhookRequest) async throws(TransportError) -> WebhookResponse

    /// Starts one attempt and returns at once; `completion` runs exactly once, on any thread,
    /// when the attempt ends: with the response, a ``TransportError``, `.cancelled` after
    /// ``WebhookAttempt/cancel()``, or `.shutdown`.
    ///
    /// What the dispatcher uses: with many attempts in flight, no task and no suspended caller
    /// is kept per attempt, and the ends of many attempts reach it in one wake-up. The default
    /// runs ``send(_:)`` in a task of its own (enough for test doubles); `CurlHTTPClient` hands
    /// the transfer straight to its thread and calls `completion` from there.
    /// - Returns: a handle that cancels the attempt.
    func start(
        _ request: WebhookRequest, completion: @escaping @Sendable (Result<WebhookResponse, TransportError>) -> Void
    ) -> WebhookAttempt
}

extension WebhookSender {
    /// Runs ``send(_:)`` in a task and reports its end to `completion`.
    ///
    /// The task is not a child of the caller's: the caller owns the attempt through the returned
    /// handle instead, and must not stop before `completion` ran (the dispatcher cancels what is
    /// still in flight at its shutdown deadline and waits for every completion), so the task
    /// never outlives it.
    public func start(
        _ request: WebhookRequest, completion: @escaping @Sendable (Result<WebhookResponse, TransportError>) -> Void
    ) -> WebhookAttempt {
        let task = Task {
            let result: Result<WebhookResponse, TransportError>
            do throws(TransportError) {
                result = .success(try await send(request))
            } catch {
                result = .failure(error)
            }
            completion(result)
        }
        return WebhookAttempt { task.cancel() }
    }
}

/// An attempt started with ``WebhookSender/start(_:completion:)``.
public struct WebhookAttempt: Sendable {
    private let cancelling: @Sendable () -> Void

    /// Creates a handle whose ``cancel()`` runs `cancel`.
    public init(cancel: @escaping @Sendable () -> Void) {
        cancelling = cancel
    }

    /// Ends the attempt early: its completion then reports `.cancelled`, unless it had ended
    /// already (then nothing happens). Safe from any thread, any number of times.
    public func cancel() {
        cancelling()
    }
}
