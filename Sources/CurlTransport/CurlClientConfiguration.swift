public import WebhookCore

/// Settings of a ``CurlHTTPClient``.
///
/// - `connectTimeout` (`WEBHOOK_CONNECT_TIMEOUT_SECONDS`, default 5 s): per attempt.
/// - `totalTimeout` (`WEBHOOK_TIMEOUT_SECONDS`, default 10 s): per attempt, connect included.
/// - `maxResponseBytes` (default 64 KiB): a body is read this far, then the transfer ends; the
///   status already received stands.
/// - `maxCachedConnections` (default 256): idle keep-alive connections kept for reuse.
/// - `networkPolicy` (default: refuse non-public addresses): checked on every resolved address
///   before a socket is opened; nil turns the check off (tests only).
/// - `proxy` (default none): libcurl would otherwise obey `http_proxy` & co. from the environment.
/// - `maxRedirects` (default 0): redirects followed per request. Webhooks follow none (SPEC
///   section 6: a 3xx is the answer); video downloads follow up to 5 (SPEC section 4). Every hop
///   connects through the open-socket check, so each one is held to `networkPolicy`.
public struct CurlClientConfiguration: Sendable {
    public var connectTimeout: Duration
    public var totalTimeout: Duration
    public var maxResponseBytes: Int
    public var maxCachedConnections: Int
    public var networkPolicy: NetworkPolicy?
    public var proxy: String?
    public var maxRedirects: Int
    /// Host names pinned to addresses, as libcurl's `CURLOPT_RESOLVE` entries
    /// (`host:port:address[,address…]`, IPv6 in brackets). Internal: the tests use it to make one
    /// name resolve to several loopback addresses, which `/etc/hosts` here does not.
    var pinnedAddresses: [String] = []

    /// Creates a configuration.
    public init(
        connectTimeout: Duration = .seconds(5), totalTimeout: Duration = .seconds(10),
        maxResponseBytes: Int = 64 * 1024, maxCachedConnections: Int = 256,
        networkPolicy: NetworkPolicy? = NetworkPolicy(), proxy: String? = nil, maxRedirects: Int = 0
    ) {
        self.maxRedirects = max(0, maxRedirects)
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.maxResponseBytes = maxResponseBytes
        self.maxCachedConnections = maxCachedConnections
        self.networkPolicy = networkPolicy
        self.proxy = proxy
    }
}
