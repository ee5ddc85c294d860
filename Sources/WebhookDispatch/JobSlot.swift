import WebhookCore

/// A job's machine in a box (see ``WebhookDispatcher/jobs``). Lives inside the dispatcher's actor.
final class JobSlot {
    var machine: JobDeliveryMachine
    /// The job's trace (from its stored events), for each attempt's `traceparent`. Kept here, one
    /// per job, rather than in every queued event: most jobs have none, and a queued event is
    /// the unit of the dispatcher's memory.
    var trace: TraceContext?
    /// Events an operator discarded while the job's evicted queue was being read back: the read
    /// may have returned them as pending, and they must not come back.
    var discardedWhileRestoring: Set<EventID>?

    init(_ machine: JobDeliveryMachine) {
        self.machine = machine
    }
}
