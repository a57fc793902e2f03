public import NIOCore
public import NIOPosix

/// Dials TCP connections with SwiftNIO and returns them as ``TCPStream``s.
///
/// Accepts host names (resolved with happy eyeballs), IPv4 and IPv6 literals. Sets
/// `TCP_NODELAY`, since NATS writes small, latency-sensitive frames.
///
/// ```swift
/// let stream = try await TCPDialer().dial(ServerAddress(host: "127.0.0.1", port: 4222), timeout: .seconds(2))
/// ```
public struct TCPDialer: Dialer {
    /// The event loops the connections run on.
    public var eventLoopGroup: any EventLoopGroup
    /// Inbound bytes queued before the stream stops reading from the socket (backpressure).
    public var receiveBufferLimit: Int

    /// Creates a dialer.
    ///
    /// - Parameters:
    ///   - eventLoopGroup: Defaults to the process-wide `MultiThreadedEventLoopGroup.singleton`.
    ///   - receiveBufferLimit: Bytes read ahead of the consumer before reading pauses; 1 MiB by default.
    public init(
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        receiveBufferLimit: Int = 1 << 20
    ) {
        self.eventLoopGroup = eventLoopGroup
        self.receiveBufferLimit = receiveBufferLimit
    }

    /// Connects to `address`.
    ///
    /// - Throws: ``TransportError/connectionRefused``, ``TransportError/timeout``,
    ///   ``TransportError/hostNotFound(_:)`` or ``TransportError/io(_:)``.
    public func dial(_ address: ServerAddress, timeout: Duration) async throws -> any ByteStream {
        try await connect(address, timeout: timeout)
    }

    /// Connects to `address`, returning the concrete ``TCPStream``.
    ///
    /// - Throws: ``TransportError/connectionRefused``, ``TransportError/timeout``,
    ///   ``TransportError/hostNotFound(_:)`` or ``TransportError/io(_:)``.
    public func connect(_ address: ServerAddress, timeout: Duration) async throws -> TCPStream {
        guard (0...65535).contains(address.port) else {
            throw TransportError.io("invalid port \(address.port)")
        }
        let inbound = TCPInboundQueue(highWatermark: receiveBufferLimit)
        let writability = TCPWritability()
        let nanoseconds = max(timeout.components.seconds, 0).multipliedReportingOverflow(by: 1_000_000_000)
        let timeAmount = TimeAmount.nanoseconds(
            nanoseconds.overflow ? .max : nanoseconds.partialValue + timeout.components.attoseconds / 1_000_000_000
        )
        let bootstrap = ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(timeAmount)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TCPStreamHandler(inbound: inbound, writability: writability))
                }
            }
        let channel: any Channel
        do {
            if let literal = try? SocketAddress(ipAddress: address.host, port: address.port) {
                channel = try await bootstrap.connect(to: literal).get()
            } else {
                channel = try await bootstrap.connect(host: address.host, port: address.port).get()
            }
        } catch {
            throw Self.map(error)
        }
        return TCPStream(channel: channel, inbound: inbound, writability: writability)
    }

    /// Maps NIO and socket errors to ``TransportError``.
    static func map(_ error: any Error) -> TransportError {
        switch error {
        case let error as TransportError:
            return error
        case let error as ChannelError:
            switch error {
            case .connectTimeout:
                return .timeout
            case .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed, .eof:
                return .closed
            default:
                return .io(String(describing: error))
            }
        case let error as IOError:
            switch error.errnoCode {
            case ECONNREFUSED: return .connectionRefused
            case ETIMEDOUT: return .timeout
            case ECONNRESET, EPIPE: return .closed
            default: return .io(String(describing: error))
            }
        case let error as NIOConnectionError:
            if error.connectionErrors.isEmpty {
                return .hostNotFound(error.host)
            }
            let mapped = error.connectionErrors.map { map($0.error) }
            if mapped.contains(.connectionRefused) { return .connectionRefused }
            if mapped.contains(.timeout) { return .timeout }
            return mapped.first ?? .io(String(describing: error))
        default:
            return .io(String(describing: error))
        }
    }
}

extension TCPDialer: CustomReflectable {
    /// The limit and the group's type only: reflecting the group itself (`dump(options)`)
    /// would walk into its event loops' live channels and sockets, whose state belongs to
    /// the loop threads (ThreadSanitizer reported the race).
    public var customMirror: Mirror {
        Mirror(self, children: [
            "eventLoopGroup": "\(type(of: eventLoopGroup))",
            "receiveBufferLimit": receiveBufferLimit,
        ], displayStyle: .struct)
    }
}
