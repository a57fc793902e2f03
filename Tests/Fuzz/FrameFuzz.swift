// libFuzzer entry point for the WebSocket FrameParser and MessageAssembler. Built by
// Tools/fuzz.sh (NATSWebSocket compiled with -enable-testing), not by Package.swift.
//
// Input layout: byte 0 = config (bit 0: server role, bit 1: RSV1 allowed, bits 2-3:
// maxFrameSize 125 / 16 / 70000 / Int.max, bits 4-6: number of chunk-size bytes - 1), then
// that many chunk-size bytes, then the byte stream fed to the parser.
// The stream is parsed three ways (chunk sizes cycling through the size bytes, all at once,
// byte by byte); all three must give the same frames, the same error and the same bytes
// left over. Every frame must respect the header rules and the size limit, re-encode with
// FrameEncoder to bytes that parse back to the same frame (and, for a canonical length
// encoding, to exactly the input bytes); word-at-a-time masking must equal the bytewise
// reference; the frames then go through MessageAssembler, which must respect its limit.
@_spi(Benchmarks) @testable import NATSWebSocket
import NIOCore

private func fail(_ message: String) -> Never {
    fatalError("FrameFuzz: \(message)")
}

private struct ParsedFrame: Equatable {
    var firstByte: UInt8
    var mask: UInt32?
    var payload: [UInt8]
    /// The input bytes this frame was parsed from (whole-input run only).
    var wire: [UInt8] = []

    static func == (a: ParsedFrame, b: ParsedFrame) -> Bool {
        a.firstByte == b.firstByte && a.mask == b.mask && a.payload == b.payload
    }
}

private struct Outcome: Equatable {
    var frames: [ParsedFrame] = []
    var error: String?
    var left = 0
}

private struct Config {
    var role: FrameParser.Role
    var allowsCompression: Bool
    var maxFrameSize: Int
}

private func parse(_ stream: UnsafeRawBufferPointer, _ config: Config, chunkSize: (Int) -> Int) -> Outcome {
    var parser = FrameParser(role: config.role, maxFrameSize: config.maxFrameSize, allowsCompression: config.allowsCompression)
    var buffer = ByteBuffer()
    var outcome = Outcome()
    var offset = 0
    var chunkIndex = 0
    repeat {
        let n = min(max(1, chunkSize(chunkIndex)), stream.count - offset)
        chunkIndex += 1
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: stream[offset..<offset + n]))
        offset += n
        do {
            while true {
                guard let frame = try parser.next(from: &buffer) else { break }
                // Only meaningful when the whole frame was in the buffer at once.
                let wire = buffer.getBytes(at: 0, length: buffer.readerIndex).map { Array($0[...]) } ?? []
                outcome.frames.append(
                    ParsedFrame(
                        firstByte: frame.firstByte, mask: frame.maskingKey?.value,
                        payload: Array(frame.payload.readableBytesView), wire: wire))
                buffer.discardReadBytes()
            }
        } catch {
            outcome.error = "\(error.code) \(error.description)"
            return outcome
        }
    } while offset < stream.count
    outcome.left = buffer.readableBytes
    return outcome
}

private func checkFrame(_ frame: ParsedFrame, _ config: Config, wholeRun: Bool) {
    let f = Frame(firstByte: frame.firstByte, maskingKey: frame.mask.map(MaskingKey.init(value:)), payload: ByteBuffer(bytes: frame.payload))
    if f.opcode.isReserved { fail("reserved opcode accepted: \(f.opcode.rawValue)") }
    if f.rsv2 || f.rsv3 { fail("RSV2/RSV3 accepted") }
    if f.rsv1 && (!config.allowsCompression || f.opcode.isControl || f.opcode == .continuation) { fail("RSV1 accepted") }
    if f.opcode.isControl && (!f.fin || frame.payload.count > FrameParser.maxControlPayload) { fail("bad control frame accepted") }
    if frame.payload.count > config.maxFrameSize { fail("frame of \(frame.payload.count) over limit \(config.maxFrameSize)") }
    switch config.role {
    case .client where frame.mask != nil: fail("masked frame accepted by client")
    case .server where frame.mask == nil: fail("unmasked frame accepted by server")
    default: break
    }

    // Re-encode and parse back.
    var encoded = ByteBuffer()
    FrameEncoder.encode(
        fin: f.fin, rsv1: f.rsv1, opcode: f.opcode, payload: f.payload, maskingKey: f.maskingKey, into: &encoded)
    if encoded.readableBytes != FrameEncoder.headerSize(payloadLength: frame.payload.count, masked: frame.mask != nil) + frame.payload.count {
        fail("headerSize disagrees with encode")
    }
    let encodedBytes = Array(encoded.readableBytesView)
    if wholeRun && frame.wire.count == encodedBytes.count && frame.wire != encodedBytes {
        fail("canonical frame re-encodes differently: \(frame.wire) vs \(encodedBytes)")
    }
    var parser = FrameParser(role: config.role, maxFrameSize: config.maxFrameSize, allowsCompression: config.allowsCompression)
    do {
        guard let again = try parser.next(from: &encoded) else { fail("re-encoded frame incomplete") }
        let back = ParsedFrame(firstByte: again.firstByte, mask: again.maskingKey?.value, payload: Array(again.payload.readableBytesView))
        if back != frame { fail("re-encoded frame parses differently") }
        if encoded.readableBytes != 0 { fail("re-encoded frame leaves bytes") }
    } catch {
        fail("re-encoded frame fails: \(error)")
    }

    // Word-at-a-time masking against the bytewise reference, at an offset from the first byte.
    if let key = frame.mask, !frame.payload.isEmpty {
        let offset = Int(frame.payload[0] & 7)
        var fast = frame.payload
        var slow = frame.payload
        fast.withUnsafeMutableBytes { Masking.apply(key: MaskingKey(value: key), offset: offset, to: $0) }
        slow.withUnsafeMutableBytes { Masking.applyBytewise(key: MaskingKey(value: key), offset: offset, to: $0) }
        if fast != slow { fail("masking differs from the reference at offset \(offset)") }
    }
}

private func assemble(_ frames: [ParsedFrame], maxMessageSize: Int) {
    var assembler = MessageAssembler(maxMessageSize: maxMessageSize)
    var largestFrame = 0
    for frame in frames {
        largestFrame = max(largestFrame, frame.payload.count)
        let f = Frame(firstByte: frame.firstByte, maskingKey: nil, payload: ByteBuffer(bytes: frame.payload))
        do {
            switch try assembler.receive(f) {
            case .message(let message, _)?:
                if message.readableBytes > max(maxMessageSize, largestFrame) {
                    fail("message of \(message.readableBytes) over limit \(maxMessageSize)")
                }
            case .close(let code, let reason)?:
                if let code, !code.isValidOnWire { fail("invalid close code \(code) accepted") }
                if reason.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                    fail("close reason not sanitized: \(reason.debugDescription)")
                }
                _ = code?.description
            case .ping?, .pong?, nil:
                break
            }
        } catch {
            _ = error.description
            return
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrameParser(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    guard let data, count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data, count: count)
    let byte = input[0]
    let sizeCount = Int((byte >> 4) & 7) + 1
    guard count > 1 + sizeCount else { return 0 }
    let sizes = input[1...sizeCount].map { Int($0) + 1 }
    let maxFrameSize = [125, 16, 70_000, Int.max][Int((byte >> 2) & 3)]
    let config = Config(role: byte & 1 == 0 ? .client : .server, allowsCompression: byte & 2 != 0, maxFrameSize: maxFrameSize)
    let stream = UnsafeRawBufferPointer(rebasing: input[(1 + sizeCount)...])

    let chunked = parse(stream, config) { sizes[$0 % sizes.count] }
    let whole = parse(stream, config) { _ in stream.count }
    let bytewise = parse(stream, config) { _ in 1 }
    if whole != chunked { fail("all-at-once \(whole) != chunked \(sizes): \(chunked)") }
    if whole != bytewise { fail("all-at-once \(whole) != byte-by-byte \(bytewise)") }
    for frame in whole.frames { checkFrame(frame, config, wholeRun: true) }
    assemble(whole.frames, maxMessageSize: sizes[0] * 4)
    return 0
}
