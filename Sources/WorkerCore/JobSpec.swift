import Foundation
public import WebhookCore

/// A validated job request: every field checked, defaults applied (SPEC section 4).
public struct JobSpec: Sendable, Hashable, Codable {
    /// http, https or file URL of the source video.
    public var videoURL: String
    public var callbackURL: String?
    public var externalJobID: String?
    public var ownerUserID: String?
    /// 1–20, default 5.
    public var maxClips: Int
    /// 1–600, default 15, ≤ max.
    public var minClipDurationSeconds: Int
    /// 1–600, default 90.
    public var maxClipDurationSeconds: Int
    /// Allowed clip lengths, e.g. 15–30 and 30–60 seconds; empty means min…max.
    public var durationRanges: [ClipDurationRange]
    public var targetPlatform: TargetPlatform
    public var includeCaptions: Bool
    /// The `caption_style` object as sent (compact JSON), or nil.
    public var captionStyleJSON: String?
    /// The W3C trace the submission carried (`traceparent`, `tracestate` headers), or nil: its
    /// webhooks carry it. Not part of what `Idempotency-Key` compares.
    public var trace: TraceContext?

    /// Creates a spec (already validated; see ``JobRequestValidator``).
    public init(
        videoURL: String, callbackURL: String?, externalJobID: String?, ownerUserID: String?, maxClips: Int,
        minClipDurationSeconds: Int, maxClipDurationSeconds: Int, durationRanges: [ClipDurationRange],
        targetPlatform: TargetPlatform, includeCaptions: Bool, captionStyleJSON: String?
    ) {
        self.videoURL = videoURL
        self.callbackURL = callbackURL
        self.externalJobID = externalJobID
        self.ownerUserID = ownerUserID
        self.maxClips = maxClips
        self.minClipDurationSeconds = minClipDurationSeconds
        self.maxClipDurationSeconds = maxClipDurationSeconds
        self.durationRanges = durationRanges
        self.targetPlatform = targetPlatform
        self.includeCaptions = includeCaptions
        self.captionStyleJSON = captionStyleJSON
    }

    /// The spec as every job store keeps it (`spec_json`), its trace included.
    /// - Throws: ``JobStoreError`` `.storage` if it cannot be encoded.
    public func storedJSON() throws(JobStoreError) -> String {
        do {
            return String(decoding: try JSONEncoder().encode(self), as: UTF8.self)
        } catch {
            throw JobStoreError(.storage, "cannot encode the job: \(error)")
        }
    }

    /// The request as the worker understood it, as JSON with sorted keys: what `Idempotency-Key`
    /// compares. Two bodies that differ only in whitespace, key order, escapes, or an explicit
    /// `null` (or default) for an optional field give the same bytes, so a retry of the same
    /// request is not a 409.
    public var canonicalJSON: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // A retry may come with another trace: the same request all the same.
        var request = self
        request.trace = nil
        // Encoding plain strings, integers and booleans cannot fail.
        return (try? encoder.encode(request)).map(Array.init) ?? []
    }

    enum CodingKeys: String, CodingKey {
        case videoURL = "video_url"
        case callbackURL = "callback_url"
        case externalJobID = "external_job_id"
        case ownerUserID = "owner_user_id"
        case maxClips = "max_clips"
        case minClipDurationSeconds = "min_clip_duration_seconds"
        case maxClipDurationSeconds = "max_clip_duration_seconds"
        case durationRanges = "duration_ranges"
        case targetPlatform = "target_platform"
        case includeCaptions = "include_captions"
        case captionStyleJSON = "caption_style_json"
        case trace
    }
}

/// A clip length range in whole seconds, written `"15-30"`.
public struct ClipDurationRange: Sendable, Hashable, Codable, CustomStringConvertible {
    public var lower: Int
    public var upper: Int

    /// Creates a range.
    public init(lower: Int, upper: Int) {
        self.lower = lower
        self.upper = upper
    }

    /// Parses `"15-30"`; nil unless both ends are whole seconds in 1–600 and lower ≤ upper.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let lower = Int(parts[0].trimmingSpaces), let upper = Int(parts[1].trimmingSpaces),
            (1...600).contains(lower), (1...600).contains(upper), lower <= upper
        else { return nil }
        self.init(lower: lower, upper: upper)
    }

    public var description: String { "\(lower)-\(upper)" }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let range = ClipDurationRange(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad range \(text)"))
        }
        self = range
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var slice = self
        while slice.first == " " { slice = slice.dropFirst() }
        while slice.last == " " { slice = slice.dropLast() }
        return slice
    }
}
