extension NetworkPolicy {
    /// The whole submission check of SPEC section 4: ``refusal(forURL:)``, then a host name is
    /// resolved (within `timeout`) and refused when any of its addresses is refused or when it
    /// does not exist. A resolver that does not answer in time does not refuse the URL: the
    /// connect-time check still stands.
    ///
    /// - Parameters:
    ///   - resolver: nil skips resolution (callbacks through `WEBHOOK_PROXY`: the proxy resolves
    ///     names; literals are still checked).
    ///   - timeout: the lookup limit (SPEC: 2 s).
    /// - Returns: nil when acceptable, else a reason fit for an API error message.
    public func refusal(
        forURL text: String, resolvingWith resolver: (any HostResolver)?, timeout: Duration = .seconds(2)
    ) async -> String? {
        let target: URLTarget
        switch URLTarget.parse(text) {
        case .failure(let refusal): return refusal.reason
        case .success(let parsed): target = parsed
        }
        if let refusal = refusal(for: target) { return refusal }
        guard case .name(let name) = target, let resolver else { return nil }
        return refusal(forName: name, resolvedAs: await Self.resolve(name, with: resolver, timeout: timeout))
    }

    /// The verdict on a name given what its lookup found: refused when it does not exist or any
    /// of its addresses is refused; no answer refuses nothing.
    public func refusal(forName name: String, resolvedAs resolution: HostResolution) -> String? {
        switch resolution {
        case .noAnswer:
            return nil
        case .notFound:
            return "names a host that does not exist (\(name))"
        case .addresses(let addresses):
            for address in addresses {
                if let refusal = refusal(for: address) { return "must not point to \(name), which resolves to \(refusal)" }
            }
            return nil
        }
    }

    /// Races the lookup against `timeout`; the loser is cancelled.
    static func resolve(_ name: String, with resolver: any HostResolver, timeout: Duration) async -> HostResolution {
        await withTaskGroup(of: HostResolution?.self) { group in
            group.addTask {
                let answer = await resolver.resolve(name)
                if case .addresses(let list) = answer, list.isEmpty { return .notFound }
                return answer
            }
            group.addTask {
                // Cancelled (the lookup answered first): no verdict from this side.
                guard (try? await Task.sleep(for: timeout)) != nil else { return nil }
                return .noAnswer
            }
            var verdict = HostResolution.noAnswer
            for await answer in group {
                guard let answer else { continue }
                verdict = answer
                break
            }
            group.cancelAll()
            return verdict
        }
    }
}
