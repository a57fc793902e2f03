public import NIOCore

/// One connected, ordered, reliable byte pipe.
///
/// TCP implements it over SwiftNIO; `TLSStream` (NATSTLS) and `WebSocketStream`
/// (NATSWebSocket) wrap another `ByteStream` and are byte streams themselves, so
/// transports compose: `wss://` is WebSocket over TLS over TCP.
///
/// A stream supports one reader and one writer at a time; `read()` and `write(_:)` may be
/// called concurrently with each other. `close()` may be called from anywhere, at any time,
/// and makes pending and later calls finish.
public protocol ByteStream: Sendable {
    /// The next chunk of bytes from the peer, or `nil` at an orderly end of stream.
    ///
    /// Runs on the caller's executor (`nonisolated(nonsending)`), so a task that prefers the
    /// stream's ``preferredExecutor`` reads without a thread hop.
    nonisolated(nonsending) func read() async throws -> ByteBuffer?
    /// Writes all of `bytes`, returning when they were handed to the layer below.
    nonisolated(nonsending) func write(_ bytes: ByteBuffer) async throws
    /// Closes the stream. Idempotent.
    func close() async
    /// The task executor on which reading and writing cost the fewest thread hops (for TCP,
    /// the channel's event loop), or `nil` when any executor serves equally well.
    ///
    /// A task executor rather than an actor's serial executor: a continuation resumed for a
    /// task that prefers it is enqueued on it directly, while one resumed for an actor goes
    /// through the global executor first and then hops to the actor (two thread wake-ups).
    var preferredExecutor: (any TaskExecutor)? { get }
    /// Whether ``writeImmediately(_:)`` can send bytes as they are (TCP: yes; TLS and
    /// WebSocket transform them first: no).
    var canWriteImmediately: Bool { get }
    /// Sends what the stream takes now, from any thread, without waiting: the number of
    /// bytes taken (0 when it would have to wait), or `nil` when it cannot (closed, failed,
    /// or ``canWriteImmediately`` is false). The caller must not run it concurrently with
    /// ``write(_:)``: both are the one writer.
    func writeImmediately(_ bytes: UnsafeRawBufferPointer) -> Int?
    /// The event loop behind ``preferredExecutor``, for timers of the task that writes (TCP:
    /// the channel's loop), or `nil` when there is none.
    var eventLoop: (any EventLoop)? { get }
}

extension ByteStream {
    /// No preference.
    public var preferredExecutor: (any TaskExecutor)? { nil }
    /// No synchronous path.
    public var canWriteImmediately: Bool { false }
    /// No synchronous path.
    public func writeImmediately(_ bytes: UnsafeRawBufferPointer) -> Int? { nil }
    /// No event loop.
    public var eventLoop: (any EventLoop)? { nil }
}

/// Where to connect: a host (name, IPv4 or IPv6 literal) and a port.
public struct ServerAddress: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP literal, without brackets.
    public var host: String
    /// TCP port.
    public var port: Int

    /// Creates an address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with an IPv6 host in brackets: `[::1]:4222`.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// Opens connected byte streams. The default dials TCP with SwiftNIO; users may inject
/// their own (proxies, Unix sockets, tests).
public protocol Dialer: Sendable {
    /// Connects to `address`, failing after `timeout`.
    func dial(_ address: ServerAddress, timeout: Duration) async throws -> any ByteStream
}
