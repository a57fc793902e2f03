@_spiOnly public import NIOCore

/// Incremental RFC 6455 frame parser. Sans-I/O: feed it a cumulation buffer that grows in
/// arbitrary chunks; it consumes one complete frame at a time and leaves partial input
/// unread. Limits are checked as soon as the header is known, before any payload is
/// buffered. Payloads are slices of the cumulation buffer (no copy) unless they must be
/// unmasked (server role, used by tests).
@_spi(Benchmarks) public struct FrameParser {
    /// Which side of the connection parses: a client rejects masked frames, a server
    /// requires them.
    @_spi(Benchmarks) public enum Role: Sendable {
        case client
        case server
    }

    private struct Head {
        var firstByte: UInt8
        var masked: Bool
    }

    private enum State {
        case waitingForHeader
        case waitingForLength16(Head)
        case waitingForLength64(Head)
        case waitingForMask(Head, length: Int)
        case waitingForPayload(Head, length: Int, mask: MaskingKey?)
    }

    private var state = State.waitingForHeader
    let role: Role
    /// Largest frame payload accepted; larger frames fail with close code 1009.
    let maxFrameSize: Int
    /// Whether RSV1 may be set (permessage-deflate negotiated).
    let allowsCompression: Bool

    @_spi(Benchmarks) public init(role: Role = .client, maxFrameSize: Int, allowsCompression: Bool) {
        self.role = role
        self.maxFrameSize = maxFrameSize
        self.allowsCompression = allowsCompression
    }

    /// Consumes the next complete frame from `buffer`, or returns `nil` when more bytes
    /// are needed.
    @_spi(Benchmarks) public mutating func next(from buffer: inout ByteBuffer) throws(WebSocketError) -> Frame? {
        while true {
            switch state {
            case .waitingForHeader:
                guard let (first, second) = buffer.readMultipleIntegers(as: (UInt8, UInt8).self) else {
                    return nil
                }
                let head = Head(firstByte: first, masked: second & 0x80 != 0)
                try validate(head)
                let length7 = Int(second & 0x7F)
                if head.firstByte & 0x08 != 0 && length7 > Self.maxControlPayload {
                    throw .protocolError("a control frame is longer than 125 bytes")
                }
                switch length7 {
                case 126: state = .waitingForLength16(head)
                case 127: state = .waitingForLength64(head)
                default: state = try afterLength(head, length7)
                }

            case .waitingForLength16(let head):
                guard let length = buffer.readInteger(as: UInt16.self) else { return nil }
                state = try afterLength(head, Int(length))

            case .waitingForLength64(let head):
                guard let length = buffer.readInteger(as: UInt64.self) else { return nil }
                guard length & (1 << 63) == 0 else {
                    throw .protocolError("a frame length has its most significant bit set")
                }
                guard length <= UInt64(maxFrameSize) else { throw .messageTooLarge(limit: maxFrameSize) }
                state = try afterLength(head, Int(length))

            case .waitingForMask(let head, let length):
                guard let key = buffer.readInteger(as: UInt32.self) else { return nil }
                state = .waitingForPayload(head, length: length, mask: MaskingKey(value: key))

            case .waitingForPayload(let head, let length, let mask):
                guard var payload = buffer.readSlice(length: length) else { return nil }
                if let mask { payload.webSocketMask(mask) }
                state = .waitingForHeader
                return Frame(firstByte: head.firstByte, maskingKey: mask, payload: payload)
            }
        }
    }

    private func afterLength(_ head: Head, _ length: Int) throws(WebSocketError) -> State {
        guard length <= maxFrameSize else { throw .messageTooLarge(limit: maxFrameSize) }
        return head.masked ? .waitingForMask(head, length: length) : .waitingForPayload(head, length: length, mask: nil)
    }

    /// Header checks that need only the first two bytes (RFC 6455 §5.2, §5.5, RFC 7692 §6).
    private func validate(_ head: Head) throws(WebSocketError) {
        let frame = Frame(firstByte: head.firstByte, maskingKey: nil, payload: ByteBuffer())
        let opcode = frame.opcode
        if opcode.isReserved {
            throw .protocolError("reserved opcode 0x\(String(opcode.rawValue, radix: 16))")
        }
        switch role {
        case .client where head.masked:
            throw .protocolError("a frame from the server is masked")
        case .server where !head.masked:
            throw .protocolError("a frame from the client is not masked")
        default:
            break
        }
        if frame.rsv2 || frame.rsv3 {
            throw .protocolError("RSV2 or RSV3 is set but no extension defines them")
        }
        if frame.rsv1 {
            if !allowsCompression {
                throw .protocolError("RSV1 is set but permessage-deflate was not negotiated")
            }
            if opcode.isControl || opcode == .continuation {
                throw .protocolError("RSV1 is set on a control or continuation frame")
            }
        }
        if opcode.isControl && !frame.fin {
            throw .protocolError("a control frame is fragmented")
        }
    }
}

extension FrameParser {
    /// RFC 6455 §5.5: control frames carry at most 125 payload bytes.
    static let maxControlPayload = 125
}
