import NIOCore
import Synchronization

/// The bounded buffer between the reader task and one subscription's consumer.
final class SubscriptionQueue: Sendable {

    struct State: ~Copyable {
        /// Moved in from the reader's chunk and out to the consumer: no reference counting
        /// per message on the way.
        var items = MessageRing()
        var bytes = 0
        /// The parked consumer. An unsafe continuation: its layout is known to the compiler (a
        /// checked one is resilient), which keeps value-witness calls off the delivery path.
        /// It is taken out under the lock before it is resumed, so it is resumed once.
        var waiter: UnsafeContinuation<NATSMessage?, any Error>?
        var finished = false
        var failure: NATSError?
        var slow = false
        var dropped: UInt64 = 0
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    /// The subject subscribed to (for events).
    let subject: String
    let maxMessages: Int
    let maxBytes: Int

    init(subject: String, maxMessages: Int, maxBytes: Int) {
        self.subject = subject
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
    }

    var droppedCount: UInt64 { state.withLock { $0.dropped } }
    var pendingCount: Int { state.withLock { $0.items.count } }

    /// A parked consumer to resume with its message, after the reader finished its chunk.
    struct Wakeup: Sendable {
        let continuation: UnsafeContinuation<NATSMessage?, any Error>
        let message: NATSMessage
        func resume() { continuation.resume(returning: message) }
    }

    /// Queues `messages` (their payloads `bytes` in all) in order, the first handed to a
    /// parked consumer through the returned wakeup, which the caller resumes once it has
    /// queued the rest of its chunk (one wake per chunk). A message over the pending limits
    /// is dropped; `true` when that started a slow-consumer episode. Leaves `messages` empty,
    /// with storage to reuse (its own, or the empty queue's it was swapped with).
    func enqueue(contentsOf messages: inout MessageRing, bytes: Int) -> (firstDrop: Bool, wakeup: Wakeup?) {
        guard !messages.isEmpty else { return (false, nil) }
        return state.withLock { s in
            if s.finished {
                messages.removeAll(keepingCapacity: true)
                return (false, nil)
            }
            var wakeup: Wakeup?
            var bytes = bytes
            if let waiter = s.waiter, let first = messages.popFirst() {
                s.waiter = nil
                s.slow = false
                bytes -= first.payloadSize
                wakeup = Wakeup(continuation: waiter, message: first)
            }
            if messages.isEmpty { return (false, wakeup) }
            // All of them fit: the common case, moved over in one go; into an empty queue by
            // swapping storage when the queue's (which the consumer handed back) is as large,
            // so that the reader does not grow its own again.
            if s.items.count + messages.count <= maxMessages && s.bytes + bytes <= maxBytes {
                s.slow = false
                s.bytes += bytes
                if s.items.isEmpty && s.items.capacity >= messages.capacity {
                    swap(&s.items, &messages)
                } else {
                    s.items.append(movingFrom: &messages)
                }
                return (false, wakeup)
            }
            var firstDrop = false
            while let message = messages.popFirst() {
                let size = message.payloadSize
                if s.items.count >= maxMessages || s.bytes + size > maxBytes {
                    s.dropped += 1
                    if !s.slow {
                        s.slow = true
                        firstDrop = true
                    }
                    continue
                }
                s.slow = false
                s.items.append(message)
                s.bytes += size
            }
            return (firstDrop, wakeup)
        }
    }

    /// Ends the sequence after what is buffered (or at once with `error`).
    func finish(error: NATSError? = nil) {
        let (waiter, drainWaiters) = state.withLock { s -> (UnsafeContinuation<NATSMessage?, any Error>?, [CheckedContinuation<Void, Never>]) in
            if s.finished { return (nil, []) }
            s.finished = true
            s.failure = error
            let w = s.waiter
            s.waiter = nil
            var d: [CheckedContinuation<Void, Never>] = []
            if s.items.isEmpty {
                d = s.drainWaiters
                s.drainWaiters = []
            }
            return (w, d)
        }
        if let waiter {
            if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
        }
        drainWaiters.forEach { $0.resume() }
    }

    /// Returns once the queue is finished and everything buffered was consumed.
    func waitUntilDrained() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.finished && s.items.isEmpty { return true }
                s.drainWaiters.append(c)
                return false
            }
            if done { c.resume() }
        }
    }

    /// Moves every queued message to `batch` (which must be empty) under one lock, by
    /// swapping the two (the queue keeps the batch's storage); returns whether there were any.
    /// The consumer then iterates its batch without locking.
    func takeAll(into batch: inout MessageRing) -> Bool {
        // Storage grown by a backlog is let go rather than kept per consumer.
        batch.shrinkIfEmpty(to: Self.keptCapacity)
        let drained: [CheckedContinuation<Void, Never>]? = state.withLock { s in
            guard !s.items.isEmpty else { return nil }
            swap(&s.items, &batch)
            s.bytes = 0
            guard s.finished else { return [] }
            let d = s.drainWaiters
            s.drainWaiters = []
            return d
        }
        guard let drained else { return false }
        drained.forEach { $0.resume() }
        return true
    }

    /// The next message, waiting on the caller's actor (`isolation`) when none is queued.
    func next(isolation: isolated (any Actor)? = #isolation) async throws -> NATSMessage? {
        // Fast path: a queued message needs no continuation (no allocation, no suspension).
        let fast: (NATSMessage, [CheckedContinuation<Void, Never>])? = state.withLock { $0.popFirst() }
        if let (message, drained) = fast {
            drained.forEach { $0.resume() }
            return message
        }
        return try await nextSlow(isolation: isolation)
    }

    private func nextSlow(isolation: isolated (any Actor)?) async throws -> NATSMessage? {
        try await withTaskCancellationHandler {
            // Capturing `isolation` keeps this closure on the caller's actor; a plain closure
            // here would run on the global executor, a hop there and back per wait.
            _ = isolation
            return try await withUnsafeThrowingContinuation { (c: UnsafeContinuation<NATSMessage?, any Error>) in
                enum Outcome { case message(NATSMessage, [CheckedContinuation<Void, Never>]), end([CheckedContinuation<Void, Never>]), failure(NATSError), cancelled, wait }
                let outcome: Outcome = state.withLock { s in
                    if let (m, drained) = s.popFirst() { return .message(m, drained) }
                    if s.finished {
                        let d = s.drainWaiters
                        s.drainWaiters = []
                        if let f = s.failure { s.failure = nil; return .failure(f) }
                        return .end(d)
                    }
                    if Task.isCancelled { return .cancelled }
                    s.waiter = c
                    return .wait
                }
                switch outcome {
                case .message(let m, let d):
                    c.resume(returning: m)
                    d.forEach { $0.resume() }
                case .end(let d):
                    c.resume(returning: nil)
                    d.forEach { $0.resume() }
                case .failure(let e): c.resume(throwing: e)
                case .cancelled: c.resume(returning: nil)
                case .wait: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { s in
                let w = s.waiter
                s.waiter = nil
                return w
            }
            waiter?.resume(returning: nil)
        }
    }
}

extension SubscriptionQueue {
    /// The most messages whose storage a queue, a consumer's batch or a reader keeps once
    /// emptied (a power of two): a backlog's is let go.
    static var keptCapacity: Int { 4096 }
}

extension SubscriptionQueue.State {
    /// The oldest queued message, and the drain waiters to wake if that emptied a finished queue.
    mutating func popFirst() -> (NATSMessage, [CheckedContinuation<Void, Never>])? {
        guard let m = items.popFirst() else { return nil }
        bytes -= m.payloadSize
        var drained: [CheckedContinuation<Void, Never>] = []
        if items.isEmpty {
            items.shrinkIfEmpty(to: SubscriptionQueue.keptCapacity)
            if finished {
                drained = drainWaiters
                drainWaiters = []
            }
        }
        return (m, drained)
    }
}
