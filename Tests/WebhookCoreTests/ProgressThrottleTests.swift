import Testing
import WebhookCore
import WebhookDispatch

struct ProgressThrottleTests {
    let interval = Duration.seconds(5)
    let t0 = Timestamp(milliseconds: 10_000)

    func draft(_ percent: Int) -> EventDraft {
        EventDraft(kind: .progress, jobID: "j", callbackURL: "https://e/x", encodedSnapshot: Array("{\"p\":\(percent)}".utf8))
    }

    @Test func firstGoesAtOnceThenNewestHeldUntilTheIntervalEnds() {
        var throttle = ProgressThrottle()
        #expect(throttle.offer(draft(1), now: t0, interval: interval) == .emitNow)
        #expect(throttle.offer(draft(2), now: t0.advanced(by: .seconds(1)), interval: interval) == .held(until: t0.advanced(by: .seconds(5))))
        #expect(throttle.offer(draft(3), now: t0.advanced(by: .seconds(2)), interval: interval) == .held(until: t0.advanced(by: .seconds(5))))
        #expect(throttle.takeDue(now: t0.advanced(by: .seconds(4)), interval: interval) == nil)
        let due = throttle.takeDue(now: t0.advanced(by: .seconds(5)), interval: interval)
        #expect(due?.encodedSnapshot == draft(3).encodedSnapshot)
        // The trailing one counts as emitted: the next update waits again.
        #expect(throttle.offer(draft(4), now: t0.advanced(by: .seconds(6)), interval: interval) == .held(until: t0.advanced(by: .seconds(10))))
        throttle.discardHeld()
        #expect(throttle.takeDue(now: t0.advanced(by: .seconds(60)), interval: interval) == nil)
        #expect(throttle.offer(draft(5), now: t0.advanced(by: .seconds(60)), interval: interval) == .emitNow)
    }

    @Test func zeroIntervalNeverHolds() {
        var throttle = ProgressThrottle()
        for index in 0..<5 {
            #expect(throttle.offer(draft(index), now: t0, interval: .zero) == .emitNow)
        }
    }
}
