public import WebhookCore

extension EventDraft {
    /// A draft whose payload describes `snapshot`.
    /// - Throws: `EncodingError` if the snapshot has values JSON cannot hold (e.g. NaN).
    ///   - trace: the trace the job was submitted with, carried on the webhook.
    public init(kind: EventKind, callbackURL: String, snapshot: JobSnapshot, trace: TraceContext? = nil) throws {
        // Plain slashes: receivers read `https://…` and "clip 1/3", not `https:\/\/…`.
        self.init(
            kind: kind, jobID: snapshot.jobID, callbackURL: callbackURL, encodedSnapshot: try snapshot.jsonBytes(),
            trace: trace)
    }
}
