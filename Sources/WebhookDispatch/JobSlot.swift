/// A job's machine in a box (see ``WebhookDispatcher/jobs``). Lives inside the dispatcher's actor.
final class JobSlot {
    var machine: JobDeliveryMachine

    init(_ machine: JobDeliveryMachine) {
        self.machine = machine
    }
}
