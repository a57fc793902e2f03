import NIOCore
import NIOPosix
import Synchronization

/// A tiny TCP server on a free loopback port, for transport tests.
///
/// ```swift
/// let server = try await LocalTCPServer.start(.echo)
/// defer { Task { await server.stop() } }
/// let stream = try await TCPDialer().connect(ServerAddress(host: "127.0.0.1", port: server.port), timeout: .seconds(2))
/// ```
public final class LocalTCPServer: Sendable {
    /// What the server does with each accepted connection.
    public enum Behavior: Sendable {
        /// Writes back every byte it reads.
        case echo
        /// Accepts and reads, never writes.
        case silent
        /// Closes the connection right after accepting it.
        case closeImmediately
        /// Sends these bytes on accept, then echoes.
        case greet(String)
        /// Sends `count` bytes on accept (byte `i` is `UInt8(truncatingIfNeeded: i)`), then reads.
        case flood(Int)
    }

    private let channel: any Channel
    private let closed: ClosedCounter

    /// The bound port.
    public let port: Int
    /// The bound host.
    public let host: String

    private init(channel: any Channel, closed: ClosedCounter, host: String, port: Int) {
        self.channel = channel
        self.closed = closed
        self.host = host
        self.port = port
    }

    /// Accepted connections that have ended (the peer closed, or the server closed them).
    public var closedConnections: Int { closed.count.withLock { $0 } }

    /// Waits (at most `timeout`) until `count` accepted connections have ended; returns
    /// whether they did.
    public func waitForClosedConnections(_ count: Int, timeout: Duration = .seconds(5)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while closedConnections < count {
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: .milliseconds(5))
        }
        return true
    }

    /// Binds `host` on port 0 (a free port) and starts accepting.
    public static func start(_ behavior: Behavior = .echo, host: String = "127.0.0.1") async throws -> LocalTCPServer {
        let closed = ClosedCounter()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(LocalServerHandler(behavior: behavior, closed: closed))
                }
            }
            .bind(host: host, port: 0)
            .get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close()
            throw IOError(errnoCode: EADDRNOTAVAIL, reason: "bound server has no port")
        }
        return LocalTCPServer(channel: channel, closed: closed, host: host, port: port)
    }

    /// Stops accepting. Already accepted connections stay open until their peer closes.
    public func stop() async {
        try? await channel.close()
    }
}

private final class ClosedCounter: Sendable {
    let count = Mutex(0)
}

private final class LocalServerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let behavior: LocalTCPServer.Behavior
    private let closed: ClosedCounter

    init(behavior: LocalTCPServer.Behavior, closed: ClosedCounter) {
        self.behavior = behavior
        self.closed = closed
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed.count.withLock { $0 += 1 }
        context.fireChannelInactive()
    }

    func channelActive(context: ChannelHandlerContext) {
        switch behavior {
        case .closeImmediately:
            context.close(promise: nil)
        case .greet(let text):
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text)), promise: nil)
        case .flood(let count):
            // 64 KiB is a multiple of 256, so every full chunk has the same pattern.
            var pattern = context.channel.allocator.buffer(capacity: 64 * 1024)
            for i in 0..<(64 * 1024) {
                pattern.writeInteger(UInt8(truncatingIfNeeded: i))
            }
            var sent = 0
            while sent < count {
                let size = min(64 * 1024, count - sent)
                context.write(wrapOutboundOut(pattern.getSlice(at: 0, length: size) ?? pattern), promise: nil)
                sent += size
            }
            context.flush()
        case .echo, .silent:
            break
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch behavior {
        case .echo, .greet:
            context.write(data, promise: nil)
        case .silent, .closeImmediately, .flood:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
