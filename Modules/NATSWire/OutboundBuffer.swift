public import NIOCore

/// A growable byte buffer for the client's outgoing protocol stream, written through raw
/// pointers.
///
/// Appending an operation costs one capacity and uniqueness check and the copy: each
/// `ByteBuffer` call also pays copy-on-write and dynamic exclusivity checks, which were
/// three quarters of the cost of encoding a small `PUB`. Copies share storage until one of
/// them is written (copy on write), like the standard collections.
public struct OutboundBuffer: Sendable {
    /// The bytes. `@unchecked Sendable`: its fields never change, and its memory is only
    /// written through the one `OutboundBuffer` that holds the sole reference to it.
    final class Storage: @unchecked Sendable {
        let base: UnsafeMutableRawPointer
        let capacity: Int

        init(capacity: Int) {
            self.capacity = max(capacity, 64)
            self.base = .allocate(byteCount: self.capacity, alignment: 16)
        }

        deinit { base.deallocate() }
    }

    private var storage: Storage
    /// The number of bytes written.
    public private(set) var count = 0

    /// An empty buffer with room for `minimumCapacity` bytes.
    public init(minimumCapacity: Int = 1024) {
        storage = Storage(capacity: minimumCapacity)
    }

    /// Whether nothing was written.
    public var isEmpty: Bool { count == 0 }

    /// The bytes written so far, valid during `body`.
    public func withUnsafeReadableBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: storage.base, count: count))
    }

    /// Lets `fill` write up to `maxBytes` at the end and keeps as many as it returns.
    public mutating func write(maxBytes: Int, _ fill: (UnsafeMutableRawPointer) -> Int) {
        let start = reserve(maxBytes)
        let written = fill(start)
        precondition(written >= 0 && written <= maxBytes, "OutboundBuffer: wrote \(written) of \(maxBytes) reserved bytes")
        advance(written)
    }

    /// Appends `bytes`.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count).copyMemory(from: source, byteCount: bytes.count)
        advance(bytes.count)
    }

    /// Appends the readable bytes of `buffer`.
    public mutating func write(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { write($0) }
    }

    /// Appends the bytes of `other`.
    public mutating func write(_ other: OutboundBuffer) {
        other.withUnsafeReadableBytes { write($0) }
    }

    /// Forgets the bytes, keeping the capacity when the storage is not shared.
    public mutating func removeAll() {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(capacity: storage.capacity) }
        count = 0
    }

    /// Where `n` more bytes go: grows, or copies shared storage, first when needed.
    private mutating func reserve(_ n: Int) -> UnsafeMutableRawPointer {
        if n > storage.capacity - count || !isKnownUniquelyReferenced(&storage) { grow(n) }
        return storage.base + count
    }

    private mutating func advance(_ n: Int) {
        count += n
    }

    private mutating func grow(_ n: Int) {
        let needed = count + n
        var capacity = storage.capacity
        while capacity < needed { capacity = capacity > Int.max / 2 ? needed : capacity * 2 }
        let bigger = Storage(capacity: capacity)
        bigger.base.copyMemory(from: storage.base, byteCount: count)
        storage = bigger
    }
}
