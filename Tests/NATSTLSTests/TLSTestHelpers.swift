import NATSTLS
import NATSTestSupport
import NATSTransport
import NIOCore
import Testing

/// Shared setup for the in-memory TLS tests.
enum Fixture {
    static func certs() async throws -> TestCertificates { try await TestCertificates.shared() }

    /// A client configuration trusting only the test CA.
    static func client(
        minimum: TLSVersion = .v1_2,
        maximum: TLSVersion = .v1_3,
        _ modify: (inout TLSConfiguration) throws -> Void = { _ in }
    ) async throws -> TLSConfiguration {
        var config = TLSConfiguration()
        config.useSystemRoots = false
        config.additionalTrustRoots = [.file(try await certs().caCertificate)]
        config.minimumVersion = minimum
        config.maximumVersion = maximum
        try modify(&config)
        return config
    }

    /// A server context with the `localhost` certificate unless told otherwise.
    static func server(
        certificate: String? = nil,
        key: String? = nil,
        clientCA: String? = nil,
        requireClientCertificate: Bool = false,
        maximum: TLSVersion = .v1_3
    ) async throws -> TLSServerContext {
        let certs = try await certs()
        return try TLSServerContext(
            certificate: .file(certificate ?? certs.serverCertificate),
            key: .file(key ?? certs.serverKey),
            clientCertificateAuthority: clientCA.map { .file($0) },
            requireClientCertificate: requireClientCertificate,
            maximumVersion: maximum
        )
    }
}

/// The outcome of running both handshakes against each other.
struct Handshake {
    var client: Result<TLSStream, TLSError>
    var server: Result<TLSStream, TLSError>

    func bothStreams() throws -> (client: TLSStream, server: TLSStream) {
        (try client.get(), try server.get())
    }

    /// The error the client sees: from connect, or (TLS 1.3 reports client-certificate
    /// problems after the client's handshake is done) from its first read.
    func clientError() async -> TLSError? {
        switch client {
        case .failure(let error):
            return error
        case .success(let stream):
            do {
                _ = try await stream.read()
                return nil
            } catch let error as TLSError {
                return error
            } catch {
                Issue.record("unexpected error type \(error)")
                return nil
            }
        }
    }

    var serverError: TLSError? {
        if case .failure(let error) = server { return error }
        return nil
    }
}

/// Runs a client and a server handshake against each other over an in-memory pair
/// (optionally through a relay that re-chunks the ciphertext).
func runHandshake(
    client config: TLSConfiguration,
    server: TLSServerContext,
    hostname: String? = "localhost",
    chunkSize: Int? = nil
) async throws -> Handshake {
    let context = try TLSContext(configuration: config)
    let clientSide: any ByteStream
    let serverSide: any ByteStream
    if let chunkSize {
        (clientSide, serverSide) = relayedPair(chunkSize: chunkSize)
    } else {
        (clientSide, serverSide) = InMemoryByteStream.pair()
    }
    async let serverResult: Result<TLSStream, TLSError> = {
        do throws(TLSError) { return .success(try await TLSStream.accept(over: serverSide, context: server)) } catch { return .failure(error) }
    }()
    let clientResult: Result<TLSStream, TLSError>
    do {
        clientResult = .success(
            try await TLSStream.connect(over: clientSide, context: context, serverHostname: hostname, timeout: .seconds(30))
        )
    } catch {
        clientResult = .failure(error)
    }
    return Handshake(client: clientResult, server: await serverResult)
}

/// Two streams connected through relay tasks that deliver every chunk split into pieces
/// of at most `chunkSize` bytes.
func relayedPair(chunkSize: Int) -> (any ByteStream, any ByteStream) {
    let (client, relayA) = InMemoryByteStream.pair()
    let (relayB, server) = InMemoryByteStream.pair()
    @Sendable func pump(_ from: InMemoryByteStream, _ to: InMemoryByteStream) async {
        do {
            while var chunk = try await from.read() {
                while chunk.readableBytes > 0 {
                    guard let piece = chunk.readSlice(length: min(chunkSize, chunk.readableBytes)) else { break }
                    try await to.write(piece)
                }
            }
        } catch {}
        await to.close()
        await from.close()
    }
    Task { await pump(relayA, relayB) }
    Task { await pump(relayB, relayA) }
    return (client, server)
}

/// Reads until `count` bytes arrived (or the stream ended).
func readExactly(_ count: Int, from stream: any ByteStream) async throws -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count)
    while bytes.count < count, let chunk = try await stream.read() {
        bytes.append(contentsOf: chunk.readableBytesView)
    }
    return bytes
}

/// Deterministic test data.
func pattern(_ count: Int, seed: UInt8) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &+ ($0 >> 10)) }
}
