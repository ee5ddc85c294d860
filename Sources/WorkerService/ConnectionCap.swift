import NIOCore
import Synchronization

/// Caps the API's open connections (SPEC section 4 under slow clients): beyond `limit`, a new
/// connection is closed at once instead of queueing, so a flood of idle sockets cannot use up
/// the process's descriptors (which the store and the webhook sender need too).
final class ConnectionCap: Sendable {
    let limit: Int
    private let open = Mutex(0)

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Open connections now.
    var count: Int { open.withLock { $0 } }

    /// A handler for one connection's pipeline.
    func handler() -> Handler { Handler(cap: self) }

    fileprivate func admit() -> Bool {
        open.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    fileprivate func release() {
        open.withLock { $0 -= 1 }
    }

    /// Counts its connection in when it becomes active and out when it closes.
    final class Handler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny
        private let cap: ConnectionCap
        private var admitted = false

        fileprivate init(cap: ConnectionCap) {
            self.cap = cap
        }

        func handlerAdded(context: ChannelHandlerContext) {
            if context.channel.isActive { admitOrClose(context: context) }
        }

        func channelActive(context: ChannelHandlerContext) {
            if !admitted { admitOrClose(context: context) }
            context.fireChannelActive()
        }

        func channelInactive(context: ChannelHandlerContext) {
            if admitted {
                admitted = false
                cap.release()
            }
            context.fireChannelInactive()
        }

        private func admitOrClose(context: ChannelHandlerContext) {
            if cap.admit() {
                admitted = true
            } else {
                context.close(promise: nil)
            }
        }
    }
}
