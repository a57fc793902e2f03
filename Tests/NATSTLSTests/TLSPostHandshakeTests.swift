@testable import NATSTLS
import NATSTestSupport
import NATSTransport
import NIOCore
import Synchronization
import Testing

/// Counts the bytes written through a stream.
private final class CountingStream: ByteStream {
    let inner: any ByteStream
    let written = Mutex(0)

    init(inner: any ByteStream) { self.inner = inner }

    func read() async throws -> ByteBuffer? { try await inner.read() }
    func write(_ bytes: ByteBuffer) async throws {
        written.withLock { $0 += bytes.readableBytes }
        try await inner.write(bytes)
    }
    func close() async { await inner.close() }
}

@Suite(.timeLimit(.minutes(1)))
struct TLSPostHandshakeTests {
    @Test func keyUpdateRequestIsAnswered() async throws {
        let handshake = try await runHandshake(client: try Fixture.client(), server: try Fixture.server())
        let (client, server) = try handshake.bothStreams()
        #expect(client.connectionInfo.version == "TLSv1.3")
        // Session tickets arrive with the first read; then a KeyUpdate that requests one back.
        try await server.write(ByteBuffer(string: "before"))
        #expect(try await readExactly(6, from: client) == Array("before".utf8))
        try await server.requestKeyUpdate()
        try await server.write(ByteBuffer(string: "after"))
        #expect(try await readExactly(5, from: client) == Array("after".utf8))
        // OpenSSL sends the client's own KeyUpdate ahead of its next record.
        try await client.write(ByteBuffer(string: "reply"))
        #expect(try await readExactly(5, from: server) == Array("reply".utf8))
        try await server.write(ByteBuffer(string: "again"))
        #expect(try await readExactly(5, from: client) == Array("again".utf8))
        await client.close()
        #expect(try await server.read() == nil)
    }

    @Test(arguments: [TLSVersion.v1_2, .v1_3])
    func corruptRecordFailsTheReadAndTheReadSendsTheAlert(version: TLSVersion) async throws {
        let certs = try await Fixture.certs()
        let (a, b) = InMemoryByteStream.pair()
        let counting = CountingStream(inner: a)
        let serverContext = try TLSServerContext(certificate: .file(certs.serverCertificate), key: .file(certs.serverKey))
        async let acceptedServer = TLSStream.accept(over: b, context: serverContext)
        let client = try await TLSStream.connect(
            over: counting,
            context: try TLSContext(configuration: try Fixture.client(maximum: version)),
            serverHostname: "localhost",
            timeout: .seconds(10)
        )
        _ = try await acceptedServer
        let writtenBefore = counting.written.withLock { $0 }
        // An application-data record whose contents do not authenticate.
        var forged = ByteBuffer(bytes: [0x17, 0x03, 0x03, 0x00, 0x40])
        forged.writeBytes([UInt8](repeating: 0xAB, count: 0x40))
        try await b.write(forged)
        let error = await #expect(throws: TLSError.self) { _ = try await client.read() }
        #expect(error?.kind == .other)
        #expect(error?.description.contains("bad record mac") == true || error?.description.contains("decryption failed") == true)
        // The read itself wrote the fatal alert to the peer.
        #expect(counting.written.withLock { $0 } > writtenBefore)
        // Later calls report the same failure.
        await #expect(throws: TLSError.self) { try await client.write(ByteBuffer(string: "x")) }
    }

    @Test func keyUpdatesDuringConcurrentBulkTransfer() async throws {
        let handshake = try await runHandshake(client: try Fixture.client(), server: try Fixture.server())
        let (client, server) = try handshake.bothStreams()
        let upload = pattern(2 * 1024 * 1024, seed: 5)
        let download = pattern(2 * 1024 * 1024, seed: 6)
        async let serverGot = readExactly(upload.count, from: server)
        async let clientGot = readExactly(download.count, from: client)
        async let uploading: Void = {
            for start in stride(from: 0, to: upload.count, by: 64 * 1024) {
                try await client.write(ByteBuffer(bytes: upload[start..<min(upload.count, start + 64 * 1024)]))
                if start % (512 * 1024) == 0 { try await client.requestKeyUpdate() }
            }
        }()
        for start in stride(from: 0, to: download.count, by: 100_000) {
            try await server.write(ByteBuffer(bytes: download[start..<min(download.count, start + 100_000)]))
            if start % 300_000 == 0 { try await server.requestKeyUpdate() }
        }
        try await uploading
        let (up, down) = try await (serverGot, clientGot)
        #expect(up == upload)
        #expect(down == download)
    }
}
