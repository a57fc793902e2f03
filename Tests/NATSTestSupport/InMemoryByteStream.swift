public import NATSTransport
public import NIOCore
import Synchronization

/// One half of an in-memory, connected pair of byte streams, for unit tests.
///
/// What one side writes, the other side reads, in order, in the same chunks.
/// Closing either side ends both directions: the peer's `read()` returns `nil`.
public struct InMemoryByteStream: ByteStream {
    private let inbound: InMemoryPipe
    private let outbound: InMemoryPipe
    /// With a limit, ``writeImmediately(_:)`` takes at most this many bytes per call, as a
    /// socket with little room would.
    private let immediateWriteLimit: Int?
    /// The loop for the writer's timers, when the test gives one (like a TCP stream's).
    public let eventLoop: (any EventLoop)?

    /// Creates two connected streams; the first takes synchronous sends of at most
    /// `immediateWriteLimit` bytes when one is given, and offers `eventLoop` for timers.
    public static func pair(immediateWriteLimit: Int? = nil, eventLoop: (any EventLoop)? = nil) -> (InMemoryByteStream, InMemoryByteStream) {
        let aToB = InMemoryPipe()
        let bToA = InMemoryPipe()
        return (InMemoryByteStream(inbound: bToA, outbound: aToB, immediateWriteLimit: immediateWriteLimit, eventLoop: eventLoop),
                InMemoryByteStream(inbound: aToB, outbound: bToA, immediateWriteLimit: nil, eventLoop: nil))
    }

    public var canWriteImmediately: Bool { immediateWriteLimit != nil }

    public func writeImmediately(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard let limit = immediateWriteLimit else { return nil }
        let count = min(limit, bytes.count)
        guard count > 0 else { return 0 }
        do {
            try outbound.send(ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<count])))
        } catch {
            return nil
        }
        return count
    }

    public func read() async throws -> ByteBuffer? {
        try await inbound.receive()
    }

    public func write(_ bytes: ByteBuffer) async throws {
        try outbound.send(bytes)
    }

    public func close() async {
        outbound.close()
        inbound.close()
    }
}

/// Errors of the in-memory stream.
public struct InMemoryStreamError: Error, Equatable {
    /// Writing to a closed pipe.
    public static let closed = InMemoryStreamError()
}

/// A one-way queue of chunks with at most one waiting reader. A parked reader is only woken
/// and takes its chunk under the lock, so ThreadSanitizer sees the bytes change hands (a chunk
/// passed through the continuation is ordered only inside the concurrency runtime).
final class InMemoryPipe: Sendable {
    private struct State {
        var chunks: [ByteBuffer] = []
        var head = 0
        var waiter: CheckedContinuation<Void, any Error>?
        var closed = false
    }

    private let state = Mutex(State())

    func send(_ bytes: ByteBuffer) throws {
        let waiter: CheckedContinuation<Void, any Error>? = try state.withLock { state in
            if state.closed { throw InMemoryStreamError.closed }
            state.chunks.append(bytes)
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    func receive() async throws -> ByteBuffer? {
        enum Outcome { case chunk(ByteBuffer), end, wait }
        while true {
            let outcome: Outcome = state.withLock { state in
                if state.head < state.chunks.count {
                    let chunk = state.chunks[state.head]
                    state.head += 1
                    if state.head == state.chunks.count {
                        state.chunks.removeAll(keepingCapacity: true)
                        state.head = 0
                    }
                    return .chunk(chunk)
                }
                return state.closed ? .end : .wait
            }
            switch outcome {
            case .chunk(let chunk): return chunk
            case .end: return nil
            case .wait: try await waitForChunk()
            }
        }
    }

    private func waitForChunk() async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let park: Bool? = state.withLock { state in
                    if state.head < state.chunks.count || state.closed { return false }
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

    func close() {
        let waiter = state.withLock { state in
            state.closed = true
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }
}
