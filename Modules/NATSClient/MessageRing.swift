/// A first-in-first-out buffer of messages that moves them in and out.
///
/// The reader, the subscription's queue and the consumer hand a message on by moving it,
/// so no reference count changes on its bytes on the way; an array would copy each one into
/// the next array (a generic copy through the type's value witness) and release it from the
/// last. Capacity is a power of two and kept when emptied.
@usableFromInline
struct MessageRing: ~Copyable, @unchecked Sendable {  // noncopyable: one owner at a time, and its elements are Sendable
    @usableFromInline var storage: UnsafeMutablePointer<NATSMessage>?
    /// A power of two, or 0 before the first append.
    @usableFromInline var capacity = 0
    /// The slot of the oldest message.
    @usableFromInline var head = 0
    @usableFromInline var count = 0

    @usableFromInline init() {}

    // Inlinable, since the consumer's inlined loop reaches it: Swift 6.3's optimizer aborts
    // ("inlining a resilient function into a fragile function") when it is not.
    @inlinable
    deinit {
        Self.release(storage, head: head, count: count, capacity: capacity)
    }

    var isEmpty: Bool { count == 0 }

    /// Adds `message` after the others.
    mutating func append(_ message: consuming NATSMessage) {
        if count == capacity { grow(toHold: count &+ 1) }
        guard let storage else { return }  // grow(toHold:) always allocates
        (storage + ((head &+ count) & (capacity &- 1))).initialize(to: message)
        count &+= 1
    }

    /// Removes and returns the oldest message (inlined into the consumer's loop).
    @inlinable
    mutating func popFirst() -> NATSMessage? {
        guard count > 0, let storage else { return nil }
        let message = (storage + head).move()
        head = (head &+ 1) & (capacity &- 1)
        count &-= 1
        if count == 0 { head = 0 }
        return message
    }

    /// Removes and returns the newest message.
    mutating func popLast() -> NATSMessage? {
        guard count > 0, let storage else { return nil }
        count &-= 1
        let message = (storage + ((head &+ count) & (capacity &- 1))).move()
        if count == 0 { head = 0 }
        return message
    }

    /// Moves every message of `other` after these, in order; `other` is left empty with its
    /// capacity.
    mutating func append(movingFrom other: inout MessageRing) {
        guard let source = other.storage, other.count > 0 else { return }
        if capacity < count &+ other.count { grow(toHold: count &+ other.count) }
        let firstRun = Swift.min(other.count, other.capacity &- other.head)
        appendMoving(from: source + other.head, count: firstRun)
        appendMoving(from: source, count: other.count &- firstRun)
        other.head = 0
        other.count = 0
    }

    /// Moves `n` initialized messages from `source` after these; the capacity must suffice.
    private mutating func appendMoving(from source: UnsafeMutablePointer<NATSMessage>, count n: Int) {
        guard n > 0, let storage else { return }
        let tail = (head &+ count) & (capacity &- 1)
        let firstRun = Swift.min(n, capacity &- tail)
        (storage + tail).moveInitialize(from: source, count: firstRun)
        storage.moveInitialize(from: source + firstRun, count: n &- firstRun)
        count &+= n
    }

    /// Drops every message; with `keepingCapacity: false` frees the storage too.
    mutating func removeAll(keepingCapacity: Bool) {
        if keepingCapacity {
            Self.deinitialize(storage, head: head, count: count, capacity: capacity)
        } else {
            Self.release(storage, head: head, count: count, capacity: capacity)
            storage = nil
            capacity = 0
        }
        head = 0
        count = 0
    }

    /// Frees storage over `limit` messages (a power of two) once empty, keeping `limit`: a
    /// backlog's storage is let go without growing again from nothing afterwards.
    mutating func shrinkIfEmpty(to limit: Int) {
        guard count == 0, capacity > limit else { return }
        storage?.deallocate()
        storage = UnsafeMutablePointer<NATSMessage>.allocate(capacity: limit)
        capacity = limit
        head = 0
    }

    /// Reallocates once, to the least power of two (at least 16, at least twice the capacity)
    /// that holds `needed` messages.
    private mutating func grow(toHold needed: Int) {
        var newCapacity = Swift.max(16, capacity &* 2)
        while newCapacity < needed { newCapacity &*= 2 }
        let newStorage = UnsafeMutablePointer<NATSMessage>.allocate(capacity: newCapacity)
        if let storage {
            // The oldest run [head, capacity), then the wrapped run [0, rest).
            let firstRun = Swift.min(count, capacity &- head)
            newStorage.moveInitialize(from: storage + head, count: firstRun)
            (newStorage + firstRun).moveInitialize(from: storage, count: count &- firstRun)
            storage.deallocate()
        }
        storage = newStorage
        capacity = newCapacity
        head = 0
    }

    @usableFromInline
    static func deinitialize(_ storage: UnsafeMutablePointer<NATSMessage>?, head: Int, count: Int, capacity: Int) {
        guard let storage, count > 0 else { return }
        let firstRun = Swift.min(count, capacity &- head)
        (storage + head).deinitialize(count: firstRun)
        storage.deinitialize(count: count &- firstRun)
    }

    @usableFromInline
    static func release(_ storage: UnsafeMutablePointer<NATSMessage>?, head: Int, count: Int, capacity: Int) {
        deinitialize(storage, head: head, count: count, capacity: capacity)
        storage?.deallocate()
    }
}
