import NIOCore
import Testing

@_spi(Benchmarks) @testable import NATSWebSocket

@Suite struct FrameCodecTests {
    // MARK: RFC 6455 §5.7 golden vectors

    @Test func unmaskedHelloEncodes() {
        var out = ByteBuffer()
        FrameEncoder.encode(opcode: .text, payload: ByteBuffer(string: "Hello"), maskingKey: nil, into: &out)
        #expect(out.bytes == hex("81 05 48 65 6c 6c 6f"))
    }

    @Test func maskedHelloEncodes() {
        var out = ByteBuffer()
        FrameEncoder.encode(
            opcode: .text, payload: ByteBuffer(string: "Hello"), maskingKey: MaskingKey(0x37, 0xfa, 0x21, 0x3d), into: &out)
        #expect(out.bytes == hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"))
    }

    @Test func maskedHelloParsesOnServerSide() throws {
        var parser = FrameParser(role: .server, maxFrameSize: 1000, allowsCompression: false)
        var input = buffer(hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"))
        let frame = try #require(try parser.next(from: &input))
        #expect(frame.fin && frame.opcode == .text)
        #expect(frame.payload.bytes == Array("Hello".utf8))
    }

    @Test func unmaskedHelloParses() throws {
        let events = try clientEvents(hex("81 05 48 65 6c 6c 6f"))
        #expect(events.map(describe) == ["message(\(Array("Hello".utf8)), false)"])
    }

    @Test func fragmentedHelloReassembles() throws {
        let events = try clientEvents(hex("01 03 48 65 6c 80 02 6c 6f"))
        #expect(events.map(describe) == ["message(\(Array("Hello".utf8)), false)"])
    }

    @Test func controlFrameBetweenFragments() throws {
        let events = try clientEvents(hex("01 03 48 65 6c 89 05 48 65 6c 6c 6f 80 02 6c 6f"))
        #expect(events.map(describe) == ["ping(\(Array("Hello".utf8)))", "message(\(Array("Hello".utf8)), false)"])
    }

    @Test func pingAndMaskedPong() throws {
        #expect(try clientEvents(hex("89 05 48 65 6c 6c 6f")).map(describe) == ["ping(\(Array("Hello".utf8)))"])
        var out = ByteBuffer()
        FrameEncoder.encode(
            opcode: .pong, payload: ByteBuffer(string: "Hello"), maskingKey: MaskingKey(0x37, 0xfa, 0x21, 0x3d), into: &out)
        #expect(out.bytes == hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58"))
    }

    @Test func length256UsesSixteenBitLength() throws {
        let payload = [UInt8](repeating: 0xAB, count: 256)
        var out = ByteBuffer()
        FrameEncoder.encode(opcode: .binary, payload: buffer(payload), maskingKey: nil, into: &out)
        #expect(Array(out.bytes.prefix(4)) == hex("82 7E 01 00"))
        #expect(out.readableBytes == 4 + 256)
        #expect(try clientEvents(out.bytes).map(describe) == ["message(\(payload), false)"])
    }

    @Test func length64KiBUsesSixtyFourBitLength() throws {
        let payload = [UInt8](repeating: 0x5A, count: 65536)
        var out = ByteBuffer()
        FrameEncoder.encode(opcode: .binary, payload: buffer(payload), maskingKey: nil, into: &out)
        #expect(Array(out.bytes.prefix(10)) == hex("82 7F 00 00 00 00 00 01 00 00"))
        #expect(out.readableBytes == 10 + 65536)
        let events = try clientEvents(out.bytes)
        guard case .message(let got, _) = try #require(events.first) else { Issue.record(); return }
        #expect(got.bytes == payload)
    }

    // MARK: Split points

    /// Two messages, a ping and a fragmented message: one stream fed in pieces.
    static let stream: [UInt8] =
        hex("81 05 48 65 6c 6c 6f") + hex("89 02 01 02") + hex("82 7E 00 80") + [UInt8](repeating: 7, count: 128)
        + hex("01 03 48 65 6c 80 02 6c 6f")

    static func feed(_ chunks: [[UInt8]]) throws -> [String] {
        var parser = FrameParser(role: .client, maxFrameSize: 1 << 20, allowsCompression: false)
        var assembler = MessageAssembler(maxMessageSize: 1 << 20)
        var cumulation = ByteBuffer()
        var events: [String] = []
        for chunk in chunks {
            cumulation.writeBytes(chunk)
            while let frame = try parser.next(from: &cumulation) {
                if let event = try assembler.receive(frame) { events.append(describe(event)) }
            }
        }
        #expect(cumulation.readableBytes == 0)
        return events
    }

    @Test func parserAtEverySplitPoint() throws {
        let whole = try Self.feed([Self.stream])
        #expect(whole.count == 4)
        for split in 0...Self.stream.count {
            let parts = [Array(Self.stream[..<split]), Array(Self.stream[split...])]
            #expect(try Self.feed(parts) == whole, "split at \(split)")
        }
    }

    @Test func parserByteByByte() throws {
        let whole = try Self.feed([Self.stream])
        #expect(try Self.feed(Self.stream.map { [$0] }) == whole)
    }

    @Test(arguments: [2, 3, 5, 7, 13, 64])
    func parserInChunks(size: Int) throws {
        let chunks = stride(from: 0, to: Self.stream.count, by: size).map {
            Array(Self.stream[$0..<min($0 + size, Self.stream.count)])
        }
        #expect(try Self.feed(chunks) == (try Self.feed([Self.stream])))
    }

    // MARK: Round trips

    @Test(arguments: [0, 1, 125, 126, 127, 65535, 65536, 1 << 20])
    func roundTrip(size: Int) throws {
        var generator = SeededGenerator(seed: UInt64(size))
        let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for masked in [false, true] {
            var out = ByteBuffer()
            let key = masked ? MaskingKey.random(using: &generator) : nil
            FrameEncoder.encode(opcode: .binary, payload: buffer(payload), maskingKey: key, into: &out)
            #expect(out.readableBytes == FrameEncoder.headerSize(payloadLength: size, masked: masked) + size)
            var parser = FrameParser(role: masked ? .server : .client, maxFrameSize: 1 << 21, allowsCompression: false)
            let frame = try #require(try parser.next(from: &out))
            #expect(frame.fin && frame.opcode == .binary && frame.maskingKey == key)
            #expect(frame.payload.bytes == payload)
            #expect(out.readableBytes == 0)
        }
    }

    @Test func messageSplitIntoFrames() throws {
        let payload = (0..<2500).map { UInt8(truncatingIfNeeded: $0) }
        var out = ByteBuffer()
        var generator = SeededGenerator(seed: 1)
        FrameEncoder.encodeMessage(
            opcode: .binary, payload: buffer(payload), compressed: true, maxFrameSize: 1000, into: &out
        ) { MaskingKey.random(using: &generator) }
        var parser = FrameParser(role: .server, maxFrameSize: 1 << 20, allowsCompression: true)
        var frames: [Frame] = []
        while let frame = try parser.next(from: &out) { frames.append(frame) }
        #expect(frames.map(\.payload.readableBytes) == [1000, 1000, 500])
        #expect(frames.map(\.opcode) == [.binary, .continuation, .continuation])
        #expect(frames.map(\.fin) == [false, false, true])
        #expect(frames.map(\.rsv1) == [true, false, false])
        #expect(Set(frames.compactMap(\.maskingKey)).count == 3)
        #expect(frames.flatMap(\.payload.bytes) == payload)
    }

    // MARK: Masking

    @Test func wordMaskingEqualsByteMasking() {
        let key = MaskingKey(0x37, 0xfa, 0x21, 0x3d)
        for length in 0...64 {
            for offset in 0..<8 {
                for misalignment in 0..<8 {
                    let original = (0..<(length + misalignment)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 17) }
                    var fast = original
                    var slow = original
                    fast.withUnsafeMutableBytes {
                        Masking.apply(key: key, offset: offset, to: UnsafeMutableRawBufferPointer(rebasing: $0[misalignment...]))
                    }
                    slow.withUnsafeMutableBytes {
                        Masking.applyBytewise(key: key, offset: offset, to: UnsafeMutableRawBufferPointer(rebasing: $0[misalignment...]))
                    }
                    #expect(fast == slow, "length \(length) offset \(offset) misalignment \(misalignment)")
                }
            }
        }
    }

    @Test func maskingTwiceRestores() {
        var data = ByteBuffer(string: "The quick brown fox jumps over the lazy dog")
        let original = data
        data.webSocketMask(MaskingKey(1, 2, 3, 4))
        #expect(data != original)
        data.webSocketMask(MaskingKey(1, 2, 3, 4))
        #expect(data == original)
    }

    // MARK: Hostile frames

    static let hostile: [(String, [UInt8], WebSocketCloseCode)] = [
        ("masked frame from server", hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"), .protocolError),
        ("reserved data opcode 0x3", hex("83 00"), .protocolError),
        ("reserved control opcode 0xB", hex("8B 00"), .protocolError),
        ("RSV1 without deflate", hex("C2 01 00"), .protocolError),
        ("RSV2", hex("A2 00"), .protocolError),
        ("RSV3", hex("92 00"), .protocolError),
        ("ping longer than 125", hex("89 7E 00 7E") + [UInt8](repeating: 0, count: 126), .protocolError),
        ("fragmented ping", hex("09 00"), .protocolError),
        ("64-bit length with MSB", hex("82 7F 80 00 00 00 00 00 00 01"), .protocolError),
        ("continuation without start", hex("80 01 41"), .protocolError),
        ("new message inside fragments", hex("01 01 41 01 01 42"), .protocolError),
        ("close with 1-byte body", hex("88 01 03"), .protocolError),
        ("close with code 1005", hex("88 02 03 ED"), .protocolError),
        ("close with code 999", hex("88 02 03 E7"), .protocolError),
        ("frame over the limit (header only)", hex("82 7E 03 E9"), .messageTooBig),
        ("64-bit frame over the limit", hex("82 7F 00 00 00 01 00 00 00 00"), .messageTooBig),
        (
            "fragments over the limit",
            hex("02 7E 02 58") + [UInt8](repeating: 1, count: 600) + hex("80 7E 02 58") + [UInt8](repeating: 1, count: 600),
            .messageTooBig
        ),
    ]

    @Test(arguments: 0..<hostile.count)
    func hostileFrameRejected(index: Int) {
        let (name, bytes, code) = Self.hostile[index]
        do {
            _ = try clientEvents(bytes, maxMessageSize: 1000)
            Issue.record("\(name) was accepted")
        } catch {
            #expect(error.closeCode == code, "\(name): \(error)")
            let expected: WebSocketError.Code = code == .messageTooBig ? .messageTooLarge : .protocolError
            #expect(error.code == expected, "\(name)")
        }
    }

    @Test func rsv1OnContinuationRejectedEvenWithDeflate() {
        #expect(throws: WebSocketError.self) { try clientEvents(hex("41 01 00 C0 00"), compression: true) }
    }

    @Test func textFramesAreBytesWithoutUTF8Check() throws {
        let events = try clientEvents(hex("81 02 FF FE"))
        #expect(events.map(describe) == ["message([255, 254], false)"])
    }

    @Test func closeFrameParses() throws {
        #expect(try clientEvents(hex("88 00")).map(describe) == ["close(nil, )"])
        #expect(try clientEvents(hex("88 05 03 E8 62 79 65")).map(describe) == ["close(1000, bye)"])
    }
}
