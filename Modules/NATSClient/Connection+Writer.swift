import NATSTransport
import NATSWire
import NIOCore
import Synchronization

// The writer: one task per transport that sends the outbound bytes, parked between batches
// (woken by urgent operations, or on its own timer while publishers are busy).
extension Connection {
    nonisolated(nonsending) func writerLoop(stream: any ByteStream, generation: UInt64) async {
        defer { writerExited(generation) }
        // What goes through `write`: the batch (or its unsent rest) copied into one reused
        // buffer (publishers encode into an OutboundBuffer with raw pointers).
        var wire = ByteBuffer()
        let immediate = stream.canWriteImmediately
        // The writer's timer: where publishers send their own batches (see `writeDirectly`),
        // a publish that may wait does not wake the writer while the timer runs.
        let tickLoop = immediate ? stream.eventLoop : nil
        // Publishers to resume once the batch is taken (see `spaceWaiters`).
        var spaceWaiters: [UnsafeContinuation<Void, Never>] = []
        // Why the writer looks at the outbound bytes: right after sending a batch, or because
        // its timer fired (else it was woken, or this is its first look).
        var afterSend = false
        var ticked = false
        // `outboundAppended` when it last looked.
        var seen: UInt64 = 0
        while true {
            // An unsafe continuation: its layout is known to the compiler (a checked one is
            // resilient), which keeps value-witness calls off the publish path that wakes it.
            let take: WriterTake = await withUnsafeContinuation { (c: UnsafeContinuation<WriterTake, Never>) in
                enum Take { case batch(OutboundBuffer), stop, wait, tick(UInt64, TimeAmount) }
                let take: Take = state.withLock { s in
                    guard s.phase == .connected || s.phase == .draining else { return .stop }
                    // While a publisher sends on its own, it is the writer; what the socket did
                    // not take from it goes first, to this transport only. After a move to
                    // another server (lame duck) this writer still sends that, then stops.
                    if !s.publisherWriting, let (rest, restGeneration) = s.unsentRest {
                        if restGeneration == generation {
                            s.unsentRest = nil
                            s.restInFlight = true
                            return .batch(rest)
                        }
                        if restGeneration < s.generation && s.generation == generation {
                            // Of a transport that is gone: publishers waiting for it go on.
                            s.unsentRest = nil
                            swap(&s.spaceWaiters, &spaceWaiters)
                        }
                    }
                    guard s.generation == generation else { return .stop }
                    let appended = s.outboundAppended
                    let grew = appended &- seen
                    seen = appended
                    let parkTicking = { (s: inout ConnectionState, delay: TimeAmount) -> Take in
                        let epoch = self.writerTimerEpoch.wrappingAdd(1, ordering: .relaxed).newValue
                        s.writerWaiter = WriterWaiter(generation: generation, tickEpoch: epoch, resume: c)
                        return .tick(epoch, delay)
                    }
                    if !s.outbound.isEmpty && !s.publisherWriting {
                        // Publishes that may wait, appended during the writer's send or since
                        // its timer was armed: they go when the oldest of them has waited
                        // `writerTick`, unless a publisher in a loop sends them itself first
                        // (at the threshold). So one thread sends a fast publisher's batches,
                        // and the writer only what a slower one leaves waiting.
                        if afterSend || ticked, tickLoop != nil, !s.outboundUrgent, !s.publishersMustWait, s.spaceWaiters.isEmpty {
                            let left = Self.writerTick - (Moment.now - s.outboundSince)
                            if left > .zero {
                                return parkTicking(&s, max(TimeAmount(left), Self.writerTickMinimum))
                            }
                        }
                        let batch = s.takeOutbound()
                        s.markPongWaitersSent(generation: generation)
                        // Swapped with the writer's own array: no allocation per batch.
                        swap(&s.spaceWaiters, &spaceWaiters)
                        return .batch(batch)
                    }
                    // Nothing to send (or a publisher is sending): the timer keeps running while
                    // publishers are busy; once they pause, the writer waits to be woken.
                    if tickLoop != nil && (afterSend || grew > 0) { return parkTicking(&s, Self.writerTickAmount) }
                    s.writerWaiter = WriterWaiter(generation: generation, resume: c)
                    return .wait
                }
                for w in spaceWaiters { w.resume() }
                spaceWaiters.removeAll(keepingCapacity: true)
                switch take {
                case .batch(let b): c.resume(returning: .batch(b))
                case .stop: c.resume(returning: .stop)
                case .wait: break
                case .tick(let epoch, let delay):
                    do {
                        if let tickLoop { try WriterTimer(connection: self, epoch: epoch, batches: publisherBatches.load(ordering: .relaxed)).schedule(on: tickLoop, in: delay) }
                    } catch {
                        // The loop is shutting down: wait to be woken, like a writer without a timer.
                        state.withLock { s in
                            if let w = s.writerWaiter, w.tickEpoch == epoch {
                                s.writerWaiter = WriterWaiter(generation: generation, resume: c)
                            }
                        }
                    }
                }
            }
            var batch: OutboundBuffer
            // `consume`: no copy of the batch may outlive this switch, or clearing it after
            // the write would find its storage shared and allocate a new one.
            switch consume take {
            case .batch(let b): batch = b
            case .woken:
                afterSend = false
                ticked = false
                continue
            case .tick:
                afterSend = false
                ticked = true
                continue
            case .stop: return
            }
            // Straight from the batch when the stream takes synchronous sends. When the socket
            // is full, only the next 64 KiB go through `write` (copied into `wire`): once the
            // stream wrote them the socket has room again, and direct sends take the rest.
            // TLS and WebSocket take the whole batch through `write`.
            var sent = 0
            var failed = false
            while sent < batch.count {
                if immediate {
                    while sent < batch.count,
                          let n = batch.withUnsafeReadableBytes({ stream.writeImmediately(UnsafeRawBufferPointer(rebasing: $0[sent...])) }),
                          n > 0 {
                        sent += n
                    }
                    if sent == batch.count { break }
                }
                let length = immediate ? min(batch.count - sent, 64 * 1024) : batch.count - sent
                wire.clear()
                batch.withUnsafeReadableBytes { _ = wire.writeBytes(UnsafeRawBufferPointer(rebasing: $0[sent..<sent + length])) }
                do {
                    try await stream.write(wire)
                } catch {
                    transportLost(generation: generation, error: NATSError(.connection, "write failed: \(error)", underlying: error))
                    failed = true
                    break
                }
                sent += length
            }
            batch.removeAll()
            // After a publisher's rest, the publishers waiting for it go on.
            state.withLock { s in
                if s.spare == nil { s.spare = batch }
                if s.restInFlight {
                    s.restInFlight = false
                    swap(&s.spaceWaiters, &spaceWaiters)
                }
            }
            for w in spaceWaiters { w.resume() }
            spaceWaiters.removeAll(keepingCapacity: true)
            if failed { return }
            afterSend = true
            ticked = false
        }
    }

    /// How long a publish without a reply subject may wait for the writer while publishers
    /// are busy: the writer's timer, which runs while they publish and stops once they pause,
    /// sends publishes once the oldest of them has waited this long. 50 us cost a publisher
    /// in a loop a fifth more CPU than 100 us; nats.c's flusher waits 1 ms.
    static let writerTick = Duration.microseconds(100)
    /// ``writerTick`` for NIO.
    static let writerTickAmount = TimeAmount(writerTick)
    /// The timer's period while a publisher sends its own full batches
    /// (``publisherBatches`` grew since it was armed): the publisher is the writer then, and
    /// the timer is there only for what it leaves when it stops. Each wake-up of the event
    /// loop cost the client and the server's core: at 1 KiB per message, 100 us gave 1117
    /// MB/s for 0.83 s of client CPU per million messages, 500 us and 1 ms 1245 MB/s for
    /// 0.67 s.
    static let writerTickLoaded = TimeAmount.microseconds(500)
    /// The shortest wait the timer is armed for (publishes about to reach ``writerTick``).
    static let writerTickMinimum = TimeAmount.microseconds(5)

    /// Resumes the writer parked with `epoch` when its timer fires, unless a publisher sent
    /// a full batch since the timer was armed (`batches`). While the lock is taken,
    /// a publisher is busy: the timer runs once more instead of waiting for the lock, which a
    /// publisher in a loop takes again at once (waiting for it cost both threads more than
    /// the rest of the timer's work).
    func writerTimerFired(epoch: UInt64, batches: UInt64, loop: any EventLoop) {
        guard writerTimerEpoch.load(ordering: .relaxed) == epoch else { return }
        let latest = publisherBatches.load(ordering: .relaxed)
        if latest != batches {
            do {
                try WriterTimer(connection: self, epoch: epoch, batches: latest).schedule(on: loop, in: Self.writerTickLoaded)
            } catch {
                // The loop is shutting down; the transport goes with it.
            }
            return
        }
        enum Fired { case resume(WriterWaiter), stale, busy }
        let fired: Fired = state.withLockIfAvailable { s in
            guard let w = s.writerWaiter, w.tickEpoch == epoch else { return .stale }
            s.writerWaiter = nil
            return .resume(w)
        } ?? .busy
        switch fired {
        case .resume(let w): w.resume.resume(returning: .tick)
        case .stale: break
        case .busy:
            do {
                try WriterTimer(connection: self, epoch: epoch, batches: latest).schedule(on: loop, in: Self.writerTickAmount)
            } catch {
                // The loop is shutting down; the transport goes with it.
            }
        }
    }

    private func writerExited(_ generation: UInt64) {
        let waiters = state.withLock { s in
            s.exitedWriters.insert(generation)
            return s.writerExitWaiters.removeValue(forKey: generation) ?? []
        }
        waiters.forEach { $0.resume() }
    }

    /// Returns once the writer of `generation` has finished its last write and stopped.
    func waitForWriterExit(_ generation: UInt64) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.exitedWriters.contains(generation) { return true }
                s.writerExitWaiters[generation, default: []].append(c)
                if let w = s.writerWaiter, w.generation == generation {
                    s.writerWaiter = nil
                    w.wake()
                }
                return false
            }
            if done { c.resume() }
        }
    }

    /// Appends protocol bytes and wakes the writer. Returns false when closed.
    @discardableResult
    func enqueueControl(_ body: (inout OutboundBuffer) -> Void) -> Bool {
        let (ok, writer): (Bool, WriterWaiter?) = state.withLock { s in
            guard s.phase != .closed else { return (false, nil) }
            body(&s.outbound)
            return (true, s.takeWriterWaiter())
        }
        writer?.wake()
        return ok
    }
}

/// What the writer's wait ends with.
enum WriterTake: Sendable {
    /// Bytes to write, taken under the lock.
    case batch(OutboundBuffer)
    /// Bytes were appended: take them under the lock.
    case woken
    /// The writer's own timer fired: send what waited, unless a publisher is still filling it.
    case tick
    /// The transport is gone or the connection closed.
    case stop
}

/// A parked writer task, woken when bytes are appended.
struct WriterWaiter: Sendable {
    let generation: UInt64
    /// Non-zero while the writer waits for its own timer (``Connection/writerTick``), which
    /// resumes it unless something else did first: publishes that may wait leave it parked.
    var tickEpoch: UInt64 = 0
    /// Resumed exactly once: by `wake()` after it was taken from the state under the lock, or
    /// by the writer itself when it did not park.
    let resume: UnsafeContinuation<WriterTake, Never>

    /// Wakes the writer, which then takes the bytes under the lock.
    func wake() { resume.resume(returning: .woken) }
}

/// The writer's timer: a value of three words, so that NIO stores it without allocating.
struct WriterTimer: NIOScheduledCallbackHandler, Sendable {
    let connection: Connection
    let epoch: UInt64
    /// ``Connection/publisherBatches`` when it was armed.
    let batches: UInt64

    /// Fires `delay` from now on `loop`; throws when the loop is shutting down.
    func schedule(on loop: any EventLoop, in delay: TimeAmount) throws {
        _ = try loop.scheduleCallback(in: delay, handler: self)
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        connection.writerTimerFired(epoch: epoch, batches: batches, loop: eventLoop)
    }
}
