public import WebhookCore

/// The per-job progress throttle (SPEC section 6): at most one progress event per interval, the
/// first never held back, the newest held update sent when the interval ends (trailing edge).
/// Held updates are drafts, not events: coalesced ones never get a sequence number.
public struct ProgressThrottle: Sendable {
    /// What to do with an offered update.
    public enum Decision: Sendable, Equatable {
        /// Store and send it now.
        case emitNow
        /// It is held; make sure a timer fires at `until` (it may already be armed).
        case held(until: Timestamp)
    }

    /// When the last progress event was emitted.
    public private(set) var lastEmittedAt: Timestamp? {
        get { lastEmittedMilliseconds == .min ? nil : Timestamp(milliseconds: lastEmittedMilliseconds) }
        set { lastEmittedMilliseconds = newValue?.milliseconds ?? .min }
    }
    /// The newest update waiting for the interval to end.
    public private(set) var held: EventDraft? {
        get { heldBox?.draft }
        set { heldBox = newValue.map(HeldDraft.init) }
    }

    // Stored in 16 bytes rather than 64 (a draft inline, an optional time): every job that has
    // sent progress keeps a throttle, and an update is held only now and then.
    private var lastEmittedMilliseconds: Int64 = .min
    private var heldBox: HeldDraft?

    private final class HeldDraft: Sendable {
        let draft: EventDraft
        init(_ draft: EventDraft) { self.draft = draft }
    }

    /// Creates an idle throttle.
    public init() {}

    /// Offers a progress update at `now`.
    public mutating func offer(_ draft: EventDraft, now: Timestamp, interval: Duration) -> Decision {
        if let last = lastEmittedAt {
            let opens = last.advanced(by: interval)
            if now < opens {
                held = draft
                return .held(until: opens)
            }
        }
        lastEmittedAt = now
        held = nil
        return .emitNow
    }

    /// The held update, if its interval has ended at `now`; it counts as emitted.
    public mutating func takeDue(now: Timestamp, interval: Duration) -> EventDraft? {
        guard let draft = held, let last = lastEmittedAt, now >= last.advanced(by: interval) else { return nil }
        held = nil
        lastEmittedAt = now
        return draft
    }

    /// Holds `draft` (replacing an older held one) without deciding anything about the interval:
    /// an update of a job whose previous append is still under way waits for it.
    public mutating func hold(_ draft: EventDraft) {
        held = draft
    }

    /// The held update at `now` whatever the interval (released right after the append that
    /// held it back, when its interval has ended); it counts as emitted.
    public mutating func takeHeld(now: Timestamp) -> EventDraft? {
        guard let draft = held else { return nil }
        held = nil
        lastEmittedAt = now
        return draft
    }

    /// When the held update may go, if one is held.
    public func heldUntil(interval: Duration) -> Timestamp? {
        guard held != nil else { return nil }
        guard let last = lastEmittedAt else { return Timestamp(milliseconds: .min) }
        return last.advanced(by: interval)
    }

    /// Throws away the held update (a terminal event supersedes it).
    public mutating func discardHeld() {
        held = nil
    }
}
