import HTTPTypes
import Hummingbird
import WorkerCore

/// Who may call the API, and from where (SPEC sections 4 and 9), checked before any route:
///
/// 1. **DNS rebinding.** Without an API token, a request whose `Host` is not a loopback address
///    or name (or the host of `CLIPPING_WORKER_PUBLIC_URL`) gets 403: a page on `evil.example`
///    whose name a resolver rebinds to 127.0.0.1 reaches this port with `Host: evil.example`.
/// 2. **Cross-site requests.** A state-changing request (anything but GET, HEAD, OPTIONS) whose
///    `Origin` is not this server's own scheme, host and port gets 403, with or without a token:
///    another page the operator has open cannot cancel or redeliver through their browser.
/// 3. **Token.** With a token, every route but the health checks, the page itself and its
///    sign-in needs `Authorization: Bearer <token>` or the page's session cookie; a
///    state-changing request authenticated by the cookie must carry a matching `Origin`.
struct AccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?
    let sessions: OpsSessions?
    let publicHost: String?
    let now: @Sendable () -> Int64

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let authority = request.head.authority ?? ""
        if token == nil, !Self.isAllowedHost(Self.host(of: authority), publicHost: publicHost) {
            throw APIError(
                status: 403, code: "forbidden_host",
                message: "this worker answers only to loopback host names without CLIPPING_WORKER_API_TOKEN")
        }
        let changesState = !(request.method == .get || request.method == .head || request.method == .options)
        let origin = request.headers[.origin]
        if changesState, let origin, !Self.originMatches(origin, request: request, authority: authority) {
            throw APIError(status: 403, code: "cross_origin", message: "cross-origin requests may not change anything here")
        }
        guard let token, !Self.isOpen(request) else { return try await next(request, context) }
        if let given = TokenCheck.bearerCredentials(request.headers[.authorization] ?? ""),
            TokenCheck.constantTimeEqual(given, Array(token.utf8))
        {
            return try await next(request, context)
        }
        if let sessions, let value = OpsSessions.cookie(OpsSessions.cookieName, in: request.headers[.cookie]),
            sessions.isValid(value, now: now())
        {
            // A cookie rides along on any request the browser makes: a change must come from this origin.
            if changesState && origin == nil {
                throw APIError(status: 403, code: "cross_origin", message: "a change made with the session cookie must carry Origin")
            }
            return try await next(request, context)
        }
        throw APIError(status: 401, code: "unauthorized", message: "a valid bearer token is required")
    }

    /// Routes open without a token: health checks, the page (it asks for the token), sign-in and out.
    static func isOpen(_ request: Request) -> Bool {
        let path = request.uri.path
        switch (request.method, path) {
        case (.get, "/healthz"), (.head, "/healthz"), (.get, "/readyz"), (.head, "/readyz"): return true
        case (.get, "/ops"), (.get, "/ops/"), (.head, "/ops/"), (.post, "/ops/login"), (.post, "/ops/logout"): return true
        default: return false
        }
    }

    /// The host of an authority (`host`, `host:port`, `[v6]:port`), lower-cased, without brackets.
    static func host(of authority: String) -> String {
        let lowered = authority.lowercased()
        if lowered.hasPrefix("["), let close = lowered.firstIndex(of: "]") {
            return String(lowered[lowered.index(after: lowered.startIndex)..<close])
        }
        if let colon = lowered.lastIndex(of: ":"), lowered.firstIndex(of: ":") == colon {
            return String(lowered[..<colon])
        }
        return lowered
    }

    /// Loopback names and addresses (`localhost`, `*.localhost`, 127.0.0.0/8, ::1), or the public host.
    static func isAllowedHost(_ host: String, publicHost: String?) -> Bool {
        if let publicHost, host == publicHost.lowercased() { return true }
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// True when `origin` is this server's own: the request's scheme (https when a proxy in front
    /// says so with `X-Forwarded-Proto`) and its `Host`, default ports compared as absent.
    static func originMatches(_ origin: String, request: Request, authority: String) -> Bool {
        let scheme = isSecure(request) ? "https" : "http"
        return normalized(origin) == normalized("\(scheme)://\(authority)")
    }

    /// Whether the request came over https (directly or through a TLS proxy that says so).
    static func isSecure(_ request: Request) -> Bool {
        request.head.scheme == "https" || request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
    }

    private static func normalized(_ origin: String) -> String {
        var text = origin.lowercased()
        if text.hasSuffix("/") { text.removeLast() }
        if text.hasPrefix("http://"), text.hasSuffix(":80") { text.removeLast(3) }
        if text.hasPrefix("https://"), text.hasSuffix(":443") { text.removeLast(4) }
        return text
    }
}
