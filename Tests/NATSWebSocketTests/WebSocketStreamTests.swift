import NATSTestSupport
import NATSTransport
import NIOCore
import Synchronization
import Testing

@_spi(Benchmarks) @testable import NATSWebSocket

@Suite(.timeLimit(.minutes(1)))
struct WebSocketStreamTests {
    static func connect(
        _ client: InMemoryByteStream,
        configuration: WebSocketConfiguration = .init(),
        timeout: Duration? = .seconds(20)
    ) async throws -> WebSocketStream {
        try await WebSocketStream.connect(
            over: client, host: "localhost", port: 8080, secure: false, configuration: configuration,
            timeout: timeout, generator: SeededGenerator(seed: 7))
    }

    /// Reads the request and accepts it; returns the server.
    static func acceptedServer(_ stream: InMemoryByteStream, extraLines: [String] = [], trailing: [UInt8] = []) async throws -> ScriptedServer {
        var server = ScriptedServer(stream)
        let request = try await server.readRequest()
        try await server.accept(request: request, extraLines: extraLines, trailing: trailing)
        return server
    }

    // MARK: Exchange

    static func exchangeScript(_ stream: InMemoryByteStream) async throws {
        var server = ScriptedServer(stream)
        let request = try await server.readRequest()
        #expect(request.hasPrefix("GET / HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\n"))
        try await server.accept(request: request)
        try await server.send(.text, Array("Hello".utf8))
        try await server.send(.ping, [1, 2, 3])
        try await server.send(fin: false, .binary, [1, 2])
        try await server.send(.pong, [9])
        try await server.send(.continuation, [3])

        let pong = try #require(try await server.readFrame())
        #expect(pong.opcode == .pong && pong.payload.bytes == [1, 2, 3] && pong.maskingKey != nil)
        let data = try #require(try await server.readFrame())
        #expect(data.opcode == .binary && data.fin && data.payload.bytes == Array("abc".utf8))
        let close = try #require(try await server.readFrame())
        #expect(close.opcode == .close && close.payload.bytes == [0x03, 0xE8])
        try await server.send(.close, [0x03, 0xE8])
        #expect(try await server.readFrame() == nil)
    }

    @Test func fullExchangeWithPingAndCloseHandshake() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let script: Void = Self.exchangeScript(serverSide)
        let ws = try await Self.connect(client)
        #expect(!ws.negotiatedCompression)
        #expect(try await ws.read()?.bytes == Array("Hello".utf8))
        #expect(try await ws.read()?.bytes == [1, 2, 3])
        try await ws.write(ByteBuffer(string: "abc"))
        await ws.close()
        try await script
        #expect(try await ws.read() == nil)
        await #expect(throws: WebSocketError.self) { try await ws.write(ByteBuffer(string: "late")) }
    }

    @Test func framesInTheSameChunkAsTheResponse() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let server = Self.acceptedServer(serverSide, trailing: hex("82 02 68 69 81 01 21"))
        let ws = try await Self.connect(client)
        _ = try await server
        #expect(try await ws.read()?.bytes == Array("hi".utf8))
        #expect(try await ws.read()?.bytes == Array("!".utf8))
    }

    // MARK: Closing

    @Test func serverInitiatedNormalClose() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let accepted = Self.acceptedServer(serverSide)
        let ws = try await Self.connect(client)
        var server = try await accepted
        try await server.send(.close, [0x03, 0xE8, 0x62, 0x79, 0x65])
        #expect(try await ws.read() == nil)
        let echo = try #require(try await server.readFrame())
        #expect(echo.opcode == .close && echo.payload.bytes == [0x03, 0xE8])
        #expect(try await server.readFrame() == nil)
        await ws.close()  // idempotent after the peer's close
    }

    @Test func serverClosesWithErrorCode() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let accepted = Self.acceptedServer(serverSide)
        let ws = try await Self.connect(client)
        var server = try await accepted
        try await server.send(.close, [0x03, 0xF0] + Array("policy".utf8))
        let error = await #expect(throws: WebSocketError.self) { try await ws.read() }
        #expect(error?.code == .closedByServer)
        #expect(error?.closeCode == .policyViolation)
        #expect(error.map { "\($0)".contains("policy") } == true)
        let echo = try #require(try await server.readFrame())
        #expect(echo.payload.bytes == [0x03, 0xF0])
    }

    @Test func closeWithConcurrentReader() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let accepted = Self.acceptedServer(serverSide)
        let ws = try await Self.connect(client)
        var server = try await accepted
        let reader = Task { try await ws.read() }
        try await server.send(.binary, [1])
        // Wait until the reader has consumed the message and is reading again.
        #expect(try await reader.value?.bytes == [1])
        let secondReader = Task { try await ws.read() }
        try await server.send(.ping, [5])
        let pong = try #require(try await server.readFrame())
        #expect(pong.opcode == .pong)
        async let closing: Void = ws.close()
        let close = try #require(try await server.readFrame())
        #expect(close.opcode == .close)
        try await server.send(.close, [0x03, 0xE8])
        await closing
        #expect(try await secondReader.value == nil)
    }

    @Test func closeTimesOutWithoutEcho() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let accepted = Self.acceptedServer(serverSide)
        let ws = try await Self.connect(client, configuration: WebSocketConfiguration(closeTimeout: .milliseconds(100)))
        var server = try await accepted
        await ws.close()
        let close = try #require(try await server.readFrame())
        #expect(close.opcode == .close && close.payload.bytes == [0x03, 0xE8])
        #expect(try await server.readFrame() == nil)
    }

    // MARK: Protocol violations

    @Test func maskedFrameFromServerFailsWith1002() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let accepted = Self.acceptedServer(serverSide)
        let ws = try await Self.connect(client)
        var server = try await accepted
        try await server.sendRaw(hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"))
        let error = await #expect(throws: WebSocketError.self) { try await ws.read() }
        #expect(error?.code == .protocolError)
        let close = try #require(try await server.readFrame())
        #expect(close.opcode == .close && close.payload.bytes == [0x03, 0xEA])
        #expect(try await server.readFrame() == nil)
        #expect(try await ws.read() == nil)
    }

    @Test func oversizedMessageFailsWith1009() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let accepted = Self.acceptedServer(serverSide)
        let ws = try await Self.connect(client, configuration: WebSocketConfiguration(maxMessageSize: 100))
        var server = try await accepted
        try await server.sendRaw(hex("82 7E 00 C8"))  // announces 200 bytes; no payload needed
        let error = await #expect(throws: WebSocketError.self) { try await ws.read() }
        #expect(error?.code == .messageTooLarge)
        let close = try #require(try await server.readFrame())
        #expect(close.payload.bytes == [0x03, 0xF1])
    }

    // MARK: Compression

    @Test func compressionBothWays() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let script: Void = {
            var server = ScriptedServer(serverSide)
            let request = try await server.readRequest()
            #expect(ScriptedServer.header("Sec-WebSocket-Extensions", in: request) == "permessage-deflate; client_max_window_bits")
            try await server.accept(
                request: request,
                extraLines: ["Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"])
            let inflater = try PerMessageDeflate.Decompressor(noContextTakeover: true)
            let big = try #require(try await server.readFrame())
            #expect(big.rsv1 && big.opcode == .binary && big.payload.readableBytes < 100)
            #expect(try inflater.decompress(big.payload, maxSize: 10_000).bytes == Array(repeating: UInt8(ascii: "x"), count: 1000))
            let small = try #require(try await server.readFrame())
            #expect(!small.rsv1 && small.payload.bytes == Array("tiny".utf8))
            try await server.send(rsv1: true, .binary, hex("f2 48 cd c9 c9 07 00"))
            try await server.send(fin: false, rsv1: true, .text, hex("f2 48"))
            try await server.send(.continuation, hex("cd c9 c9 07 00"))
            try await server.send(.binary, Array("plain".utf8))
        }()
        let ws = try await Self.connect(client, configuration: WebSocketConfiguration(compression: true))
        #expect(ws.negotiatedCompression)
        try await ws.write(ByteBuffer(repeating: UInt8(ascii: "x"), count: 1000))
        try await ws.write(ByteBuffer(string: "tiny"))
        try await script
        #expect(try await ws.read()?.bytes == Array("Hello".utf8))
        #expect(try await ws.read()?.bytes == Array("Hello".utf8))
        #expect(try await ws.read()?.bytes == Array("plain".utf8))
    }

    @Test func compressedWriteSplitIntoFramesWithRSV1OnFirstOnly() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let accepted = Self.acceptedServer(
            serverSide, extraLines: ["Sec-WebSocket-Extensions: permessage-deflate"])
        let ws = try await Self.connect(client, configuration: WebSocketConfiguration(compression: true, maxFrameSize: 16))
        var server = try await accepted
        let inflater = try PerMessageDeflate.Decompressor(noContextTakeover: false)
        for round in 0..<3 {
            let payload = (0..<3000).map { UInt8(truncatingIfNeeded: ($0 / 10) &* 7 &+ round) }
            try await ws.write(buffer(payload))
            var frames: [Frame] = []
            repeat { frames.append(try #require(try await server.readFrame())) } while !frames.last!.fin
            #expect(frames.count > 1)
            #expect(frames.map(\.rsv1) == [true] + Array(repeating: false, count: frames.count - 1))
            var joined = ByteBuffer()
            for frame in frames { joined.writeImmutableBuffer(frame.payload) }
            // Context takeover: each message may refer back into the previous ones.
            #expect(try inflater.decompress(joined, maxSize: 10_000).bytes == payload)
        }
    }

    @Test func eightBitClientWindowSendsUncompressed() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let accepted = Self.acceptedServer(
            serverSide, extraLines: ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=8"])
        let ws = try await Self.connect(client, configuration: WebSocketConfiguration(compression: true))
        #expect(ws.negotiatedCompression)
        var server = try await accepted
        try await ws.write(ByteBuffer(repeating: 0x61, count: 500))
        let frame = try #require(try await server.readFrame())
        #expect(!frame.rsv1 && frame.payload.readableBytes == 500)
        try await server.send(rsv1: true, .binary, hex("f2 48 cd c9 c9 07 00"))
        #expect(try await ws.read()?.bytes == Array("Hello".utf8))
    }

    @Test func compressedBombFailsWith1009() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let accepted = Self.acceptedServer(
            serverSide, extraLines: ["Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"])
        var configuration = WebSocketConfiguration(compression: true)
        configuration.deflate.maxInflatedMessageSize = 1 << 20
        let ws = try await Self.connect(client, configuration: configuration)
        var server = try await accepted
        let compressor = try PerMessageDeflate.Compressor(windowBits: 15, noContextTakeover: true)
        var bomb = ByteBuffer()
        try compressor.compress(ByteBuffer(repeating: 0, count: 16 << 20), into: &bomb)
        try await server.send(rsv1: true, .binary, bomb.bytes)
        let error = await #expect(throws: WebSocketError.self) { try await ws.read() }
        #expect(error?.code == .messageTooLarge)
        let close = try #require(try await server.readFrame())
        #expect(close.payload.bytes == [0x03, 0xF1])
    }

    @Test func rsv1WithoutNegotiationFails() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let accepted = Self.acceptedServer(serverSide)
        let ws = try await Self.connect(client, configuration: WebSocketConfiguration(compression: true))
        #expect(!ws.negotiatedCompression)
        let server = try await accepted
        try await server.send(rsv1: true, .binary, hex("f2 48 cd c9 c9 07 00"))
        let error = await #expect(throws: WebSocketError.self) { try await ws.read() }
        #expect(error?.code == .protocolError)
    }

    // MARK: Writing

    @Test func largeWriteIsSplitIntoFrames() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let accepted = Self.acceptedServer(serverSide)
        let ws = try await Self.connect(client, configuration: WebSocketConfiguration(maxFrameSize: 1000))
        var server = try await accepted
        let payload = (0..<2500).map { UInt8(truncatingIfNeeded: $0) }
        try await ws.write(buffer(payload))
        var frames: [Frame] = []
        for _ in 0..<3 { frames.append(try #require(try await server.readFrame())) }
        #expect(frames.map(\.opcode) == [.binary, .continuation, .continuation])
        #expect(frames.map(\.fin) == [false, false, true])
        #expect(frames.flatMap(\.payload.bytes) == payload)
    }

    @Test func concurrentWriterAndPongsDoNotInterleave() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let accepted = Self.acceptedServer(serverSide)
        let ws = try await Self.connect(client, configuration: WebSocketConfiguration(maxFrameSize: 700))
        var server = try await accepted
        let messages = 100
        let pings = 50
        let reader = Task { while try await ws.read() != nil {} }
        let writer = Task {
            for i in 0..<messages {
                try await ws.write(ByteBuffer(repeating: UInt8(truncatingIfNeeded: i), count: 2000))
            }
        }
        for i in 0..<pings { try await server.send(.ping, [UInt8(i)]) }
        var received = 0
        var pongs: [UInt8] = []
        var current: [UInt8] = []
        while received < messages || pongs.count < pings {
            let frame = try #require(try await server.readFrame())
            switch frame.opcode {
            case .pong:
                pongs += frame.payload.bytes
            case .binary, .continuation:
                #expect((frame.opcode == .binary) == current.isEmpty)
                current += frame.payload.bytes
                if frame.fin {
                    #expect(current == [UInt8](repeating: UInt8(truncatingIfNeeded: received), count: 2000))
                    received += 1
                    current = []
                }
            default:
                Issue.record("unexpected opcode \(frame.opcode)")
            }
        }
        #expect(pongs == (0..<pings).map { UInt8($0) })
        try await writer.value
        try await server.send(.close, [0x03, 0xE8])
        try await reader.value
    }

    // MARK: Handshake over the stream

    @Test func handshakeTimesOut() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let silent: Void = {
            var server = ScriptedServer(serverSide)
            _ = try await server.readRequest()
            #expect(try await serverSide.read() == nil)  // the client gives up and closes
        }()
        let error = await #expect(throws: WebSocketError.self) {
            try await Self.connect(client, timeout: .milliseconds(100))
        }
        #expect(error?.code == .handshakeTimedOut)
        try await silent
    }

    @Test func rejectedHandshakeClosesTransport() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let script: Void = {
            var server = ScriptedServer(serverSide)
            _ = try await server.readRequest()
            try await serverSide.write(ByteBuffer(string: "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"))
            #expect(try await serverSide.read() == nil)
        }()
        let error = await #expect(throws: WebSocketError.self) { try await Self.connect(client) }
        #expect(error?.code == .unexpectedStatus)
        #expect(error?.statusLine == "HTTP/1.1 401 Unauthorized")
        try await script
    }

    @Test func connectionEndsDuringHandshake() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        async let script: Void = {
            var server = ScriptedServer(serverSide)
            _ = try await server.readRequest()
            try await serverSide.write(ByteBuffer(string: "HTTP/1.1 101 Switching"))
            await serverSide.close()
        }()
        let error = await #expect(throws: WebSocketError.self) { try await Self.connect(client) }
        #expect(error?.code == .closedDuringHandshake)
        try await script
    }
}

/// A stream whose writes can be held at a gate, to simulate a writer stuck in the transport.
final class GatedStream: ByteStream {
    private struct State {
        var armed = false
        var held: CheckedContinuation<Void, Never>?
        var entered: CheckedContinuation<Void, Never>?
        var hasEntered = false
    }

    private let inner: InMemoryByteStream
    private let state = Mutex(State())

    init(_ inner: InMemoryByteStream) { self.inner = inner }

    func arm() { state.withLock { $0.armed = true } }

    /// Returns once a write is held at the gate.
    func waitUntilHeld() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                if state.hasEntered { return true }
                state.entered = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }

    func release() {
        let held = state.withLock { state in
            state.armed = false
            defer { state.held = nil }
            return state.held
        }
        held?.resume()
    }

    func read() async throws -> ByteBuffer? { try await inner.read() }

    func write(_ bytes: ByteBuffer) async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (pass, entered) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                guard state.armed else { return (true, nil) }
                state.held = continuation
                state.hasEntered = true
                defer { state.entered = nil }
                return (false, state.entered)
            }
            entered?.resume()
            if pass { continuation.resume() }
        }
        try await inner.write(bytes)
    }

    /// Like a real transport, closing makes a pending write finish.
    func close() async {
        await inner.close()
        release()
    }
}

@Suite(.timeLimit(.minutes(1)))
struct PongWhileWriterBusyTests {
    @Test func readerKeepsReadingWhileWriterIsBlocked() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        let gated = GatedStream(client)
        async let accepted = WebSocketStreamTests.acceptedServer(serverSide)
        let ws = try await WebSocketStream.connect(
            over: gated, host: "localhost", port: 8080, secure: false, configuration: .init(),
            timeout: .seconds(20), generator: SeededGenerator(seed: 3))
        var server = try await accepted

        gated.arm()
        let writer = Task { try await ws.write(ByteBuffer(string: "blocked")) }
        await gated.waitUntilHeld()
        try await server.send(.ping, [7])
        try await server.send(.binary, [42])
        // The reader answered the ping without waiting for the stuck writer.
        #expect(try await ws.read()?.bytes == [42])
        gated.release()
        try await writer.value

        let data = try #require(try await server.readFrame())
        #expect(data.opcode == .binary && data.payload.bytes == Array("blocked".utf8))
        let pong = try #require(try await server.readFrame())
        #expect(pong.opcode == .pong && pong.payload.bytes == [7])
    }

    @Test func closeIsBoundedWhileWriterIsStuck() async throws {
        let (client, serverSide) = InMemoryByteStream.pair()
        let gated = GatedStream(client)
        async let accepted = WebSocketStreamTests.acceptedServer(serverSide)
        let ws = try await WebSocketStream.connect(
            over: gated, host: "localhost", port: 8080, secure: false,
            configuration: WebSocketConfiguration(closeTimeout: .milliseconds(100)),
            timeout: .seconds(20), generator: SeededGenerator(seed: 4))
        _ = try await accepted
        gated.arm()
        let writer = Task { try await ws.write(ByteBuffer(string: "stuck")) }
        await gated.waitUntilHeld()
        await ws.close()
        await #expect(throws: (any Error).self) { try await writer.value }
        #expect(try await ws.read() == nil)
    }
}
