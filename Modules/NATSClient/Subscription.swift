import NIOCore

/// The messages of one subscription, as an `AsyncSequence`.
///
/// ```swift
/// let sub = try await client.subscribe(to: "orders.>", queue: "workers")
/// for try await message in sub {
///     handle(message)
/// }   // leaving the loop unsubscribes
/// ```
///
/// Iterate a subscription once: releasing its iterator (leaving the loop, or the task that
/// iterates it ending) sends UNSUB, so a second iteration would see the sequence end.
public struct NATSSubscription: AsyncSequence, Sendable {
    public typealias Element = NATSMessage

    /// The subscription id on this connection.
    public let sid: UInt64
    /// The subject subscribed to.
    public let subject: String
    /// The queue group, if any.
    public let queueGroup: String?
    let queue: SubscriptionQueue
    let connection: Connection

    /// Messages dropped because this subscription was not keeping up.
    public var droppedMessages: UInt64 { queue.droppedCount }

    /// Messages received and not yet consumed.
    public var pendingMessages: Int { queue.pendingCount }

    /// Stops receiving: sends UNSUB; buffered messages are still delivered, then the sequence ends.
    public func unsubscribe() async throws(NATSError) {
        try connection.unsubscribe(sid: sid, after: nil)
    }

    /// Unsubscribes automatically once `count` messages in all have been received.
    public func unsubscribe(after count: UInt64) async throws(NATSError) {
        try connection.unsubscribe(sid: sid, after: count)
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(queue: queue, guardian: UnsubscribeOnRelease(connection: connection, sid: sid))
    }

    /// Iterates the messages. Releasing the iterator (leaving the loop) unsubscribes.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let queue: SubscriptionQueue
        let guardian: UnsubscribeOnRelease
        /// Messages taken from the queue in one go: handed out without locking, each moved
        /// out of the batch (no reference-count traffic on its bytes).
        @usableFromInline let batch = Batch()

        init(queue: SubscriptionQueue, guardian: UnsubscribeOnRelease) {
            self.queue = queue
            self.guardian = guardian
        }

        /// The next message, or `nil` once unsubscribed, drained or closed.
        public mutating func next() async throws -> NATSMessage? {
            try await next(isolation: nil)
        }

        /// The next message, waiting on `actor` (the caller's, in a `for try await` loop), so
        /// that an actor iterating a subscription does not hop off its executor per message.
        /// Inlined into the loop, so that a message already taken from the queue costs no
        /// call into the client (an async call: a frame and an executor check each).
        @inlinable
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> NATSMessage? {
            if let message = batch.messages.popFirst() { return message }
            return try await nextFromQueue(isolation: actor)
        }

        /// The next message once the batch is used up: the queue's, or the first to arrive.
        @usableFromInline
        func nextFromQueue(isolation actor: isolated (any Actor)?) async throws -> NATSMessage? {
            if queue.takeAll(into: &batch.messages), let message = batch.messages.popFirst() { return message }
            return try await queue.next(isolation: actor)
        }
    }
}

@available(*, unavailable)
extension NATSSubscription.AsyncIterator: Sendable {}

extension NATSSubscription.AsyncIterator {
    /// The iterator's batch. A class, since the ring cannot be copied and an iterator can;
    /// copies of one iterator share it. Used only by the iterator, which is not `Sendable`,
    /// and never across a suspension, so no access to it overlaps another: exclusivity is
    /// not checked at run time on this per-message path.
    @usableFromInline
    final class Batch {
        @usableFromInline @exclusivity(unchecked) var messages = MessageRing()
    }
}

/// Sends UNSUB when the iteration that owns it ends.
final class UnsubscribeOnRelease: Sendable {
    let connection: Connection
    let sid: UInt64

    init(connection: Connection, sid: UInt64) {
        self.connection = connection
        self.sid = sid
    }

    deinit {
        try? connection.unsubscribe(sid: sid, after: nil)
    }
}
