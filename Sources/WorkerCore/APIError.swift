/// An error as the HTTP API returns it (SPEC section 4):
/// `{"error": {"code": "invalid_request", "message": "…", "field": "callback_url"}}`.
public struct APIError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The HTTP status.
    public var status: Int
    /// A stable machine-readable code.
    public var code: String
    /// A sentence for a person; never contains secrets.
    public var message: String
    /// The request field at fault, if one is.
    public var field: String?
    /// `Retry-After` seconds, for a 429 or 503 the client may retry.
    public var retryAfterSeconds: Int?

    /// Creates an error.
    public init(status: Int, code: String, message: String, field: String? = nil, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// 400 `invalid_request` about one field.
    public static func invalid(_ field: String, _ message: String) -> APIError {
        APIError(status: 400, code: "invalid_request", message: "\(field) \(message)", field: field)
    }

    public var description: String { "\(status) \(code): \(message)" }
}
