import CCurl
import Foundation
public import WebhookCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The system resolver (`getaddrinfo`, as libcurl's threaded resolver uses it) for the
/// submission-time check of SPEC section 4.
///
/// `getaddrinfo` blocks and cannot be cancelled, so each lookup runs on a thread of its own and
/// the caller stops waiting when its task is cancelled (the time limit of
/// ``NetworkPolicy/refusal(forURL:resolvingWith:timeout:)`` cancels it); the thread ends when the
/// system resolver gives up. At most ``maxLookups`` such threads exist: beyond them a lookup
/// answers ``HostResolution/noAnswer`` at once (the connect-time check still applies), so a flood
/// of submissions with names that never answer cannot pile up threads.
///
/// | `getaddrinfo` | resolution |
/// |---|---|
/// | addresses | `.addresses` (TCP entries, in order, without repeats) |
/// | `EAI_NONAME`, `EAI_NODATA` | `.notFound` |
/// | `EAI_AGAIN`, `EAI_FAIL`, anything else | `.noAnswer` |
public final class SystemHostResolver: HostResolver {
    /// Lookups running at once, at most.
    public let maxLookups: Int
    private let running = Mutex(0)

    /// Creates a resolver.
    public init(maxLookups: Int = 64) {
        self.maxLookups = max(1, maxLookups)
    }

    public func resolve(_ name: String) async -> HostResolution {
        let admitted = running.withLock { count in
            guard count < maxLookups else { return false }
            count += 1
            return true
        }
        guard admitted else { return .noAnswer }
        let waiter = Waiter()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<HostResolution, Never>) in
                guard waiter.install(continuation) else {
                    self.release()
                    return
                }
                let thread = Thread {
                    let answer = Self.lookUp(name)
                    self.release()
                    waiter.finish(answer)
                }
                thread.name = "resolver"
                thread.start()
            }
        } onCancel: {
            waiter.finish(.noAnswer)
        }
    }

    private func release() {
        running.withLock { $0 -= 1 }
    }

    /// Resumes the caller exactly once: with the answer, or with `.noAnswer` when it gave up
    /// first (a cancellation that comes before the continuation exists is remembered).
    private final class Waiter: Sendable {
        private enum State {
            case waiting
            case installed(CheckedContinuation<HostResolution, Never>)
            case finished
        }
        private let state = Mutex(State.waiting)

        /// False when the lookup was already cancelled: the continuation was resumed here.
        func install(_ continuation: CheckedContinuation<HostResolution, Never>) -> Bool {
            let resumeNow: Bool = state.withLock { state in
                guard case .waiting = state else { return true }
                state = .installed(continuation)
                return false
            }
            if resumeNow { continuation.resume(returning: .noAnswer) }
            return !resumeNow
        }

        func finish(_ answer: HostResolution) {
            let continuation: CheckedContinuation<HostResolution, Never>? = state.withLock { state in
                defer { state = .finished }
                if case .installed(let continuation) = state { return continuation }
                return nil
            }
            continuation?.resume(returning: answer)
        }
    }

    /// glibc's `EAI_NODATA` (the name exists without an address), declared only under `_GNU_SOURCE`.
    private static let noData: Int32 = -5

    /// One blocking `getaddrinfo` call.
    static func lookUp(_ name: String) -> HostResolution {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, nil, &hints, &list)
        defer { if let list { freeaddrinfo(list) } }
        guard status == 0 else {
            return status == EAI_NONAME || status == Self.noData ? .notFound : .noAnswer
        }
        var addresses = [IPAddress]()
        var entry = list
        while let current = entry {
            if let address = current.pointee.ai_addr, let ip = ipAddress(of: address), !addresses.contains(ip) {
                addresses.append(ip)
            }
            entry = current.pointee.ai_next
        }
        return addresses.isEmpty ? .notFound : .addresses(addresses)
    }

    private static func ipAddress(of address: UnsafeMutablePointer<sockaddr>) -> IPAddress? {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                var v4 = pointer.pointee.sin_addr
                return withUnsafeBytes(of: &v4) { IPAddress(bytes: Array($0)) }
            }
        case AF_INET6:
            return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                var v6 = pointer.pointee.sin6_addr
                return withUnsafeBytes(of: &v6) { IPAddress(bytes: Array($0)) }
            }
        default:
            return nil
        }
    }
}
