import NIOCore
import Synchronization

/// The bounded buffer between the reader task and one subscription's consumer.
final class SubscriptionQueue: Sendable {
    enum EnqueueResult { case delivered, droppedFirstOfEpisode, dropped }

    private struct State {
        var items: [NATSMessage] = []
        var head = 0
        var bytes = 0
        var waiter: CheckedContinuation<NATSMessage?, any Error>?
        var finished = false
        var failure: NATSError?
        var slow = false
        var dropped: UInt64 = 0
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    let maxMessages: Int
    let maxBytes: Int

    init(maxMessages: Int, maxBytes: Int) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
    }

    var droppedCount: UInt64 { state.withLock { $0.dropped } }
    var pendingCount: Int { state.withLock { $0.items.count - $0.head } }

    func enqueue(_ message: NATSMessage) -> EnqueueResult {
        let size = message.payload.readableBytes
        let (waiter, result): (CheckedContinuation<NATSMessage?, any Error>?, EnqueueResult) = state.withLock { s in
            if s.finished { return (nil, .dropped) }
            if let waiter = s.waiter {
                s.waiter = nil
                s.slow = false
                return (waiter, .delivered)
            }
            let pending = s.items.count - s.head
            if pending >= maxMessages || s.bytes + size > maxBytes {
                s.dropped += 1
                if s.slow { return (nil, .dropped) }
                s.slow = true
                return (nil, .droppedFirstOfEpisode)
            }
            s.slow = false
            s.items.append(message)
            s.bytes += size
            return (nil, .delivered)
        }
        waiter?.resume(returning: message)
        return result
    }

    /// Ends the sequence after what is buffered (or at once with `error`).
    func finish(error: NATSError? = nil) {
        let (waiter, drainWaiters) = state.withLock { s -> (CheckedContinuation<NATSMessage?, any Error>?, [CheckedContinuation<Void, Never>]) in
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

    func next() async throws -> NATSMessage? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<NATSMessage?, any Error>) in
                enum Outcome { case message(NATSMessage, [CheckedContinuation<Void, Never>]), end([CheckedContinuation<Void, Never>]), failure(NATSError), cancelled, wait }
                let outcome: Outcome = state.withLock { s in
                    if s.head < s.items.count {
                        let m = s.items[s.head]
                        s.head += 1
                        s.bytes -= m.payload.readableBytes
                        var drained: [CheckedContinuation<Void, Never>] = []
                        if s.head == s.items.count {
                            s.items.removeAll(keepingCapacity: s.items.count < 4096)
                            s.head = 0
                            if s.finished {
                                drained = s.drainWaiters
                                s.drainWaiters = []
                            }
                        }
                        return .message(m, drained)
                    }
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
