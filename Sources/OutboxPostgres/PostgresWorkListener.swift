import Logging
public import PostgresNIO
public import ServiceLifecycle

/// New work announced across workers (SPEC section 8): a job submitted to one worker, an event
/// redelivered or a job cancelled through one, wakes the others at once through `LISTEN/NOTIFY` instead
/// of waiting for their next poll (which stays as the fallback: a notification lost while the
/// listening connection was down costs one poll period, nothing more).
///
/// The stores send the notifications inside the transaction that stores the work, so a worker is
/// woken only once the work is committed and visible.
public struct PostgresWorkListener: Service {
    /// The channel, and its payloads.
    public static let channel = "clipping_worker_work"
    static let jobPayload = "job"
    static let eventsPayload = "events"
    static let cancelPayload = "cancel"
    /// `redeliver <job id> <event id>`: an event redelivered through a worker that does not hold
    /// its job; the holder sends it at once.
    static func redeliveryPayload(jobID: String, eventID: String) -> String { "redeliver \(jobID) \(eventID)" }

    private let client: PostgresClient
    private let logger: Logger
    private let onJob: @Sendable () -> Void
    private let onEvents: @Sendable () -> Void
    private let onRedelivery: @Sendable (_ jobID: String, _ eventID: String) -> Void

    /// - Parameters:
    ///   - onJob: a job was queued, or a cancel requested (the runner looks for work and checks
    ///     its runs).
    ///   - onEvents: events became due (the dispatcher claims).
    ///   - onRedelivery: an event was redelivered through another worker (the dispatcher sends it
    ///     if it holds the job).
    public init(
        client: PostgresClient, logger: Logger, onJob: @escaping @Sendable () -> Void,
        onEvents: @escaping @Sendable () -> Void,
        onRedelivery: @escaping @Sendable (_ jobID: String, _ eventID: String) -> Void = { _, _ in }
    ) {
        self.onRedelivery = onRedelivery
        self.client = client
        self.logger = logger
        self.onJob = onJob
        self.onEvents = onEvents
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.listen() }
    }

    /// Listens on one pooled connection until cancelled, reconnecting after a failure.
    private func listen() async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        // Every wake-up also covers what a missed notification would have said.
                        onJob()
                        onEvents()
                        for try await notification in notifications {
                            let payload = notification.payload
                            if payload == Self.eventsPayload {
                                onEvents()
                            } else if payload.hasPrefix("redeliver ") {
                                let parts = payload.split(separator: " ")
                                if parts.count == 3 { onRedelivery(String(parts[1]), String(parts[2])) }
                                onEvents()
                            } else {
                                onJob()
                            }
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.debug("work notifications interrupted; listening again", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
