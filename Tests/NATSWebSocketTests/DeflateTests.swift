import NIOCore
import Testing

@_spi(Benchmarks) @testable import NATSWebSocket

@Suite struct PerMessageDeflateTests {
    // MARK: RFC 7692 §7.2.3 examples

    @Test func helloCompressesToGoldenBytes() throws {
        let compressor = try PerMessageDeflate.Compressor(windowBits: 15, noContextTakeover: false)
        var out = ByteBuffer()
        try compressor.compress(ByteBuffer(string: "Hello"), into: &out)
        #expect(out.bytes == hex("f2 48 cd c9 c9 07 00"))
    }

    @Test func sharedWindowSecondMessageUsesBackReference() throws {
        // §7.2.3.2: the second "Hello" refers back into the first.
        let compressor = try PerMessageDeflate.Compressor(windowBits: 15, noContextTakeover: false)
        var first = ByteBuffer()
        var second = ByteBuffer()
        try compressor.compress(ByteBuffer(string: "Hello"), into: &first)
        try compressor.compress(ByteBuffer(string: "Hello"), into: &second)
        #expect(first.bytes == hex("f2 48 cd c9 c9 07 00"))
        #expect(second.bytes == hex("f2 00 11 00 00"))

        let decompressor = try PerMessageDeflate.Decompressor(noContextTakeover: false)
        #expect(try decompressor.decompress(first, maxSize: 100).bytes == Array("Hello".utf8))
        #expect(try decompressor.decompress(second, maxSize: 100).bytes == Array("Hello".utf8))
    }

    @Test func noContextTakeoverRepeatsTheSameBytes() throws {
        // §7.2.3.1: with no context takeover each message stands alone.
        let compressor = try PerMessageDeflate.Compressor(windowBits: 15, noContextTakeover: true)
        for _ in 0..<3 {
            var out = ByteBuffer()
            try compressor.compress(ByteBuffer(string: "Hello"), into: &out)
            #expect(out.bytes == hex("f2 48 cd c9 c9 07 00"))
        }
        let decompressor = try PerMessageDeflate.Decompressor(noContextTakeover: true)
        for _ in 0..<3 {
            #expect(try decompressor.decompress(buffer(hex("f2 48 cd c9 c9 07 00")), maxSize: 100).bytes == Array("Hello".utf8))
        }
    }

    @Test func storedBlockInflates() throws {
        // §7.2.3.3: a DEFLATE block with no compression.
        let decompressor = try PerMessageDeflate.Decompressor(noContextTakeover: false)
        let out = try decompressor.decompress(buffer(hex("00 05 00 fa ff 48 65 6c 6c 6f 00")), maxSize: 100)
        #expect(out.bytes == Array("Hello".utf8))
    }

    @Test func finalBlockInflatesAndStreamContinues() throws {
        // §7.2.3.4: BFINAL set; the next message must still inflate.
        let decompressor = try PerMessageDeflate.Decompressor(noContextTakeover: false)
        #expect(try decompressor.decompress(buffer(hex("f3 48 cd c9 c9 07 00 00")), maxSize: 100).bytes == Array("Hello".utf8))
        #expect(try decompressor.decompress(buffer(hex("f2 48 cd c9 c9 07 00")), maxSize: 100).bytes == Array("Hello".utf8))
    }

    @Test func twoBlocksInOneMessage() throws {
        // §7.2.3.5: two DEFLATE blocks in one message.
        let decompressor = try PerMessageDeflate.Decompressor(noContextTakeover: false)
        let out = try decompressor.decompress(buffer(hex("f2 48 05 00 00 00 ff ff ca c9 c9 07 00")), maxSize: 100)
        #expect(out.bytes == Array("Hello".utf8))
    }

    @Test func emptyMessageCompressesToOneByte() throws {
        // §7.2.3.6
        let compressor = try PerMessageDeflate.Compressor(windowBits: 15, noContextTakeover: true)
        var out = ByteBuffer()
        try compressor.compress(ByteBuffer(), into: &out)
        #expect(out.bytes == [0x00] || out.bytes == hex("02 00"))
        let decompressor = try PerMessageDeflate.Decompressor(noContextTakeover: true)
        #expect(try decompressor.decompress(out, maxSize: 10).readableBytes == 0)
    }

    // MARK: Round trips and limits

    @Test(arguments: [1, 64, 1000, 65536, 1 << 20])
    func roundTrip(size: Int) throws {
        var generator = SeededGenerator(seed: UInt64(size))
        let compressor = try PerMessageDeflate.Compressor(windowBits: 10, noContextTakeover: false)
        let decompressor = try PerMessageDeflate.Decompressor(noContextTakeover: false)
        for round in 0..<3 {
            // Half random, half repetitive, so both stored and compressed blocks appear.
            let payload = (0..<size).map { i in i % 2 == 0 ? UInt8(truncatingIfNeeded: generator.next()) : UInt8(i % 7 + round) }
            var compressed = ByteBuffer()
            try compressor.compress(buffer(payload), into: &compressed)
            #expect(compressed.getInteger(at: compressed.writerIndex - 4, as: UInt32.self) != 0x0000_FFFF || size < 4)
            #expect(try decompressor.decompress(compressed, maxSize: size).bytes == payload)
        }
    }

    @Test func bombIsRejectedWithMessageTooLarge() throws {
        let compressor = try PerMessageDeflate.Compressor(windowBits: 15, noContextTakeover: true)
        var bomb = ByteBuffer()
        try compressor.compress(ByteBuffer(repeating: 0, count: 64 * 1024 * 1024), into: &bomb)
        #expect(bomb.readableBytes < 100_000)
        let decompressor = try PerMessageDeflate.Decompressor(noContextTakeover: false)
        let error = #expect(throws: WebSocketError.self) { try decompressor.decompress(bomb, maxSize: 1 << 20) }
        #expect(error?.code == .messageTooLarge)
        #expect(error?.closeCode == .messageTooBig)
        // The stream is usable again after the rejection.
        #expect(try decompressor.decompress(buffer(hex("f2 48 cd c9 c9 07 00")), maxSize: 100).bytes == Array("Hello".utf8))
    }

    @Test func limitIsExact() throws {
        let compressor = try PerMessageDeflate.Compressor(windowBits: 15, noContextTakeover: true)
        var compressed = ByteBuffer()
        try compressor.compress(ByteBuffer(repeating: 0x41, count: 5000), into: &compressed)
        let decompressor = try PerMessageDeflate.Decompressor(noContextTakeover: true)
        #expect(try decompressor.decompress(compressed, maxSize: 5000).readableBytes == 5000)
        #expect(throws: WebSocketError.self) { try decompressor.decompress(compressed, maxSize: 4999) }
    }

    @Test func garbageIsInvalidCompressedData() throws {
        let decompressor = try PerMessageDeflate.Decompressor(noContextTakeover: false)
        let error = #expect(throws: WebSocketError.self) {
            try decompressor.decompress(buffer(hex("ff ff ff ff ff ff")), maxSize: 100)
        }
        #expect(error?.code == .invalidCompressedData)
        #expect(error?.closeCode == .invalidFramePayloadData)
    }

    @Test func windowBitsEightMeansUncompressed() throws {
        #expect(!PerMessageDeflate.Compressor.canCompress(windowBits: 8))
        #expect(PerMessageDeflate.Compressor.canCompress(windowBits: 9))
        _ = try PerMessageDeflate.Compressor(windowBits: 9, noContextTakeover: false)
    }

    // MARK: Negotiation

    @Test func offers() {
        #expect(PerMessageDeflate.offer(.init()) == "permessage-deflate; client_max_window_bits")
        let strict = PerMessageDeflate.Configuration(
            clientNoContextTakeover: true, serverNoContextTakeover: true, clientMaxWindowBits: 12, serverMaxWindowBits: 10)
        #expect(
            PerMessageDeflate.offer(strict)
                == "permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"
        )
    }

    static func negotiate(_ header: String, offer: PerMessageDeflate.Configuration = .init()) -> Result<PerMessageDeflate.Parameters, PerMessageDeflate.ExtensionRejection>? {
        let extensions = ClientHandshake.parseExtensions([header])
        guard extensions.count == 1, extensions[0].name == "permessage-deflate" else { return nil }
        return PerMessageDeflate.accept(parameters: extensions[0].parameters, offered: offer)
    }

    @Test func natsServerReplyAccepted() throws {
        let result = try #require(Self.negotiate("permessage-deflate; server_no_context_takeover; client_no_context_takeover"))
        let parameters = try result.get()
        #expect(parameters.serverNoContextTakeover && parameters.clientNoContextTakeover)
        #expect(parameters.clientMaxWindowBits == 15)
    }

    @Test func windowBitsReplies() throws {
        #expect(try Self.negotiate("permessage-deflate; client_max_window_bits=10")?.get().clientMaxWindowBits == 10)
        #expect(try Self.negotiate("permessage-deflate; client_max_window_bits=\"9\"")?.get().clientMaxWindowBits == 9)
        #expect(try Self.negotiate("permessage-deflate; server_max_window_bits=12")?.get().serverMaxWindowBits == 12)
        #expect(try Self.negotiate("PerMessage-Deflate ;  Server_No_Context_Takeover ")?.get().serverNoContextTakeover == true)
    }

    @Test(arguments: [
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; x-unknown",
    ])
    func badRepliesRejected(header: String) throws {
        let result = try #require(Self.negotiate(header))
        #expect(throws: PerMessageDeflate.ExtensionRejection.self) { try result.get() }
    }

    @Test func replyAboveOurOfferRejected() throws {
        let offer = PerMessageDeflate.Configuration(clientMaxWindowBits: 10, serverMaxWindowBits: 11)
        #expect(throws: PerMessageDeflate.ExtensionRejection.self) {
            try Self.negotiate("permessage-deflate; client_max_window_bits=12", offer: offer)?.get()
        }
        #expect(throws: PerMessageDeflate.ExtensionRejection.self) {
            try Self.negotiate("permessage-deflate; server_max_window_bits=12", offer: offer)?.get()
        }
        #expect(try Self.negotiate("permessage-deflate", offer: offer)?.get().clientMaxWindowBits == 10)
    }
}
