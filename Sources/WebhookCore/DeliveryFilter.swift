/// Which stored events a listing, a bulk redelivery or a discard covers (SPEC section 4:
/// `GET /deliveries`, `POST /deliveries/redeliver`, `POST /deliveries/discard`).
///
/// Every field narrows the match; an empty filter matches every event. Times compare with the
/// event's `created_at` (when it was stored): `since` inclusive, `until` exclusive.
public struct DeliveryFilter: Sendable, Hashable {
    public var state: DeliveryState?
    public var jobID: String?
    public var kind: EventKind?
    /// Scheme, host and port of the callback URL.
    public var origin: Origin?
    public var since: Timestamp?
    public var until: Timestamp?

    /// Creates a filter.
    public init(
        state: DeliveryState? = nil, jobID: String? = nil, kind: EventKind? = nil, origin: Origin? = nil,
        since: Timestamp? = nil, until: Timestamp? = nil
    ) {
        self.state = state
        self.jobID = jobID
        self.kind = kind
        self.origin = origin
        self.since = since
        self.until = until
    }

    /// How a callback URL of ``origin`` can begin, for a prefix test in SQL (`substr(url, 1, n) = p`
    /// or `url = base`): the explicit port, plus the bare host when the port is the scheme's default
    /// (`https://h/x` and `https://h:443/x` are one origin). Empty without an origin.
    ///
    /// Why prefixes and not a column: an origin column would need every writer to fill it; a
    /// prefix test is a residual filter on rows an index already narrowed (state, job, time).
    public var originBases: [String] {
        guard let origin else { return [] }
        var bases = ["\(origin.scheme)://\(origin.host):\(origin.port)"]
        if (origin.scheme == "https" && origin.port == 443) || (origin.scheme == "http" && origin.port == 80) {
            bases.append("\(origin.scheme)://\(origin.host)")
        }
        return bases
    }
}
