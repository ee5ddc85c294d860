public import WebhookCore
public import WebhookDispatch

/// What the pipeline needs from the delivery engine: store-and-send for progress, awaited
/// delivery for the end, and storing a job's state when it has no callback.
public protocol JobEventPublisher: Sendable {
    /// `job.started` / `job.progress`: throttled, fire-and-forget.
    func publish(_ draft: EventDraft) async throws(OutboxError)
    /// `job.completed` / `job.failed`: waits through the quick attempts.
    func publishTerminal(_ draft: EventDraft) async throws(OutboxError) -> TerminalDelivery
    /// Stores a job's state without an event.
    func recordJobState(_ update: JobStateUpdate) async throws(OutboxError)
}

extension WebhookDispatcher: JobEventPublisher {}
