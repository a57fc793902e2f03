import NIOCore
import NIOPosix

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

    /// The bound port.
    public let port: Int
    /// The bound host.
    public let host: String

    private init(channel: any Channel, host: String, port: Int) {
        self.channel = channel
        self.host = host
        self.port = port
    }

    /// Binds `host` on port 0 (a free port) and starts accepting.
    public static func start(_ behavior: Behavior = .echo, host: String = "127.0.0.1") async throws -> LocalTCPServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(LocalServerHandler(behavior: behavior))
                }
            }
            .bind(host: host, port: 0)
            .get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close()
            throw IOError(errnoCode: EADDRNOTAVAIL, reason: "bound server has no port")
        }
        return LocalTCPServer(channel: channel, host: host, port: port)
    }

    /// Stops accepting. Already accepted connections stay open until their peer closes.
    public func stop() async {
        try? await channel.close()
    }
}

private final class LocalServerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let behavior: LocalTCPServer.Behavior

    init(behavior: LocalTCPServer.Behavior) {
        self.behavior = behavior
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
