#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import WebhookCore

extension EventDraft {
    /// A draft whose payload describes `snapshot`.
    /// - Throws: `EncodingError` if the snapshot has values JSON cannot hold (e.g. NaN).
    public init(kind: EventKind, callbackURL: String, snapshot: JobSnapshot) throws {
        self.init(
            kind: kind, jobID: snapshot.jobID, callbackURL: callbackURL,
            encodedSnapshot: Array(try Self.snapshotEncoder.encode(snapshot)))
    }

    /// Plain slashes: receivers read `https://…` and "clip 1/3", not `https:\/\/…`.
    private static var snapshotEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }
}
