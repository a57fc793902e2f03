import Dispatch
import Foundation
import NATSTLS
import NATSTestSupport
import NATSTransport
import NIOCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Interop with Go's TLS stack: our TLSStream against a real `nats-server` (NATSTestSupport's:
/// its own free ports, and ready only once its /varz names it, so that a test never talks to
/// another test's server that raced it to a port).
@Suite(.timeLimit(.minutes(1)))
struct NATSServerTLSTests {
    @Test(arguments: [TLSVersion.v1_2, .v1_3])
    func handshakeFirstThenPingPong(version: TLSVersion) async throws {
        let certs = try await Fixture.certs()
        let tls = NATSServer.Options.TLSFiles(certFile: certs.serverCertificate, keyFile: certs.serverKey)
        try await withNATSServer(NATSServer.Options(tls: tls, tlsHandshakeFirst: true)) { server in
            let tcp = try await SocketStream.connect(port: server.port)
            let context = try await TLSContext(configuration: try Fixture.client(maximum: version))
            let tls = try await TLSStream.connect(over: tcp, context: context, serverHostname: "127.0.0.1", timeout: .seconds(10))
            #expect(tls.connectionInfo.version == (version == .v1_2 ? "TLSv1.2" : "TLSv1.3"))
            #expect(tls.connectionInfo.peerSubject == "CN=localhost,O=NATS Test")
            try await pingPong(tls)
            await tls.close()
        }
    }

    @Test func upgradeAfterPlaintextInfoWithMutualTLS() async throws {
        let certs = try await Fixture.certs()
        let tls = NATSServer.Options.TLSFiles(
            certFile: certs.serverCertificate, keyFile: certs.serverKey, caFile: certs.caCertificate, verifyClients: true
        )
        try await withNATSServer(NATSServer.Options(tls: tls)) { server in
            let tcp = try await SocketStream.connect(port: server.port)
            let info = try await readLine(tcp)
            #expect(info.hasPrefix("INFO "))
            #expect(info.contains("\"tls_required\":true"))
            let config = try await Fixture.client {
                $0.clientCertificate = .file(certs.clientRSACertificate)
                $0.clientKey = .file(certs.clientRSAKeyPKCS1)
            }
            let tls = try await TLSStream.connect(
                over: tcp,
                context: try TLSContext(configuration: config),
                serverHostname: "localhost",
                timeout: .seconds(10)
            )
            try await pingPong(tls, infoOverTLS: false)
            await tls.close()
        }
    }

    @Test(arguments: [TLSVersion.v1_2, .v1_3])
    func serverRequiresClientCertificate(version: TLSVersion) async throws {
        let certs = try await Fixture.certs()
        let tls = NATSServer.Options.TLSFiles(
            certFile: certs.serverCertificate, keyFile: certs.serverKey, caFile: certs.caCertificate, verifyClients: true
        )
        try await withNATSServer(NATSServer.Options(tls: tls, tlsHandshakeFirst: true)) { server in
            let tcp = try await SocketStream.connect(port: server.port)
            let context = try await TLSContext(configuration: try Fixture.client(maximum: version))
            var error: TLSError?
            do {
                let tls = try await TLSStream.connect(over: tcp, context: context, serverHostname: "localhost", timeout: .seconds(10))
                _ = try await tls.read()
            } catch let failure as TLSError {
                error = failure
            }
            #expect(error?.kind == .clientCertificateRequired)
        }
    }

    @Test func hostnameMismatchAgainstRealServer() async throws {
        let certs = try await Fixture.certs()
        let tls = NATSServer.Options.TLSFiles(certFile: certs.wrongNameCertificate, keyFile: certs.wrongNameKey)
        try await withNATSServer(NATSServer.Options(tls: tls, tlsHandshakeFirst: true)) { server in
            let tcp = try await SocketStream.connect(port: server.port)
            let context = try await TLSContext(configuration: try Fixture.client())
            let error = await #expect(throws: TLSError.self) {
                _ = try await TLSStream.connect(over: tcp, context: context, serverHostname: "localhost", timeout: .seconds(10))
            }
            #expect(error?.kind == .hostnameMismatch)
        }
    }

    /// With handshake_first the INFO comes over TLS; otherwise it came in plaintext before.
    private func pingPong(_ tls: TLSStream, infoOverTLS: Bool = true) async throws {
        if infoOverTLS {
            let info = try await readLine(tls)
            #expect(info.hasPrefix("INFO "))
        }
        try await tls.write(ByteBuffer(string: "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n"))
        #expect(try await readLine(tls) == "PONG")
    }

    private func readLine(_ stream: any ByteStream) async throws -> String {
        var bytes: [UInt8] = []
        while !(bytes.count >= 2 && bytes.suffix(2) == [13, 10]) {
            // One byte at a time is not possible over a stream; the server sends whole lines,
            // so a chunk never runs past the line we wait for here.
            guard let chunk = try await stream.read() else { break }
            bytes.append(contentsOf: chunk.readableBytesView)
        }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

struct SocketError: Error {
    var message: String
}

/// A blocking loopback TCP socket as a ByteStream; blocking calls run on dispatch queues,
/// never on the cooperative pool.
final class SocketStream: ByteStream {
    private let fd: Int32
    private let closed = Mutex(false)
    private let readQueue = DispatchQueue(label: "socket-read")
    private let writeQueue = DispatchQueue(label: "socket-write")

    private init(fd: Int32) { self.fd = fd }

    static func connect(port: Int) async throws -> SocketStream {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(message: "socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            Glibc.close(fd)
            throw SocketError(message: "connect() to port \(port) failed")
        }
        return SocketStream(fd: fd)
    }

    func read() async throws -> ByteBuffer? {
        let fd = self.fd
        let received: [UInt8]? = try await withCheckedThrowingContinuation { continuation in
            readQueue.async {
                var bytes = [UInt8](repeating: 0, count: 64 * 1024)
                let count = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count > 0 {
                    continuation.resume(returning: Array(bytes[0..<count]))
                } else if count == 0 {
                    continuation.resume(returning: nil)
                } else {
                    continuation.resume(throwing: SocketError(message: "recv failed: errno \(errno)"))
                }
            }
        }
        return received.map { ByteBuffer(bytes: $0) }
    }

    func write(_ bytes: ByteBuffer) async throws {
        let fd = self.fd
        let data = Array(bytes.readableBytesView)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            writeQueue.async {
                var offset = 0
                while offset < data.count {
                    let sent = data.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                    if sent <= 0 {
                        continuation.resume(throwing: SocketError(message: "send failed: errno \(errno)"))
                        return
                    }
                    offset += sent
                }
                continuation.resume()
            }
        }
    }

    func close() async {
        let first = closed.withLock { wasClosed in
            defer { wasClosed = true }
            return !wasClosed
        }
        guard first else { return }
        shutdown(fd, Int32(SHUT_RDWR))  // wakes a blocked recv
        // Close once both queues are idle so the descriptor is not reused under them.
        let fd = self.fd
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            readQueue.async {
                self.writeQueue.async {
                    Glibc.close(fd)
                    continuation.resume()
                }
            }
        }
    }
}
