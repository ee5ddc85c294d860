import WebhookCore

/// A job's machine in a box (see ``WebhookDispatcher/jobs``). Lives inside the dispatcher's actor.
final class JobSlot {
    var machine: JobDeliveryMachine
    /// The job's trace (from its stored events), for each attempt's `traceparent`. Kept here, one
    /// per job, rather than in every queued event: most jobs have none, and a queued event is
    /// the unit of the dispatcher's memory.
    var trace: TraceContext?
    /// Events an operator discarded while the job was evicted: a read-back issued before the
    /// discard was stored may return them as pending, and they must not come back. Kept until a
    /// read-back issued after the last of those discards returned (``lastDiscardReturn``).
    var discarded: Set<EventID>?
    /// Discards of this job's evicted events waiting for the store.
    var discardsUnderWay: Int32 = 0
    /// ``WebhookDispatcher/discardReturns`` when the last of them returned.
    var lastDiscardReturn: UInt64 = 0

    init(_ machine: JobDeliveryMachine) {
        self.machine = machine
    }
}
