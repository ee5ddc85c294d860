import WebhookCore

/// A job's machine in a box (see ``WebhookDispatcher/jobs``). Lives inside the dispatcher's actor.
final class JobSlot {
    var machine: JobDeliveryMachine
    /// The job's trace (from its stored events), for each attempt's `traceparent`. Kept here, one
    /// per job, rather than in every queued event: most jobs have none, and a queued event is
    /// the unit of the dispatcher's memory. Boxed for the same reason: 8 bytes per slot, not 48.
    var trace: TraceContext? {
        get { traceBox?.trace }
        set { traceBox = newValue.map(TraceBox.init) }
    }
    private var traceBox: TraceBox?
    /// Operator discards of this job's events while it was evicted; nil (one pointer per job)
    /// for every job without one.
    var discards: DiscardFilter?

    init(_ machine: JobDeliveryMachine) {
        self.machine = machine
    }
}

private final class TraceBox {
    let trace: TraceContext
    init(_ trace: TraceContext) { self.trace = trace }
}

/// Events an operator discarded while their job was evicted: a read-back issued before such a
/// discard was stored may return them as pending, and they must not come back.
final class DiscardFilter {
    var ids: Set<EventID> = []
    /// Discards of the job's evicted events waiting for the store (a read-back waits for them).
    var underWay: Int32 = 0
    /// ``WebhookDispatcher/discardReturns`` when the last of them returned: a read-back issued
    /// before it may have missed its commit.
    var lastReturn: UInt64 = 0
}
