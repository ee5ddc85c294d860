import Foundation
public import WebhookCore

/// Turns a submitted JSON body into a ``JobSpec`` or the first ``APIError`` (SPEC section 4).
///
/// | field | rule |
/// |---|---|
/// | `video_url` | required; http/https passing the URL policy, or `file://` under the local media dir |
/// | `callback_url` | optional http/https passing the URL policy |
/// | `external_job_id`, `owner_user_id` | optional strings of at most 256 characters and 1,024 bytes of UTF-8 |
/// | `max_clips` | integer 1–20, default 5 |
/// | `min_clip_duration_seconds`, `max_clip_duration_seconds` | integers 1–600, defaults 15 and 90, min ≤ max |
/// | `duration_ranges` | optional array (≤ 10) of `"lower-upper"` strings, 1–600, lower ≤ upper |
/// | `target_platform` | `tiktok` (default), `youtube_shorts`, `instagram_reels`, `youtube` |
/// | `include_captions` | boolean, default true |
/// | `caption_style` | optional object, at most 4 KiB as JSON |
///
/// `null` counts as absent; unknown fields are ignored; a key given twice (at any depth) is a 400,
/// so no validator in front of the worker can read another value than the worker does.
///
/// Two steps: ``validate(body:)`` checks the body (URL literals included) without I/O;
/// ``checkHosts(of:)`` then resolves the URLs' host names (SPEC section 4, 2 s limit).
public struct JobRequestValidator: Sendable {
    /// The SSRF policy for callback and video URLs.
    public var networkPolicy: NetworkPolicy
    /// `CLIPPING_WORKER_LOCAL_MEDIA_DIR`: `file://` videos are accepted only under it.
    public var localMediaDirectory: String?
    /// Looks up host names at submission; nil leaves names to the connect-time check alone.
    public var resolver: (any HostResolver)?
    /// True when callbacks go through `WEBHOOK_PROXY`: callback host names are then not resolved
    /// by the worker (the proxy resolves them); literal addresses are still checked.
    public var callbacksUseProxy: Bool
    /// How long a lookup may take before the URL is accepted unresolved (SPEC: 2 s).
    public var resolutionTimeout: Duration

    /// Creates a validator.
    public init(
        networkPolicy: NetworkPolicy, localMediaDirectory: String?, resolver: (any HostResolver)? = nil,
        callbacksUseProxy: Bool = false, resolutionTimeout: Duration = .seconds(2)
    ) {
        self.networkPolicy = networkPolicy
        self.localMediaDirectory = localMediaDirectory
        self.resolver = resolver
        self.callbacksUseProxy = callbacksUseProxy
        self.resolutionTimeout = resolutionTimeout
    }

    /// Validates a request body (no I/O: host names are resolved by ``checkHosts(of:)``).
    public func validate(body: [UInt8]) -> Result<JobSpec, APIError> {
        let value: JSONValue
        do {
            value = try JSONParser.parse(body)
        } catch .duplicateKey(let path) {
            let name = path.joined(separator: ".")
            return .failure(
                APIError(status: 400, code: "invalid_request", message: "\(name) appears more than once", field: path.first))
        } catch .tooDeep {
            return .failure(APIError(status: 400, code: "invalid_json", message: "the request body is nested too deeply"))
        } catch {
            return .failure(APIError(status: 400, code: "invalid_json", message: "the request body is not valid JSON"))
        }
        guard case .object(let fields) = value else {
            return .failure(APIError(status: 400, code: "invalid_request", message: "the request body must be a JSON object"))
        }
        do {
            return .success(try validate(fields))
        } catch {
            return .failure(error)
        }
    }

    func validate(_ fields: [String: JSONValue]) throws(APIError) -> JobSpec {
        func present(_ name: String) -> JSONValue? {
            guard let value = fields[name], value != .null else { return nil }
            return value
        }
        func string(_ name: String, maxLength: Int, maxBytes: Int? = nil) throws(APIError) -> String? {
            guard let value = present(name) else { return nil }
            guard case .string(let text) = value else { throw .invalid(name, "must be a string, not \(value.typeName)") }
            guard text.count <= maxLength else { throw .invalid(name, "must be at most \(maxLength) characters") }
            // One "character" can be hundreds of bytes of combining marks: bound the storage too.
            if let maxBytes, text.utf8.count > maxBytes { throw .invalid(name, "must be at most \(maxBytes) bytes of UTF-8") }
            return text
        }
        func integer(_ name: String, range: ClosedRange<Int>, default fallback: Int) throws(APIError) -> Int {
            guard let value = present(name) else { return fallback }
            guard case .number(let number) = value, number.rounded() == number, number.magnitude < 1e9 else {
                throw .invalid(name, "must be an integer")
            }
            let result = Int(number)
            guard range.contains(result) else {
                throw .invalid(name, "must be between \(range.lowerBound) and \(range.upperBound)")
            }
            return result
        }

        guard let videoURL = try string("video_url", maxLength: 4096) else {
            throw .invalid("video_url", "is required")
        }
        try checkVideoURL(videoURL)
        let callbackURL = try string("callback_url", maxLength: 4096)
        if let callbackURL, let refusal = networkPolicy.refusal(forURL: callbackURL) {
            throw .invalid("callback_url", refusal)
        }
        let externalJobID = try string("external_job_id", maxLength: 256, maxBytes: 1024)
        let ownerUserID = try string("owner_user_id", maxLength: 256, maxBytes: 1024)
        let maxClips = try integer("max_clips", range: 1...20, default: 5)
        let minimum = try integer("min_clip_duration_seconds", range: 1...600, default: 15)
        let maximum = try integer("max_clip_duration_seconds", range: 1...600, default: 90)
        guard minimum <= maximum else {
            throw .invalid("min_clip_duration_seconds", "must not exceed max_clip_duration_seconds (\(maximum))")
        }
        var ranges = [ClipDurationRange]()
        if let value = present("duration_ranges") {
            guard case .array(let items) = value else { throw .invalid("duration_ranges", "must be an array of strings like \"15-30\"") }
            guard items.count <= 10 else { throw .invalid("duration_ranges", "must have at most 10 entries") }
            for item in items {
                guard case .string(let text) = item, let range = ClipDurationRange(text) else {
                    throw .invalid("duration_ranges", "entries must be strings like \"15-30\" (seconds 1–600, lower ≤ upper)")
                }
                ranges.append(range)
            }
        }
        var platform = TargetPlatform.tiktok
        if let value = present("target_platform") {
            guard case .string(let text) = value, let parsed = TargetPlatform(rawValue: text) else {
                throw .invalid("target_platform", "must be one of tiktok, youtube_shorts, instagram_reels, youtube")
            }
            platform = parsed
        }
        var includeCaptions = true
        if let value = present("include_captions") {
            guard case .bool(let flag) = value else { throw .invalid("include_captions", "must be a boolean") }
            includeCaptions = flag
        }
        var captionStyle: String?
        if let value = present("caption_style") {
            guard case .object = value else { throw .invalid("caption_style", "must be an object") }
            let text = value.compactText
            guard text.utf8.count <= 4096 else { throw .invalid("caption_style", "must be at most 4 KiB as JSON") }
            captionStyle = text
        }
        return JobSpec(
            videoURL: videoURL, callbackURL: callbackURL, externalJobID: externalJobID, ownerUserID: ownerUserID,
            maxClips: maxClips, minClipDurationSeconds: minimum, maxClipDurationSeconds: maximum,
            durationRanges: ranges, targetPlatform: platform, includeCaptions: includeCaptions,
            captionStyleJSON: captionStyle)
    }

    private func checkVideoURL(_ text: String) throws(APIError) {
        guard text.lowercased().hasPrefix("file:") else {
            if let refusal = networkPolicy.refusal(forURL: text) { throw .invalid("video_url", refusal) }
            return
        }
        // The same bounds as for http(s) URLs: no spaces or control characters, at most 2,048 bytes.
        if text.utf8.count > NetworkPolicy.maxURLBytes {
            throw .invalid("video_url", "must be at most \(NetworkPolicy.maxURLBytes) bytes")
        }
        if text.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
            throw .invalid("video_url", "must not contain spaces or control characters")
        }
        guard let directory = localMediaDirectory else {
            throw .invalid("video_url", "may be a file:// URL only when CLIPPING_WORKER_LOCAL_MEDIA_DIR is set")
        }
        guard let path = Self.localPath(of: text, under: directory) else {
            throw .invalid("video_url", "must name a file under the local media directory")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw .invalid("video_url", "names a file that does not exist")
        }
    }

    /// The real path of a `file://` URL if it lies under `directory` (after resolving `..` and
    /// symbolic links), else nil.
    public static func localPath(of text: String, under directory: String) -> String? {
        guard let url = URL(string: text), url.isFileURL, url.host == nil || url.host == "" || url.host == "localhost"
        else { return nil }
        let resolved = url.standardizedFileURL.resolvingSymlinksInPath().path
        let root = URL(fileURLWithPath: directory).standardizedFileURL.resolvingSymlinksInPath().path
        let prefix = root.hasSuffix("/") ? root : root + "/"
        return resolved.hasPrefix(prefix) ? resolved : nil
    }
}

extension JobRequestValidator {
    /// The submission-time lookup of SPEC section 4: each http(s) URL's host name is resolved
    /// (both at once, within ``resolutionTimeout``) and refused when it does not exist or any of its
    /// addresses is refused. A lookup without an answer in time refuses nothing.
    /// - Returns: the 400 for the first refused URL (video first), or nil.
    public func checkHosts(of spec: JobSpec) async -> APIError? {
        guard let resolver else { return nil }
        let policy = networkPolicy
        let timeout = resolutionTimeout
        let videoURL = spec.videoURL.lowercased().hasPrefix("file:") ? nil : spec.videoURL
        let callbackURL = callbacksUseProxy ? nil : spec.callbackURL
        async let video = videoURL.asyncMap { await policy.refusal(forURL: $0, resolvingWith: resolver, timeout: timeout) }
        async let callback = callbackURL.asyncMap {
            await policy.refusal(forURL: $0, resolvingWith: resolver, timeout: timeout)
        }
        if let refusal = await video ?? nil { return .invalid("video_url", refusal) }
        if let refusal = await callback ?? nil { return .invalid("callback_url", refusal) }
        return nil
    }
}

extension Optional where Wrapped: Sendable {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async -> T) async -> T? {
        guard let self else { return nil }
        return await transform(self)
    }
}
