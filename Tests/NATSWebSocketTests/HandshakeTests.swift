import NIOCore
import Testing

@_spi(Benchmarks) @testable import NATSWebSocket

@Suite struct HandshakeTests {
    static let key = "dGhlIHNhbXBsZSBub25jZQ=="
    static let accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    @Test func acceptKeyMatchesRFC6455Example() {
        #expect(ClientHandshake.acceptValue(forKey: Self.key) == Self.accept)
    }

    @Test func base64() {
        #expect(Base64.encode([]) == "")
        #expect(Base64.encode(Array("f".utf8)) == "Zg==")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.encode(Array("foo".utf8)) == "Zm9v")
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
    }

    @Test func keyIsSixteenRandomBytes() {
        var generator = SeededGenerator(seed: 42)
        let a = ClientHandshake.makeKey(using: &generator)
        let b = ClientHandshake.makeKey(using: &generator)
        #expect(a.count == 24 && a.hasSuffix("==") && a != b)
    }

    // MARK: Request

    @Test func requestLayout() throws {
        var configuration = WebSocketConfiguration(
            path: "/nats?a=1", origin: "https://example.com", extraHeaders: [("Authorization", "Bearer xyz"), ("X-Trace", "1")])
        configuration.compression = true
        let request = try ClientHandshake.request(
            host: "example.com", port: 8443, secure: true, configuration: configuration, key: Self.key)
        #expect(
            request == """
                GET /nats?a=1 HTTP/1.1\r
                Host: example.com:8443\r
                Upgrade: websocket\r
                Connection: Upgrade\r
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
                Sec-WebSocket-Version: 13\r
                Origin: https://example.com\r
                Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r
                Authorization: Bearer xyz\r
                X-Trace: 1\r
                \r

                """)
    }

    @Test func emptyPathIsSlashAndNoExtensionsWithoutCompression() throws {
        let request = try ClientHandshake.request(
            host: "h", port: 80, secure: false, configuration: WebSocketConfiguration(path: ""), key: Self.key)
        #expect(request.hasPrefix("GET / HTTP/1.1\r\nHost: h\r\n"))
        #expect(!request.contains("Sec-WebSocket-Extensions"))
        #expect(!request.contains("Origin"))
    }

    @Test func hostHeader() {
        #expect(ClientHandshake.hostHeader(host: "example.com", port: 80, secure: false) == "example.com")
        #expect(ClientHandshake.hostHeader(host: "example.com", port: 443, secure: true) == "example.com")
        #expect(ClientHandshake.hostHeader(host: "example.com", port: 443, secure: false) == "example.com:443")
        #expect(ClientHandshake.hostHeader(host: "example.com", port: 80, secure: true) == "example.com:80")
        #expect(ClientHandshake.hostHeader(host: "::1", port: 8080, secure: false) == "[::1]:8080")
        #expect(ClientHandshake.hostHeader(host: "2001:db8::1", port: 443, secure: true) == "[2001:db8::1]")
        #expect(ClientHandshake.hostHeader(host: "10.0.0.1", port: 4222, secure: false) == "10.0.0.1:4222")
    }

    @Test(arguments: [
        WebSocketConfiguration(path: "nats"),
        WebSocketConfiguration(path: "/a b"),
        WebSocketConfiguration(path: "/a\r\nX: y"),
        WebSocketConfiguration(origin: "x\r\nEvil: 1"),
        WebSocketConfiguration(extraHeaders: [("Bad Name", "v")]),
        WebSocketConfiguration(extraHeaders: [("X-Ok", "v\r\nInjected: 1")]),
        WebSocketConfiguration(extraHeaders: [("sec-websocket-key", "v")]),
        WebSocketConfiguration(extraHeaders: [("Host", "other")]),
        WebSocketConfiguration(compression: true, deflate: .init(clientMaxWindowBits: 16)),
        WebSocketConfiguration(maxFrameSize: 0),
    ])
    func invalidConfigurationRejected(configuration: WebSocketConfiguration) {
        let error = #expect(throws: WebSocketError.self) {
            try ClientHandshake.request(host: "h", port: 80, secure: false, configuration: configuration, key: Self.key)
        }
        #expect(error?.code == .invalidConfiguration)
    }

    @Test func secretHeaderValueNotInError() {
        let configuration = WebSocketConfiguration(extraHeaders: [("Authorization", "Bearer s3cr3t\n")])
        let error = #expect(throws: WebSocketError.self) {
            try ClientHandshake.request(host: "h", port: 80, secure: false, configuration: configuration, key: Self.key)
        }
        #expect(error.map { !"\($0)".contains("s3cr3t") } == true)
    }

    @Test func badHostRejected() {
        for host in ["", "a b", "a\r\nb", "a/b"] {
            #expect(throws: WebSocketError.self) {
                try ClientHandshake.request(host: host, port: 80, secure: false, configuration: .init(), key: Self.key)
            }
        }
    }

    // MARK: Response

    static func response(_ lines: [String]) -> [UInt8] {
        Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    static let good = response([
        "HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: \(accept)",
    ])

    static func run(_ bytes: [UInt8], chunk: Int? = nil, offer: PerMessageDeflate.Configuration? = nil) throws(WebSocketError) -> ClientHandshake.Result? {
        var handshake = ClientHandshake(key: key, offeredDeflate: offer)
        let size = chunk ?? max(1, bytes.count)
        var index = 0
        while index < bytes.count {
            let piece = Array(bytes[index..<min(index + size, bytes.count)])
            index += size
            if let result = try handshake.receive(buffer(piece)) {
                return result
            }
        }
        return nil
    }

    @Test func goodResponseAccepted() throws {
        let result = try #require(try Self.run(Self.good))
        #expect(result.deflate == nil)
        #expect(result.leftover.readableBytes == 0)
    }

    @Test func responseInOneByteChunks() throws {
        let result = try #require(try Self.run(Self.good, chunk: 1))
        #expect(result.deflate == nil)
    }

    @Test func responseAtEverySplitPoint() throws {
        let bytes = Self.good + hex("81 02 68 69")
        for split in 1..<bytes.count {
            var handshake = ClientHandshake(key: Self.key, offeredDeflate: nil)
            var stillToFeed = Array(bytes[split...])
            var result = try handshake.receive(buffer(Array(bytes[..<split])))
            if result == nil {
                result = try handshake.receive(buffer(stillToFeed))
                stillToFeed = []
            }
            // The frame bytes are the leftover plus whatever was not fed yet.
            let leftover = try #require(result).leftover
            #expect(leftover.bytes + stillToFeed == hex("81 02 68 69"), "split \(split)")
        }
    }

    @Test func framesAfterHeaderBlockAreLeftover() throws {
        let result = try #require(try Self.run(Self.good + hex("81 05 48 65 6c 6c 6f")))
        #expect(result.leftover.bytes == hex("81 05 48 65 6c 6c 6f"))
    }

    @Test func caseInsensitiveTokensAndConnectionList() throws {
        let bytes = Self.response([
            "HTTP/1.1 101 Switching Protocols", "upgrade: WebSocket", "connection: keep-alive, UPGRADE",
            "sec-websocket-accept: \(Self.accept)", "Server: test",
        ])
        #expect(try Self.run(bytes) != nil)
    }

    @Test func deflateNegotiated() throws {
        let bytes = Self.response([
            "HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: \(Self.accept)",
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        ])
        let result = try #require(try Self.run(bytes, offer: .init()))
        #expect(result.deflate?.serverNoContextTakeover == true)
        #expect(result.deflate?.clientNoContextTakeover == true)
    }

    @Test func serverDeclinesDeflate() throws {
        let result = try #require(try Self.run(Self.good, offer: .init()))
        #expect(result.deflate == nil)
    }

    static let failures: [(String, [UInt8], WebSocketError.Code)] = [
        (
            "403", response(["HTTP/1.1 403 Forbidden", "Content-Length: 0"]), .unexpectedStatus
        ),
        (
            "200", response(["HTTP/1.1 200 OK", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: \(accept)"]),
            .unexpectedStatus
        ),
        ("not HTTP", response(["SSH-2.0-OpenSSH_9.0"]), .malformedResponse),
        ("no Upgrade", response(["HTTP/1.1 101 Switching Protocols", "Connection: Upgrade", "Sec-WebSocket-Accept: \(accept)"]), .invalidUpgrade),
        (
            "no Connection upgrade",
            response(["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: close", "Sec-WebSocket-Accept: \(accept)"]),
            .invalidUpgrade
        ),
        ("missing accept", response(["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade"]), .missingAccept),
        (
            "wrong accept",
            response(["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: AAAA"]),
            .invalidAccept
        ),
        (
            "two accepts",
            response([
                "HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: \(accept)",
                "Sec-WebSocket-Accept: \(accept)",
            ]),
            .invalidAccept
        ),
        (
            "unoffered extension",
            response([
                "HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: \(accept)",
                "Sec-WebSocket-Extensions: permessage-deflate",
            ]),
            .unexpectedExtension
        ),
        (
            "subprotocol",
            response([
                "HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: \(accept)",
                "Sec-WebSocket-Protocol: chat",
            ]),
            .unexpectedSubprotocol
        ),
        (
            "header without colon",
            response(["HTTP/1.1 101 Switching Protocols", "Upgrade websocket"]),
            .malformedResponse
        ),
    ]

    @Test(arguments: 0..<failures.count)
    func badResponseRejected(index: Int) {
        let (name, bytes, code) = Self.failures[index]
        for chunk in [nil, 1] as [Int?] {
            let error = #expect(throws: WebSocketError.self, "\(name)") { try Self.run(bytes, chunk: chunk) }
            #expect(error?.code == code, "\(name): \(String(describing: error))")
        }
    }

    @Test func statusLineShownInError() {
        let error = #expect(throws: WebSocketError.self) {
            try Self.run(Self.response(["HTTP/1.1 404 Not Found", "Content-Length: 0"]))
        }
        #expect(error?.statusLine == "HTTP/1.1 404 Not Found")
        #expect(error.map { "\($0)".contains("HTTP/1.1 404 Not Found") } == true)
    }

    @Test func unknownExtensionWhenDeflateOffered() {
        let bytes = Self.response([
            "HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: \(Self.accept)",
            "Sec-WebSocket-Extensions: x-webkit-deflate-frame",
        ])
        let error = #expect(throws: WebSocketError.self) { try Self.run(bytes, offer: .init()) }
        #expect(error?.code == .unexpectedExtension)
    }

    /// Found by the ws-handshake fuzz target: a header block just under the limit was
    /// rejected when its final CRLFCRLF arrived in pieces, but accepted in one chunk.
    @Test(arguments: [1, 2, 3, 4, 7, 1000])
    func headerBlockAtTheLimitAcceptedInAnyChunking(chunk: Int) throws {
        for size in ClientHandshake.maxHeaderBlockSize - 2...ClientHandshake.maxHeaderBlockSize {
            let start = Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(Self.accept)\r\nX-Pad: ".utf8)
            let bytes = start + Array(repeating: UInt8(ascii: "a"), count: size - start.count) + Array("\r\n\r\n".utf8)
            let result = try #require(try Self.run(bytes, chunk: chunk), "size \(size)")
            #expect(result.leftover.readableBytes == 0)
        }
        let start = Array("HTTP/1.1 101 Switching Protocols\r\nX-Pad: ".utf8)
        let over = start + Array(repeating: UInt8(ascii: "a"), count: ClientHandshake.maxHeaderBlockSize + 1 - start.count) + Array("\r\n\r\n".utf8)
        let error = #expect(throws: WebSocketError.self) { try Self.run(over, chunk: chunk) }
        #expect(error?.code == .responseTooLarge)
    }

    @Test func oversizedHeaderBlockRejected() {
        var handshake = ClientHandshake(key: Self.key, offeredDeflate: nil)
        let line = Array("X-Padding: \(String(repeating: "a", count: 1000))\r\n".utf8)
        let error = #expect(throws: WebSocketError.self) {
            _ = try handshake.receive(buffer(Array("HTTP/1.1 101 Switching Protocols\r\n".utf8)))
            for _ in 0..<20 { _ = try handshake.receive(buffer(line)) }
        }
        #expect(error?.code == .responseTooLarge)
    }
}
