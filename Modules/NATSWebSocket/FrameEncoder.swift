@_spiOnly public import NIOCore

/// Writes RFC 6455 frames into a caller's buffer. Sans-I/O, allocation-free apart from
/// growing the caller's buffer: a masked payload is copied and masked in one pass.
@_spi(Benchmarks) public struct FrameEncoder {
    /// Header bytes for a frame with `payloadLength` bytes of payload.
    static func headerSize(payloadLength: Int, masked: Bool) -> Int {
        let lengthBytes =
            switch payloadLength {
            case ...125: 0
            case ...0xFFFF: 2
            default: 8
            }
        return 2 + lengthBytes + (masked ? 4 : 0)
    }

    /// Appends one frame carrying `payload`'s readable bytes to `output`.
    static func encode(
        fin: Bool = true,
        rsv1: Bool = false,
        opcode: WebSocketOpcode,
        payload: ByteBuffer,
        maskingKey: MaskingKey?,
        into output: inout ByteBuffer
    ) {
        let length = payload.readableBytes
        output.reserveCapacity(minimumWritableBytes: headerSize(payloadLength: length, masked: maskingKey != nil) + length)
        let first = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode.rawValue
        let maskBit: UInt8 = maskingKey == nil ? 0 : 0x80
        switch length {
        case ...125:
            output.writeMultipleIntegers(first, UInt8(length) | maskBit)
        case ...0xFFFF:
            output.writeMultipleIntegers(first, 126 | maskBit, UInt16(length))
        default:
            output.writeMultipleIntegers(first, 127 | maskBit, UInt64(length))
        }
        guard let key = maskingKey else {
            output.writeImmutableBuffer(payload)
            return
        }
        output.writeInteger(key.value)
        guard length > 0 else { return }
        _ = payload.withUnsafeReadableBytes { source in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { destination in
                if let from = source.baseAddress, let to = destination.baseAddress {
                    Masking.apply(key: key, offset: 0, from: from, to: to, count: length)
                }
                return length
            }
        }
    }

    /// Appends one message as frames of at most `maxFrameSize` payload bytes each: the
    /// first frame carries `opcode` (and RSV1 when compressed, RFC 7692 §6), the rest are
    /// continuations. Each frame gets a fresh key from `nextKey` when it returns one.
    @_spi(Benchmarks) public static func encodeMessage(
        opcode: WebSocketOpcode,
        payload: ByteBuffer,
        compressed: Bool,
        maxFrameSize: Int,
        into output: inout ByteBuffer,
        nextKey: () -> MaskingKey?
    ) {
        var remaining = payload
        var first = true
        let frameSize = max(1, maxFrameSize)
        repeat {
            let take = min(frameSize, remaining.readableBytes)
            let chunk = remaining.readSlice(length: take) ?? ByteBuffer()
            encode(
                fin: remaining.readableBytes == 0,
                rsv1: first && compressed,
                opcode: first ? opcode : .continuation,
                payload: chunk,
                maskingKey: nextKey(),
                into: &output
            )
            first = false
        } while remaining.readableBytes > 0
    }
}
