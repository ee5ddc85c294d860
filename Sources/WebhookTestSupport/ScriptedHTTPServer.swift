import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A real HTTP/1.1 server on 127.0.0.1 whose answers a test scripts: statuses, `Retry-After`,
/// redirects, hangs, connection resets, huge or endless bodies.
///
/// ```swift
/// let server = try await ScriptedHTTPServer.start { request in .status(503) }
/// defer { Task { try await server.shutdown() } }
/// ```
public final class ScriptedHTTPServer: Sendable {
    /// What the server does with one request.
    public indirect enum Reply: Sendable {
        /// Answers with a status, headers and body (keep-alive honoured).
        case status(Int, headers: [(String, String)] = [], body: [UInt8] = [])
        /// Never answers; the connection stays open until the client gives up.
        case hang
        /// Resets the connection (TCP RST) without answering.
        case reset
        /// Closes the connection without answering.
        case close
        /// Answers `status` with a body of `bytes` bytes, chunked or with a Content-Length.
        case largeBody(status: Int, bytes: Int, chunked: Bool)
        /// Sends the status line and headers, then stalls without the body.
        case headersThenHang(status: Int)
        /// Waits, then replies.
        case delayed(Duration, Reply)
        /// Replies once the test opens the gate: an order of events that no machine load can change.
        case gated(ReplyGate, Reply)

        /// 204 No Content.
        public static let noContent = Reply.status(204)
    }

    /// A request as the server saw it.
    public struct Request: Sendable {
        public var method: String
        public var uri: String
        /// Header names lower-cased; the last value wins.
        public var headers: [String: String]
        public var body: [UInt8]
        /// Which accepted connection carried it (1, 2, …), to observe keep-alive reuse.
        public var connection: Int

        /// The value of a header (name case-insensitive).
        public func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    private let connectionCounter: ConnectionCounter
    /// Every request received, in arrival order.
    public let received: AsyncRecorder<Request>
    /// The port it listens on.
    public let port: Int

    /// `http` or `https`.
    public let scheme: String
    private let handshakeCounter: ConnectionCounter

    /// TLS handshakes completed so far (HTTPS only): a kept-alive connection does one in all.
    public var handshakesCompleted: Int { handshakeCounter.value.withLock { $0 } }

    private init(
        channel: any Channel, group: MultiThreadedEventLoopGroup, received: AsyncRecorder<Request>,
        connectionCounter: ConnectionCounter, port: Int, scheme: String = "http", handshakes: ConnectionCounter = ConnectionCounter()
    ) {
        self.scheme = scheme
        self.handshakeCounter = handshakes
        self.channel = channel
        self.group = group
        self.received = received
        self.connectionCounter = connectionCounter
        self.port = port
    }

    /// `http://127.0.0.1:<port><path>` (`https://` when the server speaks TLS).
    public func url(_ path: String = "/hook") -> String { "\(scheme)://127.0.0.1:\(port)\(path)" }

    /// TLS for a test receiver: its identity, and whether it requires a client certificate signed
    /// by a given authority (mTLS; one without is refused in the handshake).
    public struct TLS: Sendable {
        public var identity: TestCertificates.Identity
        public var requireClientCertificateFrom: String?

        public init(_ identity: TestCertificates.Identity, requireClientCertificateFrom authority: String? = nil) {
            self.identity = identity
            self.requireClientCertificateFrom = authority
        }

        func context() throws -> NIOSSLContext {
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(identity.certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: identity.key, format: .pem)))
            if let authority = requireClientCertificateFrom {
                configuration.certificateVerification = .noHostnameVerification
                configuration.trustRoots = .file(authority)
            }
            return try NIOSSLContext(configuration: configuration)
        }
    }

    /// Connections accepted so far.
    public var connectionsAccepted: Int { connectionCounter.value.withLock { $0 } }

    /// Starts a server on an ephemeral loopback port.
    /// - Parameters:
    ///   - threads: event-loop threads (the benchmark uses 1 to leave a core to the sender).
    ///   - record: keep every request (turn off for load, where memory would grow).
    ///   - reply: decides each answer; called on an event loop, so keep it quick.
    ///   - tls: serve HTTPS with this identity (and require client certificates if it says so).
    public static func start(
        threads: Int = 1, record: Bool = true, tls: TLS? = nil, reply: @escaping @Sendable (Request) -> Reply
    ) async throws -> ScriptedHTTPServer {
        let sslContext = try tls?.context()
        let handshakes = ConnectionCounter()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let received = AsyncRecorder<Request>()
        let counter = ConnectionCounter()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let number = counter.value.withLock { value in
                    value += 1
                    return value
                }
                if let sslContext {
                    do {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                        try channel.pipeline.syncOperations.addHandler(HandshakeCounter(count: handshakes))
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                }
                return channel.pipeline.configureHTTPServerPipeline(withErrorHandling: false).flatMap {
                    channel.pipeline.addHandler(
                        ScriptedHandler(connection: number, record: record ? received : nil, reply: reply))
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        return ScriptedHTTPServer(
            channel: channel, group: group, received: received, connectionCounter: counter, port: port,
            scheme: tls == nil ? "http" : "https", handshakes: handshakes)
    }

    /// Closes the listener and every connection.
    public func shutdown() async throws {
        try? await channel.close()
        try await group.shutdownGracefully()
    }
}

/// A gate a test opens to let held replies go (``ScriptedHTTPServer/Reply/gated(_:_:)``).
public final class ReplyGate: Sendable {
    private let state = Mutex<(open: Bool, waiting: [@Sendable () -> Void])>((false, []))

    public init() {}

    /// Lets every held reply go, and the later ones at once.
    public func open() {
        let waiting = state.withLock { state in
            state.open = true
            defer { state.waiting = [] }
            return state.waiting
        }
        waiting.forEach { $0() }
    }

    public func whenOpen(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.open { return true }
            state.waiting.append(action)
            return false
        }
        if now { action() }
    }
}

final class ConnectionCounter: Sendable {
    let value = Mutex(0)
}

/// Counts completed TLS handshakes (the event NIOSSL sends down the pipeline).
final class HandshakeCounter: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny
    let count: ConnectionCounter

    init(count: ConnectionCounter) { self.count = count }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { count.value.withLock { $0 += 1 } }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Reads one request at a time and performs the scripted reply.
final class ScriptedHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: NIO calls a handler on its channel's event loop only.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let connection: Int
    private let record: AsyncRecorder<ScriptedHTTPServer.Request>?
    private let reply: @Sendable (ScriptedHTTPServer.Request) -> ScriptedHTTPServer.Reply
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(
        connection: Int, record: AsyncRecorder<ScriptedHTTPServer.Request>?,
        reply: @escaping @Sendable (ScriptedHTTPServer.Request) -> ScriptedHTTPServer.Reply
    ) {
        self.connection = connection
        self.record = record
        self.reply = reply
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.removeAll(keepingCapacity: true)
        case .body(var buffer):
            body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
        case .end:
            guard let head else { return }
            var headers = [String: String]()
            for (name, value) in head.headers { headers[name.lowercased()] = value }
            let request = ScriptedHTTPServer.Request(
                method: head.method.rawValue, uri: head.uri, headers: headers, body: body, connection: connection)
            record?.record(request)
            perform(reply(request), context: context, keepAlive: head.isKeepAlive)
        }
    }

    private func perform(_ reply: ScriptedHTTPServer.Reply, context: ChannelHandlerContext, keepAlive: Bool) {
        switch reply {
        case .status(let code, let extra, let bytes):
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: String(bytes.count))
            for (name, value) in extra { headers.add(name: name, value: value) }
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: code), headers: headers))), promise: nil)
            if !bytes.isEmpty {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
            }
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let channel = context.channel
                done.whenComplete { _ in channel.close(promise: nil) }
            }
        case .hang:
            break
        case .reset:
            let channel = context.channel
            // SO_LINGER with a zero timeout turns close() into a TCP RST.
            if let provider = channel as? any SocketOptionProvider {
                provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
            } else {
                channel.close(promise: nil)
            }
        case .close:
            context.close(promise: nil)
        case .largeBody(let code, let size, let chunked):
            var headers = HTTPHeaders()
            if !chunked { headers.add(name: "Content-Length", value: String(size)) }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: code), headers: headers))), promise: nil)
            let chunk = context.channel.allocator.buffer(repeating: UInt8(ascii: "x"), count: 16 * 1024)
            var sent = 0
            while sent < size {
                var piece = chunk
                piece.moveWriterIndex(to: min(chunk.readableBytes, size - sent))
                sent += piece.readableBytes
                context.write(wrapOutboundOut(.body(.byteBuffer(piece))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case .headersThenHang(let code):
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "1000")
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: code), headers: headers))), promise: nil)
        case .gated(let gate, let next):
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let eventLoop = context.eventLoop
            gate.whenOpen {
                eventLoop.execute {
                    let (handler, context) = loopBound.value
                    handler.perform(next, context: context, keepAlive: keepAlive)
                }
            }
        case .delayed(let delay, let next):
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let (seconds, attoseconds) = delay.components
            let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
            context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(nanoseconds)) {
                let (handler, context) = loopBound.value
                handler.perform(next, context: context, keepAlive: keepAlive)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
