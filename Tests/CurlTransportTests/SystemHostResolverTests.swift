import CurlTransport
import Testing
import WebhookCore

/// The real resolver behind the submission-time lookup (`getaddrinfo`, as libcurl uses it).
@Suite(.timeLimit(.minutes(1)))
struct SystemHostResolverTests {
    let resolver = SystemHostResolver()

    @Test func localhostResolvesToLoopbackAndIsRefused() async throws {
        guard case .addresses(let addresses) = await resolver.resolve("localhost") else {
            Issue.record("localhost did not resolve")
            return
        }
        #expect(addresses.contains(IPAddress("127.0.0.1")!))
        #expect(addresses.allSatisfy { NetworkPolicy().refusal(for: $0) != nil })
    }

    /// `getaddrinfo` reads numeric forms the way `inet_aton` does, like the submission parser.
    @Test(arguments: [("127.1", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("0", "0.0.0.0")])
    func numericFormsAgreeWithTheURLParser(host: String, address: String) async {
        #expect(await resolver.resolve(host) == .addresses([IPAddress(address)!]))
        #expect(IPAddress(urlHost: Substring(host))?.description == address)
    }

    /// `.invalid` never exists (RFC 6761): not found with a working DNS, no answer without one.
    @Test func aNameThatCannotExistHasNoAddress() async {
        let answer = await resolver.resolve("no-such-host.invalid")
        #expect(answer == .notFound || answer == .noAnswer)
    }

    @Test func aCancelledLookupAnswersAtOnce() async {
        let task = Task { () -> HostResolution in
            withUnsafeCurrentTask { $0?.cancel() }
            return await resolver.resolve("localhost")
        }
        #expect(await task.value == .noAnswer)
    }
}
