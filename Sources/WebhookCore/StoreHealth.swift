/// Whether a store can take writes now: the one readiness signal that `/readyz`, the API's
/// submissions and later the shutdown and PostgreSQL outage handling share.
public struct StoreHealth: Sendable, Hashable {
    /// True when a write was just committed and the store's file (or connection) is the one in use.
    public var isReady: Bool
    /// Why not, safe to show (no SQL, no secrets).
    public var problem: String?

    /// A healthy store.
    public static let ready = StoreHealth(isReady: true, problem: nil)

    /// A store that cannot take writes, for `problem`.
    public static func unavailable(_ problem: String) -> StoreHealth {
        StoreHealth(isReady: false, problem: problem)
    }
}
