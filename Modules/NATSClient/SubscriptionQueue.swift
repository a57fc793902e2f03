import NIOCore
import Synchronization

/// The bounded buffer between the reader task and one subscription's consumer.
final class SubscriptionQueue: Sendable {
    enum EnqueueResult { case delivered, droppedFirstOfEpisode, dropped }

    struct State {
        var items: [NATSMessage] = []
        var head = 0
        var bytes = 0
        /// The parked consumer. An unsafe continuation: its layout is known to the compiler (a
        /// checked one is resilient), which keeps value-witness calls off the delivery path.
        /// It is taken out under the lock before it is resumed, so it is resumed once.
        var waiter: UnsafeContinuation<NATSMessage?, any Error>?
        var finished = false
        var failure: NATSError?
        var slow = false
        var dropped: UInt64 = 0
        /// Messages routed to this subscription, dropped ones included.
        var routed: UInt64 = 0
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
    var routedCount: UInt64 { state.withLock { $0.routed } }
    var pendingCount: Int { state.withLock { $0.items.count - $0.head } }

    /// A parked consumer to resume with its message, after the reader finished its chunk.
    struct Wakeup: Sendable {
        let continuation: UnsafeContinuation<NATSMessage?, any Error>
        let message: NATSMessage
        func resume() { continuation.resume(returning: message) }
    }

    /// Queues `message`, or hands it to a parked consumer through the returned wakeup, which
    /// the caller resumes once it has queued the rest of its chunk (one wake per chunk).
    func enqueue(_ message: consuming NATSMessage) -> (EnqueueResult, Wakeup?) {
        let size = message.payloadSize
        // Moved into the queue or the wakeup, not copied: a copy costs a retain of the read
        // buffer's storage, whose count the consumer's thread changes at the same time.
        var incoming: NATSMessage? = consume message
        return state.withLock { s in
            if s.finished { return (.dropped, nil) }
            s.routed += 1
            if let waiter = s.waiter, let message = incoming.take() {
                s.waiter = nil
                s.slow = false
                return (.delivered, Wakeup(continuation: waiter, message: message))
            }
            let pending = s.items.count - s.head
            if pending >= maxMessages || s.bytes + size > maxBytes {
                s.dropped += 1
                if s.slow { return (.dropped, nil) }
                s.slow = true
                return (.droppedFirstOfEpisode, nil)
            }
            s.slow = false
            if let message = incoming.take() { s.items.append(message) }
            s.bytes += size
            return (.delivered, nil)
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
            if s.items.count == s.head {
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
                if s.finished && s.items.count == s.head { return true }
                s.drainWaiters.append(c)
                return false
            }
            if done { c.resume() }
        }
    }

    /// Moves every queued message to `batch` (which must be empty) under one lock; returns
    /// whether there were any. The consumer then iterates its batch without locking.
    func takeAll(into batch: inout [NATSMessage]) -> Bool {
        let drained: [CheckedContinuation<Void, Never>]? = state.withLock { s in
            guard s.head < s.items.count else { return nil }
            if s.head == 0 {
                swap(&s.items, &batch)
            } else {
                batch.append(contentsOf: s.items[s.head...])
                s.items.removeAll(keepingCapacity: true)
            }
            s.head = 0
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

extension SubscriptionQueue.State {
    /// The oldest queued message, and the drain waiters to wake if that emptied a finished queue.
    mutating func popFirst() -> (NATSMessage, [CheckedContinuation<Void, Never>])? {
        guard head < items.count else { return nil }
        let m = items[head]
        head += 1
        bytes -= m.payloadSize
        var drained: [CheckedContinuation<Void, Never>] = []
        if head == items.count {
            items.removeAll(keepingCapacity: items.count < 4096)
            head = 0
            if finished {
                drained = drainWaiters
                drainWaiters = []
            }
        }
        return (m, drained)
    }
}
