import Foundation
public import NIOCore
public import NIOHTTPTypes
public import Hummingbird
import WorkerCore

/// Looks at each request head before the router does (SPEC section 4, bodies over 64 KiB get 413):
///
/// | request | answer |
/// |---|---|
/// | `Content-Length` over the limit (with or without `Expect: 100-continue`) | 413 at once, `Connection: close`, the body never read |
/// | `Expect: 100-continue` within the limit | `100 Continue` at once, then the route's answer |
/// | anything else | passed on untouched |
///
/// Without it a client announcing 10 MB would upload them all before its 413 (the router reads
/// up to the limit, and the server drains the rest to reuse the connection), and a client that
/// sent `Expect: 100-continue` would wait a second for a `100` no one sends (libcurl does).
/// A body without `Content-Length` (chunked) is still cut at the limit by the route.
///
/// Add one per connection, after the HTTP codec (Hummingbird's `additionalChannelHandlers`).
public final class RequestSizeGate: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundOut = HTTPResponsePart

    /// The API's body limit (SPEC section 4): 64 KiB.
    public static let defaultLimit = 64 * 1024

    /// The largest body accepted, in bytes.
    public let limit: Int
    /// True once a request was refused: the rest of the connection's input is dropped.
    private var refusing = false

    /// Creates a gate for one connection.
    /// - Parameter limit: the largest body accepted (default: the API's 64 KiB).
    public init(limit: Int = RequestSizeGate.defaultLimit) {
        self.limit = limit
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refusing else { return }
        guard case .head(let head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        if let declared = head.headerFields[.contentLength].flatMap({ Int($0) }), declared > limit {
            refuse(context: context)
            return
        }
        if let expect = head.headerFields[.expect], expect.lowercased() == "100-continue" {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }

    /// Writes the 413 and closes the connection once it is out: the announced body is never read.
    private func refuse(context: ChannelHandlerContext) {
        refusing = true
        let body = ErrorBody(error: .init(code: "payload_too_large", message: "the request body is larger than 64 KiB", field: nil))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes = (try? encoder.encode(body)).map(Array.init) ?? Array("{}".utf8)
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.contentLength] = String(bytes.count)
        fields[.connection] = "close"
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .contentTooLarge, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: bytes))), promise: nil)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        let channel = context.channel
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }
}
