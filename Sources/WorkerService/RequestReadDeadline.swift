import HummingbirdCore
import Logging
import NIOCore

/// A time limit for reading one request (SPEC section 4, slow clients): once the first byte of
/// a request arrives, its head and body must be in before `limit`, or the connection gets a 408
/// and is closed. Hummingbird's idle timeout cannot do this: a client that drips one body byte
/// at a time looks busy to it forever, holds a connection and, before this, held graceful
/// shutdown open without even presenting a token (authentication runs after the body is read).
///
/// It sits in front of the HTTP decoder and sees raw bytes, so a head sent a byte at a time is
/// caught too. Reading ends when the response starts: our routes answer once they have the whole
/// body (or refuse early, which also ends the read).
final class RequestReadDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let limit: TimeAmount
    private var deadline: Scheduled<Void>?
    private var timedOut = false

    init(limit: TimeAmount) {
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if timedOut { return }
        if deadline == nil {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            deadline = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: limit) { [self] in
                expire(context: loopBound.value)
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // The response has started: this request is read. The next one starts its own clock.
        disarm()
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }

    private func expire(context: ChannelHandlerContext) {
        deadline = nil
        timedOut = true
        let answer = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        var buffer = context.channel.allocator.buffer(capacity: answer.utf8.count)
        buffer.writeString(answer)
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(buffer))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

/// Hummingbird's HTTP/1.1 child channel with ``RequestReadDeadline`` in front of its decoder.
struct DeadlineGuardedHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let readLimit: TimeAmount

    var responder: HTTPChannelHandler.Responder { inner.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(RequestReadDeadline(limit: readLimit))
        }.flatMap { inner.setup(channel: channel, logger: logger) }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with a time limit for reading each request (see ``RequestReadDeadline``).
    static func http1(configuration: HTTP1Channel.Configuration, requestReadLimit: Duration) -> HTTPServerBuilder {
        let (seconds, attoseconds) = requestReadLimit.components
        let limit = TimeAmount.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        return HTTPServerBuilder { responder in
            DeadlineGuardedHTTP1Channel(inner: HTTP1Channel(responder: responder, configuration: configuration), readLimit: limit)
        }
    }
}
