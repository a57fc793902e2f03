internal import NIOCore
import Synchronization

/// A FIFO lock for async code: `lock()` suspends (without blocking a thread) until the
/// holder calls `unlock()`. The internal mutex is held only for bookkeeping, never across
/// an `await`. Used to keep whole frames from interleaving on the transport.
final class AsyncLock: Sendable {
    private struct State {
        var locked = false
        var waiters = CircularBuffer<CheckedContinuation<Void, Never>>()
    }

    private let state = Mutex(State())

    func lock() async {
        let acquired = state.withLock { state in
            if state.locked { return false }
            state.locked = true
            return true
        }
        if acquired { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquiredNow = state.withLock { state in
                if !state.locked {
                    state.locked = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if acquiredNow { continuation.resume() }
        }
    }

    /// Hands the lock to the next waiter, or releases it.
    func unlock() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let next = state.waiters.popFirst() { return next }
            state.locked = false
            return nil
        }
        next?.resume()
    }
}
