import NATSTestSupport
import NIOCore
import Testing
@testable import NATSClient

/// A scripted server misbehaving after (or during) the handshake: the client reports a typed
/// error or carries on, within its timeouts; it never crashes and never hangs.
@Suite(.timeLimit(.minutes(1))) struct HostileServerTests {
    func disconnectText(after bytes: String) async throws -> String {
        let log = EventLog()
        let (client, server, _, _) = try await connectedPair(ConnectOptions().noReconnect().eventHandler(log.handler))
        try await server.send(bytes)
        #expect(await log.waitFor("closed"))
        #expect(client.isClosed)
        return log.all.first { $0.hasPrefix("disconnected") } ?? ""
    }

    @Test(arguments: [
        ("GARBAGE\r\n", "unknown operation"),
        (String(repeating: "x", count: 5000), "control line too long"),
        ("MSG a 1 -5\r\nhello\r\n", "invalid number"),
        ("MSG a 1 99999999999999999999999\r\n", "invalid number"),
        ("MSG a 1 1000000000\r\n", "payload too large"),
        ("HMSG a 1 10 5\r\nhello\r\n", "header size exceeds total size"),
        ("MSG a 1 3\r\nabcXY", "payload not followed by CRLF"),
        ("INFO {\"port\":\"not a number\"}\r\n", "invalid INFO"),
        ("INFO [1,2,3]\r\n", "invalid INFO"),
    ])
    func protocolViolationsEndTheConnectionWithAProtocolError(bytes: String, reason: String) async throws {
        let text = try await disconnectText(after: bytes)
        #expect(text.contains("protocol"), "\(text)")
        #expect(text.contains(reason), "\(text)")
    }

    @Test func truncatedPayloadThenCloseIsAConnectionError() async throws {
        let log = EventLog()
        let (client, server, _, _) = try await connectedPair(ConnectOptions().noReconnect().eventHandler(log.handler))
        try await server.send("MSG a 1 100\r\nonly part")
        await server.stream.close()
        #expect(await log.waitFor("closed"))
        #expect(log.all.contains { $0.hasPrefix("disconnected") && $0.contains("connection") })
        #expect(client.isClosed)
    }

    @Test func messagesForUnknownSubscriptionsAreIgnored() async throws {
        let (client, server, _, _) = try await connectedPair()
        try await server.send("MSG nobody 999 5\r\nhello\r\nPING\r\n")
        #expect(try await server.nextOp() == .pong)
        #expect(client.isConnected)
        await client.close()
    }

    @Test func hostileHeadersReachTheSubscriberAsRawBytes() async throws {
        let (client, server, _, _) = try await connectedPair()
        let sub = try await client.subscribe(to: "h")
        _ = try await server.nextOp()
        let block = "NATS/1.0\r\nNäme: x\r\nNoColon\r\n\r\n"
        let size = block.utf8.count
        try await server.send("HMSG h \(sub.sid) \(size) \(size + 2)\r\n\(block)ok\r\n")
        var it = sub.makeAsyncIterator()
        let m = try #require(try await it.next())
        #expect(m.headers == nil)
        #expect(m.rawHeaders?.readableBytes == size)
        #expect(m.string == "ok")
        #expect(client.isConnected)
        await client.close()
    }

    @Test func thousandsOfINFOsDoNotHurt() async throws {
        let (client, server, _, _) = try await connectedPair()
        var burst = ""
        for i in 0..<5000 { burst += "INFO {\"server_id\":\"S\(i)\",\"max_payload\":2048}\r\n" }
        try await server.send(burst + "PING\r\n")
        #expect(try await server.nextOp(timeout: .seconds(20)) == .pong)
        #expect(client.serverInfo?.serverID == "S4999")
        #expect(client.serverInfo?.maxPayload == 2048)
        await client.close()
    }

    @Test func aByteAtATimeHandshakeHitsTheTimeout() async throws {
        let cluster = FakeCluster()
        let options = ConnectOptions().dialer(cluster.dialer).connectionTimeout(.milliseconds(300))
        let drip = Task {
            let server = await cluster.next()
            for byte in "INFO {\"server_id\":\"slow\"}\r\n".utf8 {
                try await server.stream.write(ByteBuffer(bytes: [byte]))
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let start = ContinuousClock.now
        do {
            _ = try await NATSClient.connect("nats://slow:4222", options: options)
            Issue.record("expected a handshake timeout")
        } catch {
            #expect(error.kind == .timeout)
        }
        #expect(ContinuousClock.now - start < .seconds(3))
        drip.cancel()
    }

    @Test func aServerThatSendsAMessageBeforeTheHandshakeCompletes() async throws {
        let cluster = FakeCluster()
        async let client = NATSClient.connect("nats://bad:4222", options: ConnectOptions().dialer(cluster.dialer).noReconnect())
        let server = await cluster.next()
        try await server.sendInfo()
        _ = try await server.nextOp()
        _ = try await server.nextOp()
        try await server.send("MSG x 1 1\r\na\r\n")
        do {
            _ = try await client
            Issue.record("expected a protocol error")
        } catch {
            #expect((error as? NATSError)?.kind == .protocol)
        }
    }
}
