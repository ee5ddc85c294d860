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
/// - `proxy` (`WEBHOOK_PROXY`, default none): every request goes through this `http://` proxy
///   (HTTPS by `CONNECT`); the network policy then applies to the proxy's address, the only one
///   the client connects to. Without it, libcurl would otherwise obey `http_proxy` & co. from the
///   environment: it is told not to.
/// - `caFile` (`WEBHOOK_CA_FILE`, default the system's trust store): PEM bundle of trusted CAs.
///   Certificates and host names are always verified.
/// - `clientCertificate`, `clientKey` (`WEBHOOK_CLIENT_CERT`, `WEBHOOK_CLIENT_KEY`): PEM files
///   presented to servers that ask for a client certificate (mTLS).
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
    public var caFile: String?
    public var clientCertificate: String?
    public var clientKey: String?
    /// Host names pinned to addresses, as libcurl's `CURLOPT_RESOLVE` entries
    /// (`host:port:address[,address…]`, IPv6 in brackets). Internal: the tests use it to make one
    /// name resolve to several loopback addresses, which `/etc/hosts` here does not.
    var pinnedAddresses: [String] = []

    /// Creates a configuration.
    public init(
        connectTimeout: Duration = .seconds(5), totalTimeout: Duration = .seconds(10),
        maxResponseBytes: Int = 64 * 1024, maxCachedConnections: Int = 256,
        networkPolicy: NetworkPolicy? = NetworkPolicy(), proxy: String? = nil, maxRedirects: Int = 0,
        caFile: String? = nil, clientCertificate: String? = nil, clientKey: String? = nil
    ) {
        self.caFile = caFile
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
        self.maxRedirects = max(0, maxRedirects)
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.maxResponseBytes = maxResponseBytes
        self.maxCachedConnections = maxCachedConnections
        self.networkPolicy = networkPolicy
        self.proxy = proxy
    }
}
