public import WebhookCore

/// A callback URL with its parsed origin, one object shared by every job that names the URL.
///
/// A class, so that a job's machine holds one reference (8 bytes) instead of the URL and the
/// origin's strings inline (56): a platform's jobs mostly share one callback, and at 100,000
/// parked jobs the difference is megabytes.
public final class Callback: Sendable {
    /// The URL events are posted to.
    public let url: String
    /// Its scheme, host and port; nil for a URL without them (its events fail).
    public let origin: Origin?

    /// Parses `url`'s origin.
    public init(url: String) {
        self.url = url
        origin = Origin(url: url)
    }
}
