public import NIOCore
public import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Dials TCP connections and returns them as ``TCPStream``s: SwiftNIO reads the socket,
/// writes go to it directly (see ``TCPStream``).
///
/// Accepts host names, IPv4 and IPv6 literals. A host name's addresses are tried in the
/// resolver's order, one after the other, within the one timeout; resolving and waiting for
/// the connection run on NIO's blocking-I/O thread pool, never on a cooperative thread. Sets
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
    /// How long a connection's event loop keeps checking the socket once it ran out of work,
    /// before its thread sleeps; `.zero` (the default) sleeps at once. See
    /// ``init(eventLoopGroup:receiveBufferLimit:busyPoll:)``.
    public var busyPoll: Duration {
        get { polling }
        set { polling = Self.clamp(newValue) }
    }
    private var polling: Duration

    /// The longest ``busyPoll`` used: past a millisecond, a wake-up costs little next to the
    /// wait, and the loop's other work would wait too long.
    public static let maximumBusyPoll: Duration = .milliseconds(1)

    /// Creates a dialer.
    ///
    /// - Parameters:
    ///   - eventLoopGroup: Defaults to the process-wide `MultiThreadedEventLoopGroup.singleton`.
    ///   - receiveBufferLimit: Bytes read ahead of the consumer before reading pauses; 1 MiB by default.
    ///   - busyPoll: Trades CPU for reply latency. After the connection's tasks on its event
    ///     loop (``TCPStream/preferredExecutor``) ran out of work, the loop's thread keeps
    ///     checking the socket for this long before it sleeps, and stops as soon as bytes
    ///     arrive or one of those tasks has work; a reply then needs no thread wake-up, which
    ///     on a virtual machine costs tens of microseconds. For a task that sends requests one
    ///     after another on a machine with a core to spare, 100-200 µs covers a round trip on
    ///     the same host. The costs: the loop's thread stays busy while the connection has
    ///     traffic, and everything else on that event loop waits up to this long after each
    ///     run of the connection's tasks: other channels (a responder in the same process on
    ///     the same loop answers only after the poll, so give it an event loop group of its
    ///     own), work handed to the loop from other threads, and timers, such as the client's
    ///     batching timer for messages without a reply subject. Negative values mean `.zero`;
    ///     at most ``maximumBusyPoll`` is used. `.zero` by default.
    public init(
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        receiveBufferLimit: Int = 1 << 20,
        busyPoll: Duration = .zero
    ) {
        self.eventLoopGroup = eventLoopGroup
        self.receiveBufferLimit = receiveBufferLimit
        self.polling = Self.clamp(busyPoll)
    }

    private static func clamp(_ duration: Duration) -> Duration {
        min(max(duration, .zero), maximumBusyPoll)
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
        let deadline = ContinuousClock.now + timeout
        let candidates: [SocketAddress]
        if let literal = try? SocketAddress(ipAddress: address.host, port: address.port) {
            candidates = [literal]
        } else {
            candidates = try await Self.resolve(address.host, port: address.port)
        }
        // The addresses in the resolver's order, one after the other, within the one timeout.
        var failure = TransportError.hostNotFound(address.host)
        for candidate in candidates {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { throw TransportError.timeout }
            let fd: Int32
            do {
                fd = try await Self.connectSocket(to: candidate, timeout: remaining)
            } catch let error as TransportError {
                if error == .timeout { throw error }
                if failure != .connectionRefused { failure = error }
                continue
            }
            return try await adopt(fd)
        }
        throw failure
    }

    /// Hands a connected socket to NIO for reading and keeps a duplicate for writing.
    private func adopt(_ fd: Int32) async throws -> TCPStream {
        let writeFD = dup(fd)
        guard writeFD >= 0 else {
            let error = TransportError.io("dup failed: \(String(cString: strerror(errno)))")
            _ = Glibc.close(fd)
            throw error
        }
        let socket = DirectSocket(fd: writeFD)
        let inbound = TCPInboundQueue(highWatermark: receiveBufferLimit)
        let bootstrap = ClientBootstrap(group: eventLoopGroup)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(TCPStreamHandler(inbound: inbound, socket: socket))
                }
            }
        do {
            let channel = try await bootstrap.withConnectedSocket(fd).get()
            return TCPStream(channel: channel, inbound: inbound, socket: socket, busyPoll: busyPoll)
        } catch {
            // NIO owns `fd` once it took it; the duplicate closes with `socket`.
            socket.shutdown()
            throw Self.map(error)
        }
    }

    /// Every address `host` resolves to (getaddrinfo, on NIO's blocking-I/O thread pool).
    static func resolve(_ host: String, port: Int) async throws -> [SocketAddress] {
        let addresses: [SocketAddress]
        do {
            addresses = try await NIOThreadPool.singleton.runIfActive {
                var hints = addrinfo()
                hints.ai_family = AF_UNSPEC
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                hints.ai_protocol = Int32(IPPROTO_TCP)
                var list: UnsafeMutablePointer<addrinfo>?
                guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return [] }
                defer { freeaddrinfo(first) }
                var found: [SocketAddress] = []
                var next: UnsafeMutablePointer<addrinfo>? = first
                while let info = next {
                    if let address = info.pointee.ai_addr {
                        switch info.pointee.ai_family {
                        case AF_INET:
                            found.append(address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                        case AF_INET6:
                            found.append(address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                        default:
                            break
                        }
                    }
                    next = info.pointee.ai_next
                }
                return found
            }
        } catch {
            throw TransportError.io("name resolution could not run: \(error)")
        }
        guard !addresses.isEmpty else { throw TransportError.hostNotFound(host) }
        return addresses
    }

    /// A non-blocking socket connected to `address` within `timeout` (the wait runs on NIO's
    /// blocking-I/O thread pool, never on a cooperative thread).
    static func connectSocket(to address: SocketAddress, timeout: Duration) async throws -> Int32 {
        let milliseconds = Int32(clamping: max(1, timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        let result: Result<Int32, TransportError>
        do {
            result = try await NIOThreadPool.singleton.runIfActive { Self.connectBlocking(address, milliseconds: milliseconds) }
        } catch {
            throw TransportError.io("connecting could not run: \(error)")
        }
        return try result.get()
    }

    private static func connectBlocking(_ address: SocketAddress, milliseconds: Int32) -> Result<Int32, TransportError> {
        let fd = Glibc.socket(address.protocol.rawValue, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(.io("socket failed: \(String(cString: strerror(errno)))")) }
        func fail(_ error: TransportError) -> Result<Int32, TransportError> {
            _ = Glibc.close(fd)
            return .failure(error)
        }
        let started = address.withSockAddr { pointer, length in Glibc.connect(fd, pointer, socklen_t(length)) }
        if started != 0 {
            guard errno == EINPROGRESS else { return fail(socketError(errno)) }
            var poll = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var ready: Int32
            repeat { ready = Glibc.poll(&poll, 1, milliseconds) } while ready < 0 && errno == EINTR
            if ready == 0 { return fail(.timeout) }
            if ready < 0 { return fail(socketError(errno)) }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return fail(socketError(errno)) }
            if error != 0 { return fail(socketError(error)) }
        }
        return .success(fd)
    }

    private static func socketError(_ code: Int32) -> TransportError {
        switch code {
        case ECONNREFUSED: return .connectionRefused
        case ETIMEDOUT: return .timeout
        case ECONNRESET, EPIPE: return .closed
        default: return .io(String(cString: strerror(code)))
        }
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
    /// The settings and the group's type only: reflecting the group itself (`dump(options)`)
    /// would walk into its event loops' live channels and sockets, whose state belongs to
    /// the loop threads (ThreadSanitizer reported the race).
    public var customMirror: Mirror {
        Mirror(self, children: [
            "eventLoopGroup": "\(type(of: eventLoopGroup))",
            "receiveBufferLimit": receiveBufferLimit,
            "busyPoll": busyPoll,
        ], displayStyle: .struct)
    }
}
