internal import NIOCore

/// A frame opcode (RFC 6455 §5.2). Reserved values are representable so the parser can
/// reject them by value.
@_spi(Benchmarks) public struct WebSocketOpcode: Sendable, Hashable {
    let rawValue: UInt8

    init(rawValue: UInt8) {
        self.rawValue = rawValue & 0x0F
    }

    static let continuation = WebSocketOpcode(rawValue: 0x0)
    static let text = WebSocketOpcode(rawValue: 0x1)
    @_spi(Benchmarks) public static let binary = WebSocketOpcode(rawValue: 0x2)
    static let close = WebSocketOpcode(rawValue: 0x8)
    static let ping = WebSocketOpcode(rawValue: 0x9)
    static let pong = WebSocketOpcode(rawValue: 0xA)

    /// Control frames have the high bit of the opcode set.
    var isControl: Bool { rawValue & 0x8 != 0 }

    /// 0x3–0x7 and 0xB–0xF are reserved.
    var isReserved: Bool {
        switch rawValue {
        case 0x0, 0x1, 0x2, 0x8, 0x9, 0xA: false
        default: true
        }
    }
}

/// A 4-byte masking key; `value` holds the bytes in wire order (first byte most significant).
@_spi(Benchmarks) public struct MaskingKey: Sendable, Hashable {
    let value: UInt32

    @_spi(Benchmarks) public init(value: UInt32) {
        self.value = value
    }

    init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8) {
        value = UInt32(b0) << 24 | UInt32(b1) << 16 | UInt32(b2) << 8 | UInt32(b3)
    }

    /// A fresh key from `generator` (RFC 6455 §5.3: unpredictable, new for each frame).
    static func random(using generator: inout some RandomNumberGenerator) -> MaskingKey {
        MaskingKey(value: UInt32(truncatingIfNeeded: generator.next()))
    }

    /// Byte `index` (0...3) of the key.
    @inline(__always)
    subscript(index: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(index & 3)))
    }
}

/// One WebSocket frame. The first byte is stored packed; flags are views of it.
@_spi(Benchmarks) public struct Frame: Sendable {
    var firstByte: UInt8
    var maskingKey: MaskingKey?
    var payload: ByteBuffer

    init(fin: Bool, rsv1: Bool = false, opcode: WebSocketOpcode, maskingKey: MaskingKey? = nil, payload: ByteBuffer) {
        firstByte = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode.rawValue
        self.maskingKey = maskingKey
        self.payload = payload
    }

    init(firstByte: UInt8, maskingKey: MaskingKey?, payload: ByteBuffer) {
        self.firstByte = firstByte
        self.maskingKey = maskingKey
        self.payload = payload
    }

    var fin: Bool { firstByte & 0x80 != 0 }
    var rsv1: Bool { firstByte & 0x40 != 0 }
    var rsv2: Bool { firstByte & 0x20 != 0 }
    var rsv3: Bool { firstByte & 0x10 != 0 }
    var opcode: WebSocketOpcode { WebSocketOpcode(rawValue: firstByte) }
}

/// RFC 6455 §5.3 masking: XOR with the key, word-at-a-time.
@_spi(Benchmarks) public enum Masking {
    /// XORs `count` bytes from `source` with `key` into `destination` (which may equal
    /// `source`). `offset` is the position of the first byte within the frame payload, so
    /// a payload split over several buffers stays aligned with the key.
    @inline(__always)
    static func apply(
        key: MaskingKey,
        offset: Int,
        from source: UnsafeRawPointer,
        to destination: UnsafeMutableRawPointer,
        count: Int
    ) {
        // Eight key bytes in memory order starting at `offset`; since 8 is a multiple of 4
        // the same pattern fits every later 8-byte word, whatever the host's byte order.
        var pattern: UInt64 = 0
        withUnsafeMutableBytes(of: &pattern) { bytes in
            for i in 0..<8 { bytes[i] = key[offset &+ i] }
        }
        var i = 0
        while i &+ 8 <= count {
            let word = source.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            destination.storeBytes(of: word ^ pattern, toByteOffset: i, as: UInt64.self)
            i &+= 8
        }
        while i < count {
            let byte = source.load(fromByteOffset: i, as: UInt8.self)
            destination.storeBytes(of: byte ^ key[offset &+ i], toByteOffset: i, as: UInt8.self)
            i &+= 1
        }
    }

    /// Masks (or unmasks) `bytes` in place.
    @_spi(Benchmarks) public static func apply(key: MaskingKey, offset: Int = 0, to bytes: UnsafeMutableRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        apply(key: key, offset: offset, from: UnsafeRawPointer(base), to: base, count: bytes.count)
    }

    /// The obvious byte-at-a-time version; a reference for tests.
    static func applyBytewise(key: MaskingKey, offset: Int = 0, to bytes: UnsafeMutableRawBufferPointer) {
        for i in 0..<bytes.count { bytes[i] ^= key[offset + i] }
    }
}

extension ByteBuffer {
    /// Masks (or unmasks) the readable bytes in place.
    mutating func webSocketMask(_ key: MaskingKey, offset: Int = 0) {
        withUnsafeMutableReadableBytes { Masking.apply(key: key, offset: offset, to: $0) }
    }
}
