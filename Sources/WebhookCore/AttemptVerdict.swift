/// How one attempt's result is judged (SPEC section 6).
public enum AttemptVerdict: Sendable, Hashable {
    /// A 2xx within the timeout, even with a cut body.
    case success
    /// Connection errors, timeouts, 408, 425, 429 and 5xx; `retryAfter` as the receiver asked.
    case retryable(reason: String, retryAfter: Duration?)
    /// 3xx (never followed), other 4xx, or a URL the policy refuses: no further attempts.
    case rejected(reason: String)
    /// 410 Gone: final, and the job's callback takes no further events.
    case gone

    /// Judges a response.
    ///
    /// A `webhook-delivery` header decides first, with any status (the Standard Webhooks
    /// proposal): `disable` acts like 410, `abort-message` makes a failure final (a 2xx stays a
    /// success).
    public static func of(_ response: WebhookResponse, now: Timestamp) -> AttemptVerdict {
        let status = response.statusCode
        switch response.deliveryDirective {
        case "disable":
            return .gone
        case "abort-message" where !(200..<300).contains(status):
            return .rejected(reason: "HTTP \(status) with webhook-delivery: abort-message (no further attempts)")
        default:
            break
        }
        switch status {
        case 200..<300:
            return .success
        case 410:
            return .gone
        case 408, 425, 429, 500..<600:
            return .retryable(reason: "HTTP \(status)", retryAfter: RetryAfter.delay(response.retryAfter, now: now))
        case 300..<400:
            return .rejected(reason: "HTTP \(status): redirects are not followed")
        default:
            return .rejected(reason: "HTTP \(status)")
        }
    }

    /// Judges a transport failure.
    public static func of(_ error: TransportError) -> AttemptVerdict {
        switch error.code {
        case .invalidURL, .refusedByPolicy:
            return .rejected(reason: error.description)
        default:
            return .retryable(reason: error.description, retryAfter: nil)
        }
    }

    /// True when the attempt says the receiver is unhealthy (counts toward pausing its origin).
    /// A 429 or a 4xx is an answer from a live receiver and does not count.
    public var indicatesUnhealthyReceiver: Bool {
        if case .retryable(let reason, _) = self {
            return !reason.hasPrefix("HTTP 4")
        }
        return false
    }
}
