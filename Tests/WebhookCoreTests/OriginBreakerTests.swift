import Testing
import WebhookCore
import WebhookDispatch

struct OriginBreakerTests {
    let t0 = Timestamp(milliseconds: 0)

    @Test func opensAfterConsecutiveFailuresAndProbesWithGrowingIntervals() {
        var breaker = OriginBreaker(failureThreshold: 3)
        #expect(breaker.record(unhealthy: true, now: t0) == .none)
        #expect(breaker.record(unhealthy: false, now: t0) == .none)  // an answer resets the count
        #expect(breaker.record(unhealthy: true, now: t0) == .none)
        #expect(breaker.record(unhealthy: true, now: t0) == .none)
        #expect(breaker.record(unhealthy: true, now: t0) == .paused(probeAt: t0.advanced(by: .seconds(5))))
        #expect(breaker.isPaused)
        let began1 = breaker.beginProbe(now: t0.advanced(by: .seconds(4)))
        #expect(!began1)
        let began2 = breaker.beginProbe(now: t0.advanced(by: .seconds(5)))
        #expect(began2)
        let t5 = t0.advanced(by: .seconds(5))
        #expect(breaker.record(unhealthy: true, probe: true, now: t5) == .stillPaused(probeAt: t5.advanced(by: .seconds(10))))
        var t = t5.advanced(by: .seconds(10))
        let began3 = breaker.beginProbe(now: t)
        #expect(began3)
        #expect(breaker.record(unhealthy: true, probe: true, now: t) == .stillPaused(probeAt: t.advanced(by: .seconds(20))))
        t = t.advanced(by: .seconds(20))
        let began4 = breaker.beginProbe(now: t)
        #expect(began4)
        // Never more than 30 s between probes.
        #expect(breaker.record(unhealthy: true, probe: true, now: t) == .stillPaused(probeAt: t.advanced(by: .seconds(30))))
        t = t.advanced(by: .seconds(30))
        let began5 = breaker.beginProbe(now: t)
        #expect(began5)
        #expect(breaker.record(unhealthy: true, probe: true, now: t) == .stillPaused(probeAt: t.advanced(by: .seconds(30))))
        let began6 = breaker.beginProbe(now: t.advanced(by: .seconds(30)))
        #expect(began6)
        #expect(breaker.record(unhealthy: false, now: t) == .resumed)
        #expect(!breaker.isPaused)
    }

    @Test func failuresOfAttemptsAlreadyInFlightDoNotPushTheProbeOut() {
        var breaker = OriginBreaker(failureThreshold: 1)
        #expect(breaker.record(unhealthy: true, now: t0) == .paused(probeAt: t0.advanced(by: .seconds(5))))
        for _ in 0..<50 {
            #expect(breaker.record(unhealthy: true, now: t0) == .none)
        }
        #expect(breaker.state == .open(probeAt: t0.advanced(by: .seconds(5)), interval: .seconds(5)))
        // A straggler's success shows the receiver is back.
        #expect(breaker.record(unhealthy: false, now: t0) == .resumed)
    }
}
