import NATSTLS
import NATSTestSupport
import NATSTransport
import NIOCore
import Testing

@Suite(.timeLimit(.minutes(1)))
struct TLSStreamTests {
    @Test func handshakeTLS13AndConnectionInfo() async throws {
        let handshake = try await runHandshake(client: try Fixture.client(), server: try Fixture.server())
        let (client, server) = try handshake.bothStreams()
        #expect(client.connectionInfo.version == "TLSv1.3")
        #expect(server.connectionInfo.version == "TLSv1.3")
        #expect(client.connectionInfo.cipher.hasPrefix("TLS_"))
        #expect(client.connectionInfo.cipher == server.connectionInfo.cipher)
        #expect(client.connectionInfo.peerSubject == "CN=localhost,O=NATS Test")
        #expect(server.connectionInfo.peerSubject == nil)
        await client.close()
        await server.close()
    }

    @Test func handshakeTLS12WhenClientCapsVersion() async throws {
        let handshake = try await runHandshake(client: try Fixture.client(maximum: .v1_2), server: try Fixture.server())
        let (client, server) = try handshake.bothStreams()
        #expect(client.connectionInfo.version == "TLSv1.2")
        #expect(client.connectionInfo.cipher.contains("ECDHE"))
        try await echo(client: client, server: server)
    }

    @Test func handshakeTLS12WhenServerCapsVersion() async throws {
        let handshake = try await runHandshake(client: try Fixture.client(), server: try Fixture.server(maximum: .v1_2))
        let (client, server) = try handshake.bothStreams()
        #expect(server.connectionInfo.version == "TLSv1.2")
        try await echo(client: client, server: server)
    }

    @Test func chosenTLS13CipherSuiteIsUsed() async throws {
        let config = try await Fixture.client { $0.cipherSuites = "TLS_CHACHA20_POLY1305_SHA256" }
        let handshake = try await runHandshake(client: config, server: try Fixture.server())
        let (client, _) = try handshake.bothStreams()
        #expect(client.connectionInfo.cipher == "TLS_CHACHA20_POLY1305_SHA256")
    }

    @Test func chosenTLS12CipherListIsUsed() async throws {
        let config = try await Fixture.client(maximum: .v1_2) { $0.cipherList = "ECDHE-ECDSA-CHACHA20-POLY1305" }
        let handshake = try await runHandshake(client: config, server: try Fixture.server())
        let (client, _) = try handshake.bothStreams()
        #expect(client.connectionInfo.cipher == "ECDHE-ECDSA-CHACHA20-POLY1305")
    }

    @Test func dataRoundTripBothVersions() async throws {
        for maximum in [TLSVersion.v1_2, .v1_3] {
            let handshake = try await runHandshake(client: try Fixture.client(maximum: maximum), server: try Fixture.server())
            let (client, server) = try handshake.bothStreams()
            try await echo(client: client, server: server)
        }
    }

    @Test(arguments: [TLSVersion.v1_2, .v1_3])
    func largeTransfersBothDirectionsConcurrently(version: TLSVersion) async throws {
        let handshake = try await runHandshake(client: try Fixture.client(maximum: version), server: try Fixture.server())
        let (client, server) = try handshake.bothStreams()
        let upload = pattern(5 * 1024 * 1024 + 17, seed: 1)
        let download = pattern(4 * 1024 * 1024 + 3, seed: 2)
        async let clientWrote: Void = writeInPieces(upload, to: client)
        async let serverWrote: Void = writeInPieces(download, to: server)
        async let serverGot = readExactly(upload.count, from: server)
        async let clientGot = readExactly(download.count, from: client)
        try await clientWrote
        try await serverWrote
        let (up, down) = try await (serverGot, clientGot)
        #expect(up == upload)
        #expect(down == download)
        await client.close()
        #expect(try await server.read() == nil)
    }

    @Test func oneHugeWriteArrivesIntact() async throws {
        let handshake = try await runHandshake(client: try Fixture.client(), server: try Fixture.server())
        let (client, server) = try handshake.bothStreams()
        let data = pattern(3 * 1024 * 1024, seed: 9)
        async let got = readExactly(data.count, from: server)
        try await client.write(ByteBuffer(bytes: data))
        #expect(try await got == data)
    }

    @Test(arguments: [1, 2, 3, 7, 100])
    func ciphertextSplitIntoTinyChunks(chunkSize: Int) async throws {
        for maximum in [TLSVersion.v1_2, .v1_3] {
            let handshake = try await runHandshake(
                client: try Fixture.client(maximum: maximum),
                server: try Fixture.server(),
                chunkSize: chunkSize
            )
            let (client, server) = try handshake.bothStreams()
            #expect(client.connectionInfo.version == (maximum == .v1_2 ? "TLSv1.2" : "TLSv1.3"))
            try await echo(client: client, server: server)
            await client.close()
            #expect(try await server.read() == nil)
        }
    }

    @Test func closeNotifyEndsPeerReadWithNil() async throws {
        let handshake = try await runHandshake(client: try Fixture.client(), server: try Fixture.server())
        let (client, server) = try handshake.bothStreams()
        try await client.write(ByteBuffer(string: "last words"))
        await client.close()
        #expect(try await readExactly(10, from: server) == Array("last words".utf8))
        #expect(try await server.read() == nil)
        #expect(try await server.read() == nil)
    }

    @Test func serverCloseEndsClientReadWithNil() async throws {
        let handshake = try await runHandshake(client: try Fixture.client(), server: try Fixture.server())
        let (client, server) = try handshake.bothStreams()
        await server.close()
        #expect(try await client.read() == nil)
    }

    @Test func writeAfterCloseFails() async throws {
        let handshake = try await runHandshake(client: try Fixture.client(), server: try Fixture.server())
        let (client, _) = try handshake.bothStreams()
        await client.close()
        await client.close()  // idempotent
        let error = await #expect(throws: TLSError.self) { try await client.write(ByteBuffer(string: "x")) }
        #expect(error?.kind == .closed)
    }

    @Test func closeUnblocksPendingRead() async throws {
        let handshake = try await runHandshake(client: try Fixture.client(), server: try Fixture.server())
        let (client, _) = try handshake.bothStreams()
        async let pending = client.read()
        await client.close()
        #expect(try await pending == nil)
    }

    @Test func connectionLossWithoutCloseNotifyIsAnError() async throws {
        let certs = try await Fixture.certs()
        let context = try await TLSContext(configuration: try Fixture.client())
        let (a, b) = InMemoryByteStream.pair()
        async let server = TLSStream.accept(
            over: b,
            context: try TLSServerContext(certificate: .file(certs.serverCertificate), key: .file(certs.serverKey))
        )
        let client = try await TLSStream.connect(over: a, context: context, serverHostname: "localhost", timeout: nil)
        _ = try await server
        await b.close()  // the TCP connection drops; no TLS close_notify
        let error = await #expect(throws: TLSError.self) { _ = try await client.read() }
        #expect(error?.kind == .closed)
    }

    @Test func handshakeTimeout() async throws {
        let context = try await TLSContext(configuration: try Fixture.client())
        let (a, silentPeer) = InMemoryByteStream.pair()
        let start = ContinuousClock.now
        let error = await #expect(throws: TLSError.self) {
            _ = try await TLSStream.connect(over: a, context: context, serverHostname: "localhost", timeout: .milliseconds(200))
        }
        #expect(error?.kind == .handshakeTimeout)
        #expect(ContinuousClock.now - start < .seconds(20))  // generous: CI machines are busy
        // The client closed the connection: the silent peer sees the ClientHello, then the end.
        #expect(try await silentPeer.read() != nil)
        #expect(try await silentPeer.read() == nil)
    }

    @Test func peerClosingDuringHandshakeFails() async throws {
        let context = try await TLSContext(configuration: try Fixture.client())
        let (a, b) = InMemoryByteStream.pair()
        async let closer: Void = {
            _ = try? await b.read()
            await b.close()
        }()
        let error = await #expect(throws: TLSError.self) {
            _ = try await TLSStream.connect(over: a, context: context, serverHostname: "localhost", timeout: nil)
        }
        await closer
        #expect(error?.kind == .closed)
    }

    @Test func notTLSPeerFails() async throws {
        let context = try await TLSContext(configuration: try Fixture.client())
        let (a, b) = InMemoryByteStream.pair()
        async let plaintext: Void = {
            _ = try? await b.read()
            try? await b.write(ByteBuffer(string: "INFO {\"server_id\":\"x\"}\r\n"))
        }()
        let error = await #expect(throws: TLSError.self) {
            _ = try await TLSStream.connect(over: a, context: context, serverHostname: "localhost", timeout: .seconds(5))
        }
        await plaintext
        #expect(error?.kind == .other)
        #expect(error?.description.contains("wrong version number") == true)
    }

    // MARK: - Helpers

    private func echo(client: TLSStream, server: TLSStream) async throws {
        try await client.write(ByteBuffer(string: "PING\r\n"))
        #expect(try await readExactly(6, from: server) == Array("PING\r\n".utf8))
        try await server.write(ByteBuffer(string: "PONG\r\n"))
        #expect(try await readExactly(6, from: client) == Array("PONG\r\n".utf8))
    }

    private func writeInPieces(_ bytes: [UInt8], to stream: TLSStream) async throws {
        var offset = 0
        var size = 1
        while offset < bytes.count {
            let end = min(bytes.count, offset + size)
            try await stream.write(ByteBuffer(bytes: bytes[offset..<end]))
            offset = end
            size = size >= 700_000 ? 1 : size * 3 + 1  // a mix of tiny and large writes
        }
    }
}
