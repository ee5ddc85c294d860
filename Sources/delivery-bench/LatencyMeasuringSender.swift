import WebhookCore

/// Wraps a sender and records enqueue → 2xx response for each attempt whose body carries an
/// enqueue stamp: the latency measured at the sender, for an external receiver (`--url`) that
/// cannot report when a request arrived. It includes the response's trip back, which the
/// built-in receiver's figure does not.
struct LatencyMeasuringSender<Base: WebhookSender>: WebhookSender {
    let base: Base
    let latencies: LatencyRecorder

    func send(_ request: WebhookRequest) async throws(TransportError) -> WebhookResponse {
        let response = try await base.send(request)
        if (200..<300).contains(response.statusCode), let stamp = enqueueStamp(in: request.body) {
            latencies.add(nanoseconds: monotonicNanoseconds() - stamp)
        }
        return response
    }

    func start(
        _ request: WebhookRequest, completion: @escaping @Sendable (Result<WebhookResponse, TransportError>) -> Void
    ) -> WebhookAttempt {
        let latencies = self.latencies
        return base.start(request) { result in
            if case .success(let response) = result, (200..<300).contains(response.statusCode),
                let stamp = enqueueStamp(in: request.body)
            {
                latencies.add(nanoseconds: monotonicNanoseconds() - stamp)
            }
            completion(result)
        }
    }
}
