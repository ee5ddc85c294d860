import Testing
import WebhookCore

/// W3C `traceparent` / `tracestate` as a submission carries them (SPEC section 4): valid ones
/// kept, malformed ones ignored.
struct TraceContextTests {
    static let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func aValidTraceparentIsKeptWithItsStateAndGetsANewSpanPerAttempt() throws {
        let trace = try #require(TraceContext(traceparent: Self.parent, tracestate: " congo=t61rcWkgMzE,rojo=00f067aa0ba902b7 "))
        #expect(trace.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(trace.flags == "01")
        #expect(trace.state == "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
        let first = trace.traceparent(spanID: TraceContext.newSpanID())
        let second = trace.traceparent(spanID: TraceContext.newSpanID())
        #expect(first != second)
        #expect(first.hasPrefix("00-4bf92f3577b34da6a3ce929d0e0e4736-") && first.hasSuffix("-01") && first.utf8.count == 55)
        #expect(TraceContext(traceparent: first, tracestate: nil)?.traceID == trace.traceID)
        #expect(TraceContext(storedForm: trace.storedForm) == trace)
        let bare = try #require(TraceContext(traceparent: Self.parent, tracestate: nil))
        #expect(TraceContext(storedForm: bare.storedForm) == bare)
    }

    @Test(arguments: [
        "", "garbage", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  // too short
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // version 00 with more
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
    ])
    func aMalformedTraceparentIsIgnored(_ header: String) {
        #expect(TraceContext(traceparent: header, tracestate: "a=b") == nil)
    }

    @Test func aLaterVersionIsReadByItsFirstFourFields() {
        let trace = TraceContext(traceparent: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever", tracestate: nil)
        #expect(trace?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(trace?.traceparent(spanID: "1111111111111111").hasPrefix("00-") == true)
    }

    @Test func aTracestateWithControlCharactersOrTooLongIsDropped() {
        #expect(TraceContext(traceparent: Self.parent, tracestate: "a=b\r\nX-Injected: 1")?.state == nil)
        #expect(TraceContext(traceparent: Self.parent, tracestate: String(repeating: "a", count: 513))?.state == nil)
        #expect(TraceContext(traceparent: Self.parent, tracestate: "a=b")?.state == "a=b")
    }
}
