import NIOCore
import Synchronization

/// The bounded buffer between the reader task and one subscription's consumer.
final class SubscriptionQueue: Sendable {

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
    var pendingCount: Int { state.withLock { $0.items.count - $0.head } }

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
    /// with storage to reuse.
    func enqueue(contentsOf messages: inout [NATSMessage], bytes: Int) -> (firstDrop: Bool, wakeup: Wakeup?) {
        guard !messages.isEmpty else { return (false, nil) }
        return state.withLock { s in
            defer { messages.removeAll(keepingCapacity: true) }
            if s.finished { return (false, nil) }
            var wakeup: Wakeup?
            var start = 0
            var bytes = bytes
            if let waiter = s.waiter {
                s.waiter = nil
                s.slow = false
                wakeup = Wakeup(continuation: waiter, message: messages[0])
                bytes -= messages[0].payloadSize
                start = 1
            }
            if s.head == s.items.count {
                s.items.removeAll(keepingCapacity: true)
                s.head = 0
            }
            let rest = messages.count - start
            if rest == 0 { return (false, wakeup) }
            // All of them fit: the common case, one append (or a swap of the arrays).
            if s.items.count - s.head + rest <= maxMessages && s.bytes + bytes <= maxBytes {
                s.slow = false
                s.bytes += bytes
                if start == 0 && s.items.isEmpty {
                    swap(&s.items, &messages)
                } else {
                    s.items.append(contentsOf: messages[start...])
                }
                return (false, wakeup)
            }
            var firstDrop = false
            for i in start..<messages.count {
                let size = messages[i].payloadSize
                if s.items.count - s.head >= maxMessages || s.bytes + size > maxBytes {
                    s.dropped += 1
                    if !s.slow {
                        s.slow = true
                        firstDrop = true
                    }
                    continue
                }
                s.slow = false
                s.items.append(messages[i])
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
