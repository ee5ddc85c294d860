import Testing
import WebhookCore

struct RetryPolicyTests {
    let policy = RetryPolicy.standard
    let now = Timestamp(milliseconds: 1_000_000)

    @Test(arguments: [
        (200, AttemptVerdict.success), (204, .success), (299, .success), (410, .gone),
        (408, .retryable(reason: "HTTP 408", retryAfter: nil)), (425, .retryable(reason: "HTTP 425", retryAfter: nil)),
        (429, .retryable(reason: "HTTP 429", retryAfter: nil)), (500, .retryable(reason: "HTTP 500", retryAfter: nil)),
        (503, .retryable(reason: "HTTP 503", retryAfter: nil)), (400, .rejected(reason: "HTTP 400")),
        (401, .rejected(reason: "HTTP 401")), (404, .rejected(reason: "HTTP 404")),
        (301, .rejected(reason: "HTTP 301: redirects are not followed")),
        (307, .rejected(reason: "HTTP 307: redirects are not followed")),
    ])
    func classifiesStatuses(status: Int, expected: AttemptVerdict) {
        let response = WebhookResponse(statusCode: status, retryAfter: nil, bodyPrefix: [], bodyTruncated: false, duration: .zero)
        #expect(AttemptVerdict.of(response, now: now) == expected)
    }

    @Test func transportErrorsAreRetriedExceptPolicyRefusals() {
        #expect(AttemptVerdict.of(TransportError(.timedOut, "t")) == .retryable(reason: "timed_out: t", retryAfter: nil))
        #expect(AttemptVerdict.of(TransportError(.connectFailed, "c")).indicatesUnhealthyReceiver)
        #expect(AttemptVerdict.of(TransportError(.refusedByPolicy, "p")) == .rejected(reason: "refused_by_policy: p"))
        #expect(!AttemptVerdict.retryable(reason: "HTTP 429", retryAfter: nil).indicatesUnhealthyReceiver)
        #expect(AttemptVerdict.retryable(reason: "HTTP 503", retryAfter: nil).indicatesUnhealthyReceiver)
    }

    @Test func terminalQuickThenBackgroundSchedule() {
        let failing = AttemptVerdict.retryable(reason: "HTTP 500", retryAfter: nil)
        func next(_ attempts: Int, random: Double = 0) -> RetryDecision {
            policy.decide(kind: .completed, seriesAttempts: attempts, seriesStartedAt: now, verdict: failing, now: now, random: random)
        }
        #expect(next(1) == .retry(at: now.advanced(by: .seconds(1)), quickPhaseOver: false))
        #expect(next(2) == .retry(at: now.advanced(by: .seconds(2)), quickPhaseOver: false))
        #expect(next(3) == .retry(at: now.advanced(by: .seconds(5)), quickPhaseOver: true))
        #expect(next(4) == .retry(at: now.advanced(by: .seconds(30)), quickPhaseOver: true))
        #expect(next(11) == .retry(at: now.advanced(by: .seconds(28800)), quickPhaseOver: true))
        #expect(next(40) == .retry(at: now.advanced(by: .seconds(28800)), quickPhaseOver: true))
        // Jitter only shortens, by at most 20 %.
        #expect(next(4, random: 0.999) == .retry(at: now.advanced(by: .milliseconds(24_006)), quickPhaseOver: true))
    }

    @Test func terminalFailsWhenTheNextAttemptWouldPassTheMaxAge() {
        let started = now.advanced(by: .seconds(-72 * 3600 + 100))
        let decision = policy.decide(
            kind: .failed, seriesAttempts: 12, seriesStartedAt: started,
            verdict: .retryable(reason: "HTTP 502", retryAfter: nil), now: now, random: 0)
        guard case .failed(let reason) = decision else {
            Issue.record("expected failed, got \(decision)")
            return
        }
        #expect(reason.contains("max age of 72 h"))
    }

    @Test func progressGetsThreeAttempts() {
        let failing = AttemptVerdict.retryable(reason: "timed_out", retryAfter: nil)
        #expect(policy.decide(kind: .progress, seriesAttempts: 1, seriesStartedAt: now, verdict: failing, now: now, random: 0)
            == .retry(at: now.advanced(by: .seconds(1)), quickPhaseOver: false))
        #expect(policy.decide(kind: .started, seriesAttempts: 2, seriesStartedAt: now, verdict: failing, now: now, random: 0)
            == .retry(at: now.advanced(by: .seconds(2)), quickPhaseOver: false))
        #expect(policy.decide(kind: .progress, seriesAttempts: 3, seriesStartedAt: now, verdict: failing, now: now, random: 0)
            == .dropped(reason: "timed_out after 3 attempts"))
    }

    @Test func retryAfterWinsWhenLongerAndIsCapped() {
        let asked = AttemptVerdict.retryable(reason: "HTTP 429", retryAfter: .seconds(90))
        #expect(policy.decide(kind: .completed, seriesAttempts: 1, seriesStartedAt: now, verdict: asked, now: now, random: 0)
            == .retry(at: now.advanced(by: .seconds(90)), quickPhaseOver: true))
        let short = AttemptVerdict.retryable(reason: "HTTP 429", retryAfter: .zero)
        #expect(policy.decide(kind: .completed, seriesAttempts: 1, seriesStartedAt: now, verdict: short, now: now, random: 0)
            == .retry(at: now.advanced(by: .seconds(1)), quickPhaseOver: false))
        let huge = AttemptVerdict.retryable(reason: "HTTP 503", retryAfter: .seconds(86_400))
        #expect(policy.decide(kind: .completed, seriesAttempts: 5, seriesStartedAt: now, verdict: huge, now: now, random: 0)
            == .retry(at: now.advanced(by: .seconds(3600)), quickPhaseOver: true))
    }

    @Test func finalVerdicts() {
        #expect(policy.decide(kind: .completed, seriesAttempts: 1, seriesStartedAt: now, verdict: .success, now: now, random: 0) == .delivered)
        #expect(policy.decide(kind: .progress, seriesAttempts: 1, seriesStartedAt: now, verdict: .gone, now: now, random: 0) == .gone)
        #expect(policy.decide(kind: .completed, seriesAttempts: 1, seriesStartedAt: now, verdict: .rejected(reason: "HTTP 400"), now: now, random: 0)
            == .failed(reason: "HTTP 400"))
    }
}

struct RetryAfterTests {
    let now = Timestamp(iso8601: "2025-01-15T10:31:00.000Z")!

    @Test(arguments: [
        ("120", Duration.seconds(120)), (" 7 ", .seconds(7)), ("0", .zero),
        ("Wed, 15 Jan 2025 10:32:00 GMT", .seconds(60)), ("Wednesday, 15-Jan-25 10:31:30 GMT", .seconds(30)),
        ("Wed Jan 15 10:33:00 2025", .seconds(120)), ("Wed, 15 Jan 2025 10:00:00 GMT", .zero),
    ])
    func parses(header: String, expected: Duration) {
        #expect(RetryAfter.delay(header, now: now) == expected)
    }

    @Test(arguments: [
        "", "soon", "-5", "1.5", "Wed, 99 Foo 2025",
        // Found by the retry-after fuzz target: stray tokens and year 0 were read as a date.
        "Sun Nov  6un Nov  6 0 08:8:4", "Sun, 06 Nov 0000 08:49:37 GMT", "Wed, 15 Jan 2025 10:32:00 PST",
        "Wed, 15 Jan 2025 10:32 GMT", "Wed, 15 Jan 2025 1:32:00 GMT", "Wed, 15 Jan Jan 2025 10:32:00 GMT",
    ])
    func ignoresGarbage(header: String) {
        #expect(RetryAfter.delay(header, now: now) == nil)
    }
}
