public import NIOCore
import Synchronization

/// A ``ByteStream`` over a connected SwiftNIO TCP channel, made by ``TCPDialer``.
///
/// Reads hand out the buffers NIO read, without copying. Inbound data is queued up to a
/// byte limit; past it the channel stops reading from the socket until the reader catches up,
/// so a slow consumer pushes back on the server through TCP flow control. Each write is one
/// `writeAndFlush` of the caller's buffer and returns once the bytes reached the socket.
///
/// One reader and one writer may run concurrently; ``close()`` from any task makes a
/// pending ``read()`` return `nil` and later writes throw ``TransportError/closed``.
public final class TCPStream: ByteStream {
    private let channel: any Channel
    private let inbound: TCPInboundQueue
    private let loopExecutor: EventLoopTaskExecutor

    /// This side's address, like `127.0.0.1:53211` or `[::1]:53211`.
    public let localAddress: String?
    /// The peer's address, like `127.0.0.1:4222`.
    public let remoteAddress: String?

    init(channel: any Channel, inbound: TCPInboundQueue) {
        self.channel = channel
        self.inbound = inbound
        self.loopExecutor = EventLoopTaskExecutor(channel.eventLoop)
        self.localAddress = channel.localAddress.map(Self.format)
        self.remoteAddress = channel.remoteAddress.map(Self.format)
    }

    /// The next chunk the peer sent, or `nil` once the peer closed the connection or
    /// ``close()`` was called.
    ///
    /// - Throws: ``TransportError/io(_:)`` when the connection failed, or `CancellationError`
    ///   when the calling task is cancelled while waiting.
    public nonisolated(nonsending) func read() async throws -> ByteBuffer? {
        try await inbound.next(channel: channel)
    }

    /// The channel's event loop: on it, reads and writes need no thread hop.
    public var preferredExecutor: (any TaskExecutor)? { loopExecutor }

    /// Writes and flushes `bytes`, returning once they were written to the socket.
    ///
    /// - Throws: ``TransportError/closed`` after ``close()`` or when the peer is gone, or
    ///   ``TransportError/io(_:)``.
    public nonisolated(nonsending) func write(_ bytes: ByteBuffer) async throws {
        if inbound.isClosedLocally { throw TransportError.closed }
        // A continuation rather than NIO's async `writeAndFlush`, so that a caller on the
        // event loop stays there: the write then runs inline and completes without a hop.
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                channel.writeAndFlush(bytes).whenComplete { continuation.resume(with: $0) }
            }
        } catch {
            throw TCPDialer.map(error)
        }
    }

    /// Closes the connection. A pending read returns `nil`. Idempotent.
    public func close() async {
        inbound.closeLocally()
        do {
            try await channel.close()
        } catch {
            // Already closed: nothing left to do.
        }
    }

    deinit {
        channel.close(promise: nil)
    }

    /// Bytes read from the socket and not yet returned by `read()` (for tests).
    var bufferedByteCount: Int {
        inbound.bufferedByteCount
    }

    private static func format(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return address.description }
        return ServerAddress(host: ip, port: port).description
    }
}

/// A channel's event loop as a task executor, so that the tasks reading and writing the
/// channel run on the loop and their continuations resume on it directly.
final class EventLoopTaskExecutor: TaskExecutor {
    private let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        // From the loop itself this only appends to its task queue; from another thread it
        // also wakes the loop.
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// The inbound side shared by the event loop (producer) and the reader task (consumer).
///
/// Unbounded growth is prevented by not forwarding the channel's `read()` while more than
/// `highWatermark` bytes wait; the consumer re-arms reading once the queue drops to
/// `lowWatermark`.
final class TCPInboundQueue: Sendable {
    private enum End: Equatable {
        case eof
        case failed(TransportError)
    }

    private struct State {
        var chunks = CircularBuffer<ByteBuffer>(initialCapacity: 16)
        var bufferedBytes = 0
        var waiter: CheckedContinuation<ByteBuffer?, any Error>?
        var end: End?
        var closedLocally = false
        var readSuppressed = false
    }

    private let state = Mutex(State())
    private let highWatermark: Int
    private let lowWatermark: Int

    init(highWatermark: Int) {
        self.highWatermark = max(highWatermark, 1)
        self.lowWatermark = max(highWatermark / 2, 0)
    }

    var bufferedByteCount: Int {
        state.withLock { $0.bufferedBytes }
    }

    var isClosedLocally: Bool {
        state.withLock { $0.closedLocally }
    }

    // MARK: Consumer

    private enum Outcome {
        case chunk(ByteBuffer, rearm: Bool)
        case end
        case failed(TransportError)
        case cancelled
    }

    /// A queued chunk (re-arming reads once the queue fell to the low watermark), the end of
    /// the stream, or `nil` when the reader has to wait.
    private static func takeReady(_ state: inout State, lowWatermark: Int) -> Outcome? {
        if state.closedLocally { return .end }
        if let chunk = state.chunks.popFirst() {
            state.bufferedBytes -= chunk.readableBytes
            var rearm = false
            if state.readSuppressed && state.bufferedBytes <= lowWatermark {
                state.readSuppressed = false
                rearm = true
            }
            return .chunk(chunk, rearm: rearm)
        }
        switch state.end {
        case .eof: return .end
        case .failed(let error): return .failed(error)
        case nil: return nil
        }
    }

    nonisolated(nonsending) func next(channel: any Channel) async throws -> ByteBuffer? {
        // Fast path: data already queued, no continuation.
        let ready: Outcome? = state.withLock { state in
            Self.takeReady(&state, lowWatermark: lowWatermark)
        }
        switch ready {
        case .chunk(let chunk, let rearm):
            if rearm { channel.read() }
            return chunk
        case .end:
            return nil
        case .failed(let error):
            throw error
        case .cancelled, nil:
            break
        }

        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer?, any Error>) in
                let outcome: Outcome? = state.withLock { state in
                    if let ready = Self.takeReady(&state, lowWatermark: lowWatermark) { return ready }
                    if Task.isCancelled { return .cancelled }
                    state.waiter = continuation
                    return nil
                }
                switch outcome {
                case .chunk(let chunk, let rearm):
                    if rearm { channel.read() }
                    continuation.resume(returning: chunk)
                case .end:
                    continuation.resume(returning: nil)
                case .failed(let error):
                    continuation.resume(throwing: error)
                case .cancelled:
                    continuation.resume(throwing: CancellationError())
                case nil:
                    break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                let waiter = state.waiter
                state.waiter = nil
                return waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    func closeLocally() {
        let waiter = state.withLock { state in
            state.closedLocally = true
            state.chunks.removeAll()
            state.bufferedBytes = 0
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: nil)
    }

    // MARK: Producer (event loop)

    func deliver(_ buffer: ByteBuffer) {
        guard buffer.readableBytes > 0 else { return }
        let waiter: CheckedContinuation<ByteBuffer?, any Error>? = state.withLock { state in
            if state.closedLocally { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.chunks.append(buffer)
            state.bufferedBytes += buffer.readableBytes
            return nil
        }
        waiter?.resume(returning: buffer)
    }

    /// Whether the channel may read more now; records the refusal otherwise.
    func shouldRead() -> Bool {
        state.withLock { state in
            if state.bufferedBytes >= highWatermark {
                state.readSuppressed = true
                return false
            }
            return true
        }
    }

    func finish(_ error: TransportError?) {
        let waiter = state.withLock { state -> CheckedContinuation<ByteBuffer?, any Error>? in
            if state.end == nil {
                state.end = error.map { .failed($0) } ?? .eof
            }
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        if let error {
            waiter?.resume(throwing: error)
        } else {
            waiter?.resume(returning: nil)
        }
    }
}

/// The channel handler feeding a ``TCPInboundQueue``; lives on the channel's event loop.
final class TCPStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let inbound: TCPInboundQueue

    init(inbound: TCPInboundQueue) {
        self.inbound = inbound
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inbound.deliver(unwrapInboundIn(data))
    }

    func read(context: ChannelHandlerContext) {
        if inbound.shouldRead() {
            context.read()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbound.finish(nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        inbound.finish(TCPDialer.map(error))
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            inbound.finish(nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}
