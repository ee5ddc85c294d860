public import WebhookCore
public import WebhookDispatch
public import WorkerCore

/// What the pipeline needs to report a job: its new state, with the event that tells the
/// submitter (nil for a job without a callback URL), stored together.
public protocol JobEventPublisher: Sendable {
    /// A stage entry or in-stage progress: the state is stored, the event (`job.started` /
    /// `job.progress`) is throttled and fire-and-forget.
    func publish(_ update: JobStateUpdate, event: EventDraft?) async throws
    /// The job's end: the state and `job.completed` / `job.failed` are stored together
    /// (`stored` is called then), then the quick attempts are awaited. Nil without a callback.
    func publishTerminal(_ update: JobStateUpdate, event: EventDraft?, stored: @escaping @Sendable () -> Void)
        async throws -> TerminalDelivery?
}

/// The production publisher: the job store owns the job row and commits the job's state with
/// the events the dispatcher decides to store, in one transaction (a transactional outbox owned
/// by the job side); the dispatcher decides what is stored when (throttle, superseding) and
/// delivers it.
public struct DispatchingJobEvents<Jobs: JobStore, Store: OutboxStore, Sender: WebhookSender, Clock: WorkerClock>:
    JobEventPublisher
{
    let jobs: Jobs
    let dispatcher: WebhookDispatcher<Store, Sender, Clock>
    let clock: Clock

    /// Creates the publisher.
    public init(jobs: Jobs, dispatcher: WebhookDispatcher<Store, Sender, Clock>, clock: Clock) {
        self.jobs = jobs
        self.dispatcher = dispatcher
        self.clock = clock
    }

    public func publish(_ update: JobStateUpdate, event: EventDraft?) async throws {
        guard let event else {
            _ = try await jobs.record(update, appending: [], at: clock.now)
            return
        }
        try await dispatcher.publish(event, storing: storing(update))
    }

    public func publishTerminal(_ update: JobStateUpdate, event: EventDraft?, stored: @escaping @Sendable () -> Void)
        async throws -> TerminalDelivery?
    {
        guard let event else {
            _ = try await jobs.record(update, appending: [], at: clock.now)
            stored()
            return nil
        }
        return try await dispatcher.publishTerminal(event, storing: storing(update, then: stored))
    }

    private func storing(_ update: JobStateUpdate, then stored: (@Sendable () -> Void)? = nil)
        -> WebhookDispatcher<Store, Sender, Clock>.Storing
    {
        { [jobs, clock] drafts throws(OutboxError) in
            do throws(JobStoreError) {
                let events = try await jobs.record(update, appending: drafts, at: clock.now)
                stored?()
                return events
            } catch {
                throw OutboxError(error.code == .unavailable ? .unavailable : .writeFailed, error.message)
            }
        }
    }
}
