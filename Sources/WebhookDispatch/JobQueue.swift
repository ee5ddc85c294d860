import WebhookCore

/// One queued event in memory: what scheduling needs, and the body only while the cache allows.
struct QueuedEvent {
    let id: EventID
    let sequence: Int64
    let kind: EventKind
    var attempts: Int
    var seriesStartedAt: Timestamp
    var seriesAttempts: Int
    var nextAttemptAt: Timestamp
    var body: [UInt8]?

    init(_ event: OutboxEvent, keepBody: Bool) {
        id = event.id
        sequence = event.sequence
        kind = event.kind
        attempts = event.attempts
        seriesStartedAt = event.seriesStartedAt
        seriesAttempts = event.seriesAttempts
        nextAttemptAt = event.nextAttemptAt
        body = keepBody ? event.body : nil
    }
}

/// A job's pending events in sequence order, and its throttle. At most one attempt of a job is
/// in flight, which is how per-job order holds.
///
/// A class so the dispatcher mutates it in place through nested calls; it never leaves the
/// dispatcher's actor.
final class JobQueue {
    let jobID: String
    let callbackURL: String
    let origin: Origin?
    var events: [QueuedEvent] = []
    var inFlight = false
    /// The head's attempt in flight should end as `superseded` unless it succeeds.
    var supersedeInFlight = false
    /// A timer is armed for the head at this time.
    var armedAt: Timestamp?
    var throttle = ProgressThrottle()
    var throttleArmedAt: Timestamp?
    /// A terminal event of this job was (or is being) stored: later progress is pointless.
    var terminalStored = false
    /// The callback answered 410.
    var gone = false

    init(jobID: String, callbackURL: String) {
        self.jobID = jobID
        self.callbackURL = callbackURL
        self.origin = Origin(url: callbackURL)
    }

    /// Inserts by sequence (almost always at the end).
    func insert(_ event: QueuedEvent) {
        var index = events.endIndex
        while index > events.startIndex, events[index - 1].sequence > event.sequence { index -= 1 }
        // The head in flight keeps its place.
        if inFlight, index == 0, !events.isEmpty { index = 1 }
        events.insert(event, at: index)
    }

    /// True when nothing about this job needs remembering.
    var isFinished: Bool { events.isEmpty && !inFlight && terminalStored && throttle.held == nil }
}
