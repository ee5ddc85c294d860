public import WebhookCore

/// A ``HostResolver`` answering from a table, for tests that need "a name that resolves to a
/// refused address" or "a resolver that never answers" without a DNS server.
///
/// Names not in the table resolve to ``fallback``. A name mapped to nil never answers: the lookup
/// waits until its task is cancelled (as the submission check's time limit does) and then
/// answers ``HostResolution/noAnswer``.
public struct StaticHostResolver: HostResolver {
    public var table: [String: HostResolution?]
    public var fallback: HostResolution
    /// Every name asked, in order.
    public let asked = AsyncRecorder<String>()

    /// Creates a resolver.
    public init(_ table: [String: HostResolution?] = [:], fallback: HostResolution = .notFound) {
        self.table = table
        self.fallback = fallback
    }

    /// A resolver that answers every other name with a public address (93.184.215.14), so tests
    /// can submit `https://e.com/...` without a network.
    public static func publicInternet(_ table: [String: HostResolution?] = [:]) -> StaticHostResolver {
        StaticHostResolver(table, fallback: .addresses([IPAddress(bytes: [93, 184, 215, 14])!]))
    }

    public func resolve(_ name: String) async -> HostResolution {
        asked.record(name)
        guard let entry = table[name] else { return fallback }
        guard let answer = entry else {
            // Never answers: wait for the caller to give up.
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            return .noAnswer
        }
        return answer
    }
}
