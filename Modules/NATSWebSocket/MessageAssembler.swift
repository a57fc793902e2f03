@_spiOnly public import NIOCore

/// Turns parsed frames into messages and control events (RFC 6455 §5.4, §5.5): reassembles
/// continuation frames, lets control frames interleave with fragments, and bounds the
/// total message size. Unfragmented messages are handed on as the parser's slice.
@_spi(Benchmarks) public struct MessageAssembler {
    @_spi(Benchmarks) public enum Event: Sendable {
        /// A complete text or binary message (text is treated as bytes).
        case message(ByteBuffer, compressed: Bool)
        case ping(ByteBuffer)
        case pong(ByteBuffer)
        /// A close frame; `code` is nil when the frame had no body.
        case close(WebSocketCloseCode?, reason: String)
    }

    let maxMessageSize: Int
    private var fragments: ByteBuffer?
    private var fragmentsCompressed = false

    @_spi(Benchmarks) public init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    @_spi(Benchmarks) public mutating func receive(_ frame: Frame) throws(WebSocketError) -> Event? {
        switch frame.opcode {
        case .ping:
            return .ping(frame.payload)
        case .pong:
            return .pong(frame.payload)
        case .close:
            return try Self.parseClose(frame.payload)
        case .text, .binary:
            guard fragments == nil else {
                throw .protocolError("a new data frame arrived while a fragmented message was unfinished")
            }
            if frame.fin { return .message(frame.payload, compressed: frame.rsv1) }
            fragments = frame.payload
            fragmentsCompressed = frame.rsv1
            return nil
        case .continuation:
            guard var buffer = fragments else {
                throw .protocolError("a continuation frame arrived without a message to continue")
            }
            fragments = nil  // keep `buffer` uniquely referenced while appending
            guard frame.payload.readableBytes <= maxMessageSize - buffer.readableBytes else {
                throw .messageTooLarge(limit: maxMessageSize)
            }
            buffer.writeImmutableBuffer(frame.payload)
            if frame.fin { return .message(buffer, compressed: fragmentsCompressed) }
            fragments = buffer
            return nil
        default:
            throw .protocolError("reserved opcode 0x\(String(frame.opcode.rawValue, radix: 16))")
        }
    }

    /// RFC 6455 §5.5.1: an empty body, or a 2-byte code plus an optional reason.
    private static func parseClose(_ payload: ByteBuffer) throws(WebSocketError) -> Event {
        var body = payload
        guard body.readableBytes > 0 else { return .close(nil, reason: "") }
        guard let raw = body.readInteger(as: UInt16.self) else {
            throw .protocolError("a close frame has a 1-byte body")
        }
        let code = WebSocketCloseCode(rawValue: raw)
        guard code.isValidOnWire else {
            throw .protocolError("a close frame carries the invalid code \(raw)")
        }
        let reason = body.readableBytesView
        return .close(code, reason: String(sanitizingPeerText: reason, limit: 123))
    }
}
