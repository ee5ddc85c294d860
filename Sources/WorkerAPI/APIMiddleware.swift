import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import WebhookCore
import WorkerCore

/// Turns every error into the contract's JSON shape (SPEC section 4); unexpected errors become a
/// bare 500 whose details go to the log only.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return Self.response(error)
        } catch let error as NIOTooManyBytesError {
            _ = error
            return Self.response(APIError(status: 413, code: "payload_too_large", message: "the request body is larger than 64 KiB"))
        } catch let error as HTTPError {
            let status = Int(error.status.code)
            let code: String
            switch status {
            case 404: code = "not_found"
            case 405: code = "method_not_allowed"
            case 413: code = "payload_too_large"
            default: code = status < 500 ? "invalid_request" : "internal_error"
            }
            let message = error.body ?? (status == 404 ? "no such resource" : error.status.reasonPhrase)
            return Self.response(APIError(status: status, code: code, message: message))
        } catch {
            context.logger.error("request failed", metadata: [LogMetadataKey.error: "\(error)", LogMetadataKey.httpRoute: "\(context.endpointPath ?? "-")"])
            return Self.response(APIError(status: 500, code: "internal_error", message: "internal error"))
        }
    }

    static func response(_ error: APIError) -> Response {
        let body = ErrorBody(error: .init(code: error.code, message: error.message, field: error.field))
        var response = JSONResponse.make(status: HTTPResponse.Status(code: error.status), body)
        if error.status == 401 { response.headers[HTTPField.Name.wwwAuthenticate] = "Bearer" }
        if let seconds = error.retryAfterSeconds { response.headers[HTTPField.Name.retryAfter] = String(seconds) }
        return response
    }
}

/// `{"error": {"code", "message", "field"}}`; `field` is always present (null when none).
/// The CLI decodes it too.
public struct ErrorBody: Codable, Sendable {
    public struct Detail: Codable, Sendable {
        public var code: String
        public var message: String
        public var field: String?

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(code, forKey: .code)
            try container.encode(message, forKey: .message)
            try container.encode(field, forKey: .field)
        }

        enum CodingKeys: CodingKey { case code, message, field }
    }
    public var error: Detail
}

/// Parsing and comparing bearer credentials (shared by the access checks and sessions).
enum TokenCheck {
    /// The credentials of a `Bearer` authorization, or nil for another scheme. The scheme is
    /// case-insensitive (RFC 7235 section 2.1: `bearer`, `BEARER`), separated by one or more spaces.
    static func bearerCredentials(_ header: String) -> [UInt8]? {
        var bytes = header.utf8[...]
        while bytes.first == UInt8(ascii: " ") || bytes.first == UInt8(ascii: "\t") { bytes = bytes.dropFirst() }
        let scheme = Array("bearer".utf8)
        guard bytes.count > scheme.count, zip(bytes.prefix(scheme.count), scheme).allSatisfy({ $0 | 0x20 == $1 }),
            bytes.dropFirst(scheme.count).first == UInt8(ascii: " ")
        else { return nil }
        var credentials = bytes.dropFirst(scheme.count)
        while credentials.first == UInt8(ascii: " ") { credentials = credentials.dropFirst() }
        while credentials.last == UInt8(ascii: " ") || credentials.last == UInt8(ascii: "\t") { credentials = credentials.dropLast() }
        return Array(credentials)
    }

    /// Equality whose time does not depend on where the bytes differ.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}

/// JSON responses from Encodable values.
enum JSONResponse {
    static func make(status: HTTPResponse.Status, _ value: some Encodable, headers: HTTPFields = [:]) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
