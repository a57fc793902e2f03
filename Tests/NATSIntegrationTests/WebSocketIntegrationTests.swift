import Foundation
import NATSClient
import NATSTestSupport
import Testing

@Suite(.timeLimit(.minutes(2))) struct WebSocketIntegrationTests {
    func exercise(_ client: NATSClient, bigSize: Int = 1024 * 1024 - 512) async throws {
        let sub = try await client.subscribe(to: "ws.>")
        try await client.flush()
        try await client.publish("small", to: "ws.a")
        let big = (0..<bigSize).map { UInt8(truncatingIfNeeded: $0 % 251) }
        try await client.publish(big, to: "ws.big")
        let got = try await collect(sub, count: 2)
        #expect(got[0].string == "small")
        #expect(got[1].bytes == big)

        let service = try await client.subscribe(to: "wsvc")
        let responder = Task {
            for try await m in service {
                if let r = m.replyTo { try await client.publish(m.payload, to: r) }
            }
        }
        #expect(try await client.request("echo me", to: "wsvc", timeout: .seconds(5)).string == "echo me")
        responder.cancel()
    }

    @Test(arguments: [false, true])
    func plainWebSocket(compression: Bool) async throws {
        try await withNATSServer(NATSServer.Options(websocket: .init(compression: compression))) { server in
            let url = try #require(server.websocketURL)
            #expect(url.hasPrefix("ws://"))
            let client = try await ConnectOptions().webSocketCompression(compression).connect(url)
            try await exercise(client)
            await client.close()
        }
    }

    @Test(arguments: [false, true])
    func secureWebSocket(compression: Bool) async throws {
        let certs = try await TestCertificates.shared()
        let tls = NATSServer.Options.TLSFiles(certFile: certs.serverCertificate, keyFile: certs.serverKey)
        try await withNATSServer(NATSServer.Options(websocket: .init(tls: tls, compression: compression))) { server in
            let port = try #require(server.websocketPort)
            let url = "wss://localhost:\(port)"
            let client = try await ConnectOptions().addRootCertificates(certs.caCertificate).webSocketCompression(compression).connect(url)
            #expect(client.tlsInfo != nil)
            try await exercise(client)
            await client.close()
            do {
                _ = try await ConnectOptions().noReconnect().connect(url)
                Issue.record("wss without the custom CA should be rejected")
            } catch {
                #expect((error as? NATSError)?.kind == .tls)
                #expect(tlsKind(error) == .unknownCA)
            }
        }
    }

    @Test func userPasswordAndCredentialsOverWebSocket() async throws {
        let config = """
        authorization { users = [ { user: wsuser, password: wspass } ] }
        """
        try await withNATSServer(NATSServer.Options(config: config, websocket: .plain)) { server in
            let port = try #require(server.websocketPort)
            let client = try await NATSClient.connect("ws://wsuser:wspass@127.0.0.1:\(port)")
            try await exercise(client, bigSize: 1000)
            await client.close()
            let chained = try await ConnectOptions.withUserAndPassword("wsuser", "wspass").connect("ws://127.0.0.1:\(port)")
            await chained.close()
            do {
                _ = try await ConnectOptions.withUserAndPassword("wsuser", "wspass").requireTLS().connect("ws://127.0.0.1:\(port)")
                Issue.record("requireTLS over ws:// must not send the password in the clear")
            } catch {
                #expect((error as? NATSError)?.kind == .secureConnectionRequired)
            }
            do {
                _ = try await ConnectOptions.withUserAndPassword("wsuser", "wrong").connect("ws://127.0.0.1:\(port)")
                Issue.record("expected authorization violation")
            } catch {
                #expect((error as? NATSError)?.kind == .authorizationViolation)
            }
        }
    }
}

@Suite(.timeLimit(.minutes(2))) struct WebSocketCredentialsTests {
    @Test func credentialsFileOverWebSocket() async throws {
        let fixture = try OperatorFixture()
        let user = try fixture.user("ws-user")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ws-\(UUID().uuidString).creds").path
        try Credentials.fileContents(jwt: user.jwt, seed: user.key.revealSeed()).write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await withNATSServer(NATSServer.Options(config: fixture.serverConfig, websocket: .plain)) { server in
            let url = try #require(server.websocketURL)
            let client = try await ConnectOptions.withCredentialsFile(path).connect(url)
            let sub = try await client.subscribe(to: "ws.creds")
            try await client.publish("jwt over ws", to: "ws.creds")
            #expect(try await collect(sub, count: 1)[0].string == "jwt over ws")
            await client.close()
            let stranger = try fixture.user("stranger", account: NKeyPair.generate(.account))
            do {
                _ = try await ConnectOptions().jwt(stranger.jwt) { try stranger.key.sign($0) }.connect(url)
                Issue.record("a user of an unknown account must be rejected")
            } catch {
                #expect((error as? NATSError)?.kind == .authorizationViolation)
            }
        }
    }
}
