import NIOCore
import Testing
@testable import NATSWire

/// Parses `input` chunked in several ways and checks every way gives `expected`.
func verifyParser(_ input: String, _ expected: [ServerOp], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let bytes = Array(input.utf8)
    var chunkings: [[Int]] = [[bytes.count], Array(repeating: 1, count: bytes.count)]
    for split in 0...bytes.count { chunkings.append([split, bytes.count - split]) }
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<20 {
        var sizes: [Int] = []
        var left = bytes.count
        while left > 0 {
            let n = Int.random(in: 1...max(1, min(left, 7)), using: &rng)
            sizes.append(n)
            left -= n
        }
        chunkings.append(sizes)
    }
    for sizes in chunkings {
        var parser = ServerOpParser()
        var ops: [ServerOp] = []
        var offset = 0
        for size in sizes {
            parser.append(ByteBuffer(bytes: bytes[offset..<offset + size]))
            offset += size
            while let op = try parser.next() { ops.append(op) }
        }
        #expect(ops == expected, "chunking \(sizes)", sourceLocation: sourceLocation)
        #expect(parser.bufferedBytes == 0, sourceLocation: sourceLocation)
    }
}

func parseError(_ input: String, limits: ServerOpParser.Limits = .init()) -> ProtocolError? {
    var parser = ServerOpParser(limits: limits)
    parser.append(ByteBuffer(string: input))
    do {
        while try parser.next() != nil {}
        return nil
    } catch {
        return error
    }
}

func msg(_ subject: String, _ sid: UInt64, reply: String? = nil, headers: String? = nil, _ payload: String) -> ServerOp {
    .msg(MessageOp(
        subjectBytes: ByteBuffer(string: subject), sid: sid,
        replyBytes: reply.map { ByteBuffer(string: $0) },
        headerBytes: headers.map { ByteBuffer(string: $0) },
        payload: ByteBuffer(string: payload)
    ))
}

@Suite struct ParserTests {
    @Test func simpleOperations() throws {
        try verifyParser("PING\r\nPONG\r\n+OK\r\n", [.ping, .pong, .ok])
    }

    @Test func operationNamesAreCaseInsensitive() throws {
        try verifyParser("ping\r\nPoNg\r\n+ok\r\nmsg a 1 2\r\nhi\r\nhmsg b 2 12 12\r\nNATS/1.0\r\n\r\n\r\n",
                         [.ping, .pong, .ok, msg("a", 1, "hi"), msg("b", 2, headers: "NATS/1.0\r\n\r\n", "")])
    }

    @Test func msgWithAndWithoutReply() throws {
        try verifyParser("MSG foo.bar 9 11\r\nHello World\r\nMSG foo 10 INBOX.34 0\r\n\r\n", [
            msg("foo.bar", 9, "Hello World"),
            msg("foo", 10, reply: "INBOX.34", ""),
        ])
    }

    @Test func tabsAndSpacesSeparateArguments() throws {
        try verifyParser("MSG\tfoo  9\t \tbar 3\r\nabc\r\n", [msg("foo", 9, reply: "bar", "abc")])
    }

    @Test func payloadMayContainCRLF() throws {
        try verifyParser("MSG a 1 5\r\n\r\nX\r\n\r\n", [msg("a", 1, "\r\nX\r\n")])
    }

    @Test func hmsg() throws {
        let h = "NATS/1.0\r\nA: b\r\n\r\n"
        try verifyParser("HMSG foo 3 \(h.utf8.count) \(h.utf8.count + 5)\r\n\(h)hello\r\n", [msg("foo", 3, headers: h, "hello")])
        try verifyParser("HMSG foo 3 _INBOX.x \(h.utf8.count) \(h.utf8.count)\r\n\(h)\r\n", [msg("foo", 3, reply: "_INBOX.x", headers: h, "")])
    }

    @Test func info() throws {
        let json = #"{"server_id":"ID","server_name":"n1","version":"2.15.1","go":"go1.24","host":"0.0.0.0","port":4222,"headers":true,"max_payload":1024,"proto":1,"client_id":7,"client_ip":"127.0.0.1","auth_required":true,"tls_required":false,"tls_available":true,"tls_verify":false,"connect_urls":["10.0.0.1:4222","[::1]:4223"],"ws_connect_urls":["10.0.0.1:8080"],"ldm":true,"nonce":"abc","cluster":"c","domain":"d","jetstream":true,"xkey":"X","unknown_future_field":{"a":[1,2]}}"#
        var expected = ServerInfo()
        expected.serverID = "ID"; expected.serverName = "n1"; expected.version = "2.15.1"; expected.goVersion = "go1.24"
        expected.host = "0.0.0.0"; expected.port = 4222; expected.headers = true; expected.maxPayload = 1024
        expected.proto = 1; expected.clientID = 7; expected.clientIP = "127.0.0.1"; expected.authRequired = true
        expected.tlsAvailable = true; expected.connectURLs = ["10.0.0.1:4222", "[::1]:4223"]
        expected.wsConnectURLs = ["10.0.0.1:8080"]; expected.lameDuckMode = true; expected.nonce = "abc"
        expected.cluster = "c"; expected.domain = "d"; expected.jetStream = true; expected.xkey = "X"
        try verifyParser("INFO \(json)\r\n", [.info(expected)])
        try verifyParser("INFO {}\r\n", [.info(ServerInfo())])
    }

    @Test func infoWithWrongTypesIsAnError() {
        #expect(parseError("INFO {\"port\":\"x\"}\r\n")?.kind == .invalidInfo)
        #expect(parseError("INFO [1]\r\n")?.kind == .invalidInfo)
        #expect(parseError("INFO not json\r\n")?.kind == .invalidInfo)
    }

    @Test func err() throws {
        try verifyParser("-ERR 'Authorization Violation'\r\n", [.err(ServerError(text: "Authorization Violation"))])
    }

    @Test func errors() {
        #expect(parseError(String(repeating: "x", count: 5000))?.kind == .controlLineTooLong)
        #expect(parseError("MSG " + String(repeating: "a", count: 4100) + " 1 1\r\nx\r\n")?.kind == .controlLineTooLong)
        #expect(parseError("MSG a b 5\r\nhello\r\n")?.kind == .invalidNumber)
        #expect(parseError("MSG a 1 -5\r\nhello\r\n")?.kind == .invalidNumber)
        #expect(parseError("MSG a 1 99999999999999999999999\r\n")?.kind == .invalidNumber)
        #expect(parseError("MSG a 1 9223372036854775808\r\n")?.kind == .invalidNumber)
        #expect(parseError("HMSG a 1 10 5\r\nhello\r\n")?.kind == .headerSizeExceedsTotal)
        #expect(parseError("MSG a 1 5\r\nhelloXX")?.kind == .missingPayloadTerminator)
        #expect(parseError("FOO bar\r\n")?.kind == .unknownOperation)
        #expect(parseError("MSG a\r\n")?.kind == .invalidArguments)
        #expect(parseError("MSG a 1 2 3 4\r\n")?.kind == .invalidArguments)
        #expect(parseError("HMSG a 1 2\r\n")?.kind == .invalidArguments)
        var limits = ServerOpParser.Limits()
        limits.maxMessageSize = 10
        #expect(parseError("MSG a 1 11\r\n", limits: limits)?.kind == .payloadTooLarge)
    }

    /// Found by fuzzing (Tests/Fuzz): case folding with `| 0x20` made VT match `+` and CR match `-`.
    @Test func onlyLettersFoldInOperationNames() {
        #expect(parseError("\u{0B}OK\r\n")?.kind == .unknownOperation)
        #expect(parseError("\rERR 'x'\r\n")?.kind == .unknownOperation)
        #expect(parseError("\u{0B}ok\r\n")?.kind == .unknownOperation)
    }

    /// Found by fuzzing (Tests/Fuzz): `Int.max` limits overflowed (`maxControlLine + 2`,
    /// `totalSize + 2`) and negative ones trapped in `UInt64(_:)`.
    @Test func extremeLimitsDoNotTrap() throws {
        var huge = ServerOpParser.Limits()
        huge.maxControlLine = .max
        huge.maxMessageSize = .max
        var parser = ServerOpParser(limits: huge)
        parser.append(ByteBuffer(string: "PING\r\nMSG a 1 9223372036854775807\r\nabc"))
        #expect(try parser.next() == .ping)
        #expect(try parser.next() == nil)

        var negative = ServerOpParser.Limits()
        negative.maxControlLine = -1
        negative.maxMessageSize = -1
        #expect(parseError("MSG a 1 0\r\n\r\n", limits: negative)?.kind == .controlLineTooLong)
        negative.maxControlLine = 100
        #expect(parseError("MSG a 1 1\r\nx\r\n", limits: negative)?.kind == .payloadTooLarge)
        #expect(parseError("MSG a 1 0\r\n\r\n", limits: negative) == nil)
    }

    @Test func parserStaysFailed() {
        var parser = ServerOpParser()
        parser.append(ByteBuffer(string: "BOGUS\r\nPING\r\n"))
        #expect(throws: ProtocolError.self) { try parser.next() }
        #expect(throws: ProtocolError.self) { try parser.next() }
    }

    @Test func incompleteInputWaits() throws {
        var parser = ServerOpParser()
        parser.append(ByteBuffer(string: "MSG a 1 5\r\nhel"))
        #expect(try parser.next() == nil)
        parser.append(ByteBuffer(string: "lo\r"))
        #expect(try parser.next() == nil)
        parser.append(ByteBuffer(string: "\n"))
        #expect(try parser.next() == msg("a", 1, "hello"))
    }

    @Test(arguments: [0, 1, 1024, 1 << 20])
    func payloadSizes(size: Int) throws {
        let payload = String(repeating: "z", count: size)
        var parser = ServerOpParser()
        parser.append(ByteBuffer(string: "MSG s 1 \(size)\r\n\(payload)\r\n"))
        guard case .msg(let m) = try parser.next() else { Issue.record("no message"); return }
        #expect(m.payload.readableBytes == size)
        #expect(m.subject == "s")
    }

    @Test func accessors() {
        let op = MessageOp(subjectBytes: ByteBuffer(string: "s"), sid: 1, replyBytes: ByteBuffer(string: "r"),
                           headerBytes: ByteBuffer(string: "NATS/1.0\r\n\r\n"), payload: ByteBuffer(string: "pp"))
        #expect(op.subject == "s")
        #expect(op.replyTo == "r")
        #expect(op.totalSize == 14)
    }
}
