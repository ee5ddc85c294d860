import Foundation
import WebhookCore
import WebhookDispatch
import WorkerAPI
import WorkerCore

extension Worker {
    /// The listing, bulk and operations routes' services (SPEC sections 4 and 9) on the stores
    /// and the dispatcher of this process.
    static func operationsServices<Outbox: OutboxStore & DeliveryListing, Sender: WebhookSender, Clock: WorkerClock>(
        outbox: Outbox, jobs: some JobListing, dispatcher: WebhookDispatcher<Outbox, Sender, Clock>, activity: DeliveryActivity,
        clock: Clock, configuration: WorkerConfiguration
    ) -> OperationsServices {
        OperationsServices(
            deliveries: outbox, jobs: jobs,
            discard: { matches, reason in try await dispatcher.discard(matches, reason: reason) },
            processFigures: {
                let status = await dispatcher.status
                let snapshots = await dispatcher.originSnapshots
                let (total, byOrigin) = activity.summary(now: clock.now)
                // Activity is keyed as the callback URLs spell the origin; the dispatcher's with the port.
                var recent = [String: DeliveryActivity.Summary]()
                for (key, summary) in byOrigin { recent[Origin(url: key)?.description ?? key] = summary }
                var rows = snapshots.map { snapshot in
                    let summary = recent.removeValue(forKey: snapshot.origin)
                    return ProcessFigures.OriginFigures(
                        origin: snapshot.origin, breaker: snapshot.breaker, inFlight: snapshot.inFlight,
                        waitingJobs: snapshot.waitingJobs, parkedJobs: snapshot.parkedJobs, nextProbeAt: snapshot.nextProbeAt,
                        attempts: summary?.attempts ?? 0, failures: summary?.failures ?? 0, lastError: summary?.lastError,
                        lastErrorAt: summary?.lastErrorAt)
                }
                // Origins the dispatcher already forgot (idle) but attempted within the window.
                for (origin, summary) in recent.sorted(by: { $0.key < $1.key }) {
                    rows.append(
                        ProcessFigures.OriginFigures(
                            origin: origin, breaker: "closed", inFlight: 0, waitingJobs: 0, parkedJobs: 0, nextProbeAt: nil,
                            attempts: summary.attempts, failures: summary.failures, lastError: summary.lastError,
                            lastErrorAt: summary.lastErrorAt))
                }
                return ProcessFigures(
                    attempts: total.attempts, failures: total.failures, windowSeconds: Int(DeliveryActivity.window),
                    attemptsInFlight: status.attemptsInFlight, pausedOrigins: status.pausedOrigins,
                    pendingTracked: status.pendingEvents, origins: rows)
            },
            publicHost: configuration.publicURL.flatMap { URLComponents(string: $0)?.host?.lowercased() })
    }
}
