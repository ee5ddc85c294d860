import NIOCore
import NIOPosix

/// A loopback TCP server that answers each request head with scripted raw bytes: replies no
/// HTTP server library produces, such as an interim `100 Continue` and then silence, a garbage
/// status line, or random bytes.
///
/// ```swift
/// let server = try await RawTCPServer.start(reply: Array("HTTP/1.1 100 Continue\r\n\r\n".utf8), then: .hang)
/// defer { Task { try await server.shutdown() } }
/// ```
public final class RawTCPServer: Sendable {
    /// What the server does after it wrote the reply bytes.
    public enum Ending: Sendable {
        /// Keeps the connection open and silent until the client gives up.
        case hang
        /// Closes the connection.
        case close
    }

    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    /// The request heads received (everything up to the blank line, as text), in arrival order.
    public let received: AsyncRecorder<String>
    /// The port it listens on.
    public let port: Int

    private init(channel: any Channel, group: MultiThreadedEventLoopGroup, received: AsyncRecorder<String>, port: Int) {
        self.channel = channel
        self.group = group
        self.received = received
        self.port = port
    }

    /// `http://127.0.0.1:<port><path>`.
    public func url(_ path: String = "/hook") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Starts a server on an ephemeral port of `host` (an IPv4 or IPv6 loopback address).
    /// - Parameters:
    ///   - host: `127.0.0.1` or `::1`.
    ///   - reply: the bytes written once a request head (up to the first blank line) arrived.
    ///   - ending: what happens after the reply.
    public static func start(
        host: String = "127.0.0.1", reply: [UInt8], then ending: Ending
    ) async throws -> RawTCPServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let received = AsyncRecorder<String>()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        RawReplyHandler(reply: reply, ending: ending, received: received))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: host, port: 0).get()
            let port = channel.localAddress?.port ?? 0
            return RawTCPServer(channel: channel, group: group, received: received, port: port)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Closes the listener and every connection.
    public func shutdown() async throws {
        try? await channel.close()
        try await group.shutdownGracefully()
    }
}

/// Collects bytes until the end of a request head, then writes the scripted reply once.
final class RawReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: NIO calls a handler on its channel's event loop only.
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let reply: [UInt8]
    private let ending: RawTCPServer.Ending
    private let received: AsyncRecorder<String>
    private var head: [UInt8] = []
    private var replied = false

    init(reply: [UInt8], ending: RawTCPServer.Ending, received: AsyncRecorder<String>) {
        self.reply = reply
        self.ending = ending
        self.received = received
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        guard !replied else { return }
        head.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
        guard let end = Self.endOfHead(in: head) else { return }
        replied = true
        received.record(String(decoding: head[..<end], as: UTF8.self))
        let written = context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: reply)))
        if case .close = ending {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// The index just past `\r\n\r\n`, or nil while the head is incomplete.
    private static func endOfHead(in bytes: [UInt8]) -> Int? {
        let marker: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= marker.count else { return nil }
        for index in 0...(bytes.count - marker.count)
        where bytes[index..<(index + marker.count)].elementsEqual(marker) {
            return index + marker.count
        }
        return nil
    }
}
