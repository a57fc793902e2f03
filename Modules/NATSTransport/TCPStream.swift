public import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A ``ByteStream`` over a connected TCP socket, made by ``TCPDialer``: SwiftNIO reads it,
/// writes go to the socket directly.
///
/// Reads hand out the buffers NIO read, without copying. Inbound data is queued up to a
/// byte limit; past it the channel stops reading from the socket until the reader catches up,
/// so a slow consumer pushes back on the server through TCP flow control.
///
/// Writes are non-blocking `send(2)` calls on a duplicate of the socket's descriptor, from
/// whatever thread writes: a publisher answering a request sends it itself, without waking
/// the event loop, and the client's writer sends its batch without copying it into a
/// `ByteBuffer`. What the socket does not take at once goes through the NIO channel, which
/// waits for the socket to drain; the write returns once NIO wrote it all, so direct sends
/// never overtake bytes NIO still holds.
///
/// One reader and one writer may run concurrently; ``close()`` from any task makes a
/// pending ``read()`` return `nil` and later writes throw ``TransportError/closed``.
public final class TCPStream: ByteStream {
    private let channel: any Channel
    private let inbound: TCPInboundQueue
    private let socket: DirectSocket
    private let loopExecutor: EventLoopTaskExecutor

    /// This side's address, like `127.0.0.1:53211` or `[::1]:53211`.
    public let localAddress: String?
    /// The peer's address, like `127.0.0.1:4222`.
    public let remoteAddress: String?

    init(channel: any Channel, inbound: TCPInboundQueue, socket: DirectSocket, busyPoll: Duration = .zero) {
        self.channel = channel
        self.inbound = inbound
        self.socket = socket
        self.loopExecutor = EventLoopTaskExecutor(
            channel.eventLoop,
            busyPoll: busyPoll > .zero ? LoopJobQueue.BusyPoll(socket: socket, duration: busyPoll) : nil
        )
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

    /// The channel's event loop.
    public var eventLoop: (any EventLoop)? { channel.eventLoop }

    /// Sends at once what the socket takes (see ``ByteStream/writeImmediately(_:)``).
    public var canWriteImmediately: Bool { true }

    /// Sends what the socket takes now, without waiting: the number of bytes sent, 0 when
    /// the socket buffer is full, `nil` after ``close()`` or when the connection failed.
    public func writeImmediately(_ bytes: UnsafeRawBufferPointer) -> Int? {
        if inbound.isClosedLocally { return nil }
        return socket.send(bytes)
    }

    /// Writes all of `bytes`: sends what the socket takes at once, hands the rest to NIO and
    /// returns once NIO wrote it.
    ///
    /// - Throws: ``TransportError/closed`` after ``close()`` or when the peer is gone, or
    ///   ``TransportError/io(_:)``.
    public nonisolated(nonsending) func write(_ bytes: ByteBuffer) async throws {
        guard let sent = bytes.withUnsafeReadableBytes({ writeImmediately($0) }) else {
            throw inbound.isClosedLocally ? TransportError.closed : socket.failure
        }
        if sent == bytes.readableBytes { return }
        let rest = bytes.getSlice(at: bytes.readerIndex + sent, length: bytes.readableBytes - sent) ?? ByteBuffer()
        socket.beginNIOWrite()
        defer { socket.endNIOWrite() }
        // A continuation rather than NIO's async `writeAndFlush`: the caller's executor. An
        // unsafe one (a checked one allocates a canary): the future completes it once.
        do {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                channel.writeAndFlush(rest).whenComplete { continuation.resume(with: $0) }
            }
        } catch {
            throw TCPDialer.map(error)
        }
    }

    /// Closes the connection. A pending read returns `nil`. Idempotent.
    public func close() async {
        inbound.closeLocally()
        socket.shutdown()
        do {
            try await channel.close()
        } catch {
            // Already closed: nothing left to do.
        }
    }

    deinit {
        socket.shutdown()
        channel.close(promise: nil)
    }

    /// Whether a write waits for NIO to drain what the socket did not take at once (for tests).
    var hasParkedWriter: Bool { socket.hasNIOWrites }

    /// Bytes read from the socket and not yet returned by `read()` (for tests).
    var bufferedByteCount: Int {
        inbound.bufferedByteCount
    }

    private static func format(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return address.description }
        return ServerAddress(host: ip, port: port).description
    }
}

/// The write side of a connected socket: a duplicate of the descriptor NIO reads from.
///
/// The duplicate keeps the socket open after NIO closed its own descriptor, so ``shutdown()``
/// (on close, and when the channel becomes inactive) ends the connection for the peer; the
/// descriptor itself is closed only in `deinit`, when no writer can hold it any more, so its
/// number cannot be reused under a send.
final class DirectSocket: Sendable {
    private let fd: Int32
    private let state = Mutex<(down: Bool, error: Int32, nioWrites: Int)>((false, 0, 0))

    init(fd: Int32) {
        self.fd = fd
    }

    /// Bytes sent, 0 when the socket would block, `nil` when shut down or failed.
    func send(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return state.withLock { $0.down } ? nil : 0 }
        if state.withLock({ $0.down }) { return nil }
        while true {
            #if canImport(Glibc) || canImport(Musl)
            let n = Glibc.send(fd, base, bytes.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            #endif
            if n >= 0 { return n }
            let error = errno
            if error == EINTR { continue }
            if error == EAGAIN || error == EWOULDBLOCK { return 0 }
            state.withLock { if $0.error == 0 { $0.error = error } }
            return nil
        }
    }

    /// Whether a read would not block now: bytes, the peer's end, or an error wait (or the
    /// check itself failed). Does not wait.
    func hasInput() -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) != 0
    }

    /// A write the socket did not take at once went to NIO, which sends it once the socket
    /// drains; ``endNIOWrite()`` when it is done.
    func beginNIOWrite() { state.withLock { $0.nioWrites += 1 } }
    func endNIOWrite() { state.withLock { $0.nioWrites -= 1 } }
    /// Whether NIO holds writes for this socket.
    var hasNIOWrites: Bool { state.withLock { $0.nioWrites > 0 } }

    /// Why the last send failed.
    var failure: TransportError {
        let error = state.withLock { $0.error }
        if error == 0 || error == EPIPE || error == ECONNRESET { return .closed }
        return .io(String(cString: strerror(error)))
    }

    /// Ends the connection both ways (the peer sees it closed). Idempotent.
    func shutdown() {
        let first: Bool = state.withLock { s in
            defer { s.down = true }
            return !s.down
        }
        if first { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
    }

    deinit {
        _ = Glibc.close(fd)
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

    /// With `busyPoll`, the loop checks that socket for a while after each run of jobs before
    /// it sleeps (``TCPDialer/busyPoll``).
    init(_ loop: any EventLoop, busyPoll: LoopJobQueue.BusyPoll? = nil) {
        let queue = LoopJobQueue(busyPoll: busyPoll)
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

    /// A socket to keep checking after the queued jobs ran, and for how long.
    struct BusyPoll: Sendable {
        let socket: DirectSocket
        let duration: Duration
    }

    private let state = Mutex(State())
    private let busyPoll: BusyPoll?

    init(busyPoll: BusyPoll? = nil) {
        self.busyPoll = busyPoll
    }

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
    /// the loop, so that its own I/O is not starved); with busy polling, then keeps the
    /// loop's thread awake for a while.
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
        if let again {
            again.scheduleDrain()
        } else if let busyPoll {
            pollBeforeSleeping(busyPoll)
        }
    }

    /// Returns once the socket has input (NIO's next wait then returns at once, and the
    /// bytes are read without waking the thread), a job was queued (its drain is scheduled
    /// already), or `poll.duration` passed; at once while NIO holds a write for the socket,
    /// which needs NIO to wait for the socket to drain. Work NIO was handed from other
    /// threads meanwhile, and its timers, wait until then.
    private func pollBeforeSleeping(_ poll: BusyPoll) {
        let clock = ContinuousClock()
        let end = clock.now + poll.duration
        repeat {
            if poll.socket.hasInput() || poll.socket.hasNIOWrites { return }
            if state.withLock({ $0.first != nil }) { return }
        } while clock.now < end
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
        /// The parked reader. An unsafe continuation, taken out under the lock and resumed
        /// once: a checked one allocated on every wait (once per chunk read when messages come
        /// one at a time) and made this struct's layout a run-time one (it is not frozen).
        var waiter: UnsafeContinuation<Void, any Error>?
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

    /// The next chunk. A parked reader is only woken: it takes the chunk under the lock
    /// itself, so the bytes the event loop wrote reach it through the lock (an ordering
    /// ThreadSanitizer sees; a chunk handed through the continuation it would not).
    nonisolated(nonsending) func next(channel: any Channel) async throws -> ByteBuffer? {
        while true {
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
            case .cancelled:
                throw CancellationError()
            case nil:
                try await waitForData()
            }
        }
    }

    /// Returns once a chunk, the end or a failure may be queued; throws when cancelled.
    private nonisolated(nonsending) func waitForData() async throws {
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                let park: Bool? = state.withLock { state in
                    if state.closedLocally || !state.chunks.isEmpty || state.end != nil { return false }
                    if Task.isCancelled { return nil }
                    state.waiter = continuation
                    return true
                }
                switch park {
                case false?: continuation.resume()
                case nil: continuation.resume(throwing: CancellationError())
                case true?: break
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
        waiter?.resume()
    }

    // MARK: Producer (event loop)

    func deliver(_ buffer: ByteBuffer) {
        guard buffer.readableBytes > 0 else { return }
        let waiter: UnsafeContinuation<Void, any Error>? = state.withLock { state in
            if state.closedLocally { return nil }
            state.chunks.append(buffer)
            state.bufferedBytes += buffer.readableBytes
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
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
        let waiter = state.withLock { state -> UnsafeContinuation<Void, any Error>? in
            if state.end == nil {
                state.end = error.map { .failed($0) } ?? .eof
            }
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }
}

/// The channel handler feeding a ``TCPInboundQueue``; lives on the channel's event loop.
final class TCPStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let inbound: TCPInboundQueue
    private let socket: DirectSocket

    init(inbound: TCPInboundQueue, socket: DirectSocket) {
        self.inbound = inbound
        self.socket = socket
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
        // NIO closed its descriptor; the duplicate still holds the socket open.
        socket.shutdown()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        inbound.finish(TCPDialer.map(error))
        socket.shutdown()
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            inbound.finish(nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}
