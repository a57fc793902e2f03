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
    private let writability: TCPWritability
    private let loopExecutor: EventLoopTaskExecutor

    /// This side's address, like `127.0.0.1:53211` or `[::1]:53211`.
    public let localAddress: String?
    /// The peer's address, like `127.0.0.1:4222`.
    public let remoteAddress: String?

    init(channel: any Channel, inbound: TCPInboundQueue, writability: TCPWritability) {
        self.channel = channel
        self.inbound = inbound
        self.writability = writability
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

    /// Writes and flushes `bytes`, returning once the channel took them: on the event loop, as
    /// soon as they are written or queued below the channel's high-water mark (no promise, no
    /// continuation); elsewhere, once they were written to the socket.
    ///
    /// - Throws: ``TransportError/closed`` after ``close()`` or when the peer is gone, or
    ///   ``TransportError/io(_:)``. On the event loop a failed socket write surfaces through
    ///   `read()` (the channel closes) and the next `write`.
    public nonisolated(nonsending) func write(_ bytes: ByteBuffer) async throws {
        if inbound.isClosedLocally { throw TransportError.closed }
        if channel.eventLoop.inEventLoop {
            guard channel.isActive else { throw TransportError.closed }
            channel.writeAndFlush(bytes, promise: nil)
            if channel.isWritable { return }
            // Over the high-water mark: wait until the socket drained to the low one.
            try await writability.waitUntilWritable(channel)
            return
        }
        // A continuation rather than NIO's async `writeAndFlush`: the caller's executor.
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
        writability.finish()
        do {
            try await channel.close()
        } catch {
            // Already closed: nothing left to do.
        }
    }

    deinit {
        channel.close(promise: nil)
    }

    /// Whether a write waits for the channel to become writable (for tests).
    var hasParkedWriter: Bool { writability.hasWaiter }

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
///
/// Jobs wait in a queue of its own, drained by one closure made once: a closure made per
/// job (capturing it) allocates its context on every wake-up of the reader or writer, and so
/// does one handed through a generic result (its reabstraction thunk).
final class EventLoopTaskExecutor: TaskExecutor {
    private let loop: any EventLoop
    private let queue: LoopJobQueue
    /// `queue.runQueued`, made once; it holds the queue, not the executor, so no cycle.
    private let drain: @Sendable () -> Void

    init(_ loop: any EventLoop) {
        let queue = LoopJobQueue()
        self.loop = loop
        self.queue = queue
        self.drain = { queue.runQueued() }
        queue.prepare(owner: self)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        if queue.push(UnownedJob(job)) { scheduleDrain() }
    }

    /// From the loop itself this only appends to its task queue; from another thread it
    /// also wakes the loop.
    fileprivate func scheduleDrain() {
        loop.execute(drain)
    }
}

/// The jobs of one ``EventLoopTaskExecutor``: pushed from any thread, run on the loop.
final class LoopJobQueue: Sendable {
    private struct State {
        /// Most turns have one job (the reader or the writer): it takes no array; `more`
        /// holds the rest, in order.
        var first: UnownedJob?
        var more: [UnownedJob] = []
        /// The emptied `more` of the previous turn, so that steady state allocates nothing.
        var spare: [UnownedJob] = []
        var scheduled = false
        /// Set once, before the first job; weak, as the executor owns this queue.
        weak var owner: EventLoopTaskExecutor?
        var executor: UnownedTaskExecutor?
    }

    private let state = Mutex(State())

    func prepare(owner: EventLoopTaskExecutor) {
        state.withLock { s in
            s.owner = owner
            s.executor = owner.asUnownedTaskExecutor()
        }
    }

    /// Queues `job`; returns whether the caller must schedule a drain (none was pending).
    func push(_ job: UnownedJob) -> Bool {
        state.withLock { s in
            if s.first == nil { s.first = job } else { s.more.append(job) }
            if s.scheduled { return false }
            s.scheduled = true
            return true
        }
    }

    /// Runs the jobs queued so far, on the loop (those queued meanwhile get another turn of
    /// the loop, so that its own I/O is not starved).
    func runQueued() {
        var (first, more, executor): (UnownedJob?, [UnownedJob], UnownedTaskExecutor?) = state.withLock { s in
            defer {
                s.first = nil
                s.more = s.spare
                s.spare = []
            }
            return (s.first, s.more, s.executor)
        }
        guard let executor else { return }
        first?.runSynchronously(on: executor)
        first = nil
        for i in more.indices { more[i].runSynchronously(on: executor) }
        more.removeAll(keepingCapacity: true)
        let again: EventLoopTaskExecutor? = state.withLock { s in
            s.spare = more
            if s.first == nil {
                s.scheduled = false
                return nil
            }
            return s.owner
        }
        again?.scheduleDrain()
    }
}

/// Parks a writer on the event loop while the channel is over its write high-water mark.
final class TCPWritability: Sendable {
    private struct State {
        var waiter: CheckedContinuation<Void, any Error>?
        var finished = false
    }

    private let state = Mutex(State())

    /// Returns once `channel` is writable again; throws ``TransportError/closed`` when it
    /// closes first.
    nonisolated(nonsending) func waitUntilWritable(_ channel: any Channel) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let ready: Result<Void, TransportError>? = state.withLock { s in
                if s.finished || !channel.isActive { return .failure(.closed) }
                if channel.isWritable { return .success(()) }
                s.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    var hasWaiter: Bool { state.withLock { $0.waiter != nil } }

    /// The channel became writable (on the event loop).
    func writable() {
        state.withLock { s -> CheckedContinuation<Void, any Error>? in
            defer { s.waiter = nil }
            return s.waiter
        }?.resume()
    }

    /// The channel closed: a parked writer fails.
    func finish() {
        state.withLock { s -> CheckedContinuation<Void, any Error>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }?.resume(throwing: TransportError.closed)
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
    private let writability: TCPWritability

    init(inbound: TCPInboundQueue, writability: TCPWritability) {
        self.inbound = inbound
        self.writability = writability
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { writability.writable() }
        context.fireChannelWritabilityChanged()
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
        writability.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        inbound.finish(TCPDialer.map(error))
        writability.finish()
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            inbound.finish(nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}
