/// Looks up a host name's addresses: the submission-time check of SPEC section 4 asks it before
/// a job is accepted. The real one is `SystemHostResolver` (CurlTransport, `getaddrinfo`); tests
/// use a table (`StaticHostResolver` in WebhookTestSupport).
public protocol HostResolver: Sendable {
    /// The addresses of `name` (lower-case, no trailing dot, never an IP literal).
    ///
    /// Must return promptly with ``HostResolution/noAnswer`` when the calling task is cancelled:
    /// the caller's time limit works by cancelling it.
    func resolve(_ name: String) async -> HostResolution
}

/// What a lookup found.
public enum HostResolution: Sendable, Hashable {
    /// The name's addresses (never empty).
    case addresses([IPAddress])
    /// The name does not exist, or has no address (`NXDOMAIN`, `EAI_NONAME`): a 400 at submission.
    case notFound
    /// No answer in time, or a resolver failure: the job is not refused for it (the connect-time
    /// check still applies).
    case noAnswer
}
