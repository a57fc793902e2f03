import Foundation
import NATSTLS
import NATSTestSupport
import NATSTransport
import NIOCore
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(1)))
struct TLSVerificationTests {
    static let versions = [TLSVersion.v1_2, .v1_3]

    // MARK: - Server certificate checks

    @Test(arguments: versions)
    func unknownCAWhenNothingTrustsTheServer(version: TLSVersion) async throws {
        let config = try await Fixture.client(maximum: version) { $0.additionalTrustRoots = [] }
        let handshake = try await runHandshake(client: config, server: try Fixture.server())
        let error = try #require(await handshake.clientError())
        #expect(error.kind == .unknownCA)
        #expect(error.description.contains("unable to get local issuer certificate"))
        // The server learns about it through the client's alert.
        #expect(handshake.serverError != nil)
    }

    @Test func unknownCAForServerFromAnotherCA() async throws {
        let certs = try await Fixture.certs()
        let server = try await Fixture.server(certificate: certs.untrustedServerCertificate, key: certs.untrustedServerKey)
        let handshake = try await runHandshake(client: try Fixture.client(), server: server)
        #expect(await handshake.clientError()?.kind == .unknownCA)
    }

    @Test func systemRootsDoNotTrustTheTestCA() async throws {
        var config = TLSConfiguration()
        config.useSystemRoots = true
        let handshake = try await runHandshake(client: config, server: try Fixture.server())
        #expect(await handshake.clientError()?.kind == .unknownCA)
    }

    @Test(arguments: versions)
    func hostnameMismatch(version: TLSVersion) async throws {
        let certs = try await Fixture.certs()
        let server = try await Fixture.server(certificate: certs.wrongNameCertificate, key: certs.wrongNameKey)
        let handshake = try await runHandshake(client: try Fixture.client(maximum: version), server: server)
        let error = try #require(await handshake.clientError())
        #expect(error.kind == .hostnameMismatch)
        #expect(error.description.contains("localhost"))
    }

    @Test func ipLiteralMatchesIPSubjectAltName() async throws {
        for host in ["127.0.0.1", "::1", "[::1]"] {
            let handshake = try await runHandshake(client: try Fixture.client(), server: try Fixture.server(), hostname: host)
            let (client, server) = try handshake.bothStreams()
            #expect(client.connectionInfo.version == "TLSv1.3")
            await client.close()
            await server.close()
        }
    }

    @Test func ipLiteralNotInCertificateIsAMismatch() async throws {
        let certs = try await Fixture.certs()
        let server = try await Fixture.server(certificate: certs.wrongNameCertificate, key: certs.wrongNameKey)
        let handshake = try await runHandshake(client: try Fixture.client(), server: server, hostname: "127.0.0.1")
        #expect(await handshake.clientError()?.kind == .hostnameMismatch)
        // An IP address the certificate does not list.
        let other = try await runHandshake(client: try Fixture.client(), server: try Fixture.server(), hostname: "10.0.0.1")
        #expect(await other.clientError()?.kind == .hostnameMismatch)
    }

    @Test(arguments: versions)
    func expiredCertificate(version: TLSVersion) async throws {
        let certs = try await Fixture.certs()
        let server = try await Fixture.server(certificate: certs.expiredCertificate, key: certs.expiredKey)
        let handshake = try await runHandshake(client: try Fixture.client(maximum: version), server: server)
        let error = try #require(await handshake.clientError())
        #expect(error.kind == .certificateExpired)
        #expect(error.description.contains("certificate has expired"))
    }

    @Test func serverNameOverrideIsVerifiedInstead() async throws {
        let certs = try await Fixture.certs()
        let server = try await Fixture.server(certificate: certs.wrongNameCertificate, key: certs.wrongNameKey)
        let config = try await Fixture.client { $0.serverNameOverride = "wrong.example.com" }
        let handshake = try await runHandshake(client: config, server: server, hostname: "127.0.0.1")
        _ = try handshake.bothStreams()
    }

    @Test func noHostnameVerificationStillChecksTheChain() async throws {
        let certs = try await Fixture.certs()
        let config = try await Fixture.client { $0.certificateVerification = .noHostnameVerification }
        let wrongName = try await Fixture.server(certificate: certs.wrongNameCertificate, key: certs.wrongNameKey)
        _ = try await runHandshake(client: config, server: wrongName).bothStreams()
        let untrusted = try await Fixture.server(certificate: certs.untrustedServerCertificate, key: certs.untrustedServerKey)
        let handshake = try await runHandshake(client: config, server: untrusted)
        #expect(await handshake.clientError()?.kind == .unknownCA)
    }

    @Test func verificationNoneAcceptsAnything() async throws {
        let certs = try await Fixture.certs()
        let config = try await Fixture.client {
            $0.certificateVerification = .none
            $0.additionalTrustRoots = []
        }
        let server = try await Fixture.server(certificate: certs.expiredCertificate, key: certs.expiredKey)
        _ = try await runHandshake(client: config, server: server, hostname: nil).bothStreams()
    }

    @Test func fullVerificationWithoutHostnameIsRefused() async throws {
        let handshake = try await runHandshake(client: try Fixture.client(), server: try Fixture.server(), hostname: nil)
        #expect(await handshake.clientError()?.kind == .invalidConfiguration)
    }

    @Test func trustRootsFromBundlePEMAndDER() async throws {
        let certs = try await Fixture.certs()
        let pemText = try String(contentsOfFile: certs.caCertificate, encoding: .utf8)
        let der = try derOfFirstCertificate(pemText)
        let sources: [TLSCertificateSource] = [.file(certs.caBundle), .pem(pemText), .der(der)]
        for source in sources {
            let config = try await Fixture.client { $0.additionalTrustRoots = [source] }
            _ = try await runHandshake(client: config, server: try Fixture.server()).bothStreams()
        }
    }

    // MARK: - Custom verification hook

    @Test func verifyCallbackSeesTheCertificateAndCanRefuse() async throws {
        let seen = Mutex<TLSPeerCertificateInfo?>(nil)
        let accepting = try await Fixture.client {
            $0.verifyCallback = { info in
                seen.withLock { $0 = info }
                return true
            }
        }
        _ = try await runHandshake(client: accepting, server: try Fixture.server()).bothStreams()
        let info = try #require(seen.withLock { $0 })
        #expect(info.subject == "CN=localhost,O=NATS Test")
        #expect(info.issuer == "CN=NATS Test CA,O=NATS Test")
        #expect(info.dnsNames == ["localhost"])
        #expect(info.ipAddresses == ["127.0.0.1", "::1"])
        #expect(info.serverHostname == "localhost")
        #expect(info.chainVerified)
        #expect(info.chainDER.first == info.der)
        #expect(!info.der.isEmpty)

        let refusing = try await Fixture.client { $0.verifyCallback = { _ in false } }
        let handshake = try await runHandshake(client: refusing, server: try Fixture.server())
        #expect(await handshake.clientError()?.kind == .verificationRejected)
    }

    // MARK: - Client certificates

    @Test(arguments: versions)
    func clientCertificateRequiredButMissing(version: TLSVersion) async throws {
        let certs = try await Fixture.certs()
        let server = try await Fixture.server(clientCA: certs.caCertificate, requireClientCertificate: true)
        let handshake = try await runHandshake(client: try Fixture.client(maximum: version), server: server)
        #expect(handshake.serverError?.kind == .clientCertificateRequired)
        let error = try #require(await handshake.clientError())
        #expect(error.kind == .clientCertificateRequired)
        #expect(error.description.contains("clientCertificate"))
    }

    @Test(arguments: versions)
    func clientCertificateFromUntrustedCA(version: TLSVersion) async throws {
        let certs = try await Fixture.certs()
        let server = try await Fixture.server(clientCA: certs.caCertificate, requireClientCertificate: true)
        let config = try await Fixture.client(maximum: version) {
            $0.clientCertificate = .file(certs.untrustedClientCertificate)
            $0.clientKey = .file(certs.untrustedClientKey)
        }
        let handshake = try await runHandshake(client: config, server: server)
        #expect(handshake.serverError?.kind == .unknownCA)
        let error = try #require(await handshake.clientError())
        #expect(error.kind == .peerRejectedCertificate)
        #expect(error.description.contains("unknown ca"))
    }

    static let keyFormats: [String] = ["pkcs8", "sec1", "encrypted-pkcs8", "rsa-pkcs1", "rsa-pkcs8", "pkcs12", "pem-in-memory"]

    @Test(arguments: keyFormats)
    func mutualTLSWithEachKeyFormat(format: String) async throws {
        let certs = try await Fixture.certs()
        var certificate: TLSCertificateSource? = .file(certs.clientCertificate)
        var subject = "CN=client,O=NATS Test"
        let key: TLSKeySource
        switch format {
        case "pkcs8": key = .file(certs.clientKeyPKCS8)
        case "sec1": key = .file(certs.clientKeySEC1)
        case "encrypted-pkcs8": key = .file(certs.clientKeyEncrypted, password: certs.keyPassword)
        case "rsa-pkcs1":
            certificate = .file(certs.clientRSACertificate)
            subject = "CN=rsa-client,O=NATS Test"
            key = .file(certs.clientRSAKeyPKCS1)
        case "rsa-pkcs8":
            certificate = .file(certs.clientRSACertificate)
            subject = "CN=rsa-client,O=NATS Test"
            key = .file(certs.clientRSAKeyPKCS8)
        case "pkcs12":
            certificate = nil
            key = .pkcs12File(certs.clientPKCS12, password: certs.pkcs12Password)
        default:
            certificate = .pem(try String(contentsOfFile: certs.clientCertificate, encoding: .utf8))
            key = .pem(try String(contentsOfFile: certs.clientKeySEC1, encoding: .utf8))
        }
        for version in Self.versions {
            let server = try await Fixture.server(clientCA: certs.caCertificate, requireClientCertificate: true)
            let config = try await Fixture.client(maximum: version) {
                $0.clientCertificate = certificate
                $0.clientKey = key
            }
            let handshake = try await runHandshake(client: config, server: server)
            let (client, serverStream) = try handshake.bothStreams()
            #expect(serverStream.connectionInfo.peerSubject == subject)
            try await client.write(ByteBuffer(string: "CONNECT {}\r\n"))
            #expect(try await readExactly(12, from: serverStream) == Array("CONNECT {}\r\n".utf8))
            await client.close()
            #expect(try await serverStream.read() == nil)
        }
    }

    @Test func optionalClientCertificateMayBeOmitted() async throws {
        let certs = try await Fixture.certs()
        let server = try await Fixture.server(clientCA: certs.caCertificate, requireClientCertificate: false)
        let handshake = try await runHandshake(client: try Fixture.client(), server: server)
        let (client, serverStream) = try handshake.bothStreams()
        #expect(serverStream.connectionInfo.peerSubject == nil)
        try await client.write(ByteBuffer(string: "hi"))
        #expect(try await readExactly(2, from: serverStream) == Array("hi".utf8))
    }

    @Test func versionsWithNothingInCommon() async throws {
        let handshake = try await runHandshake(
            client: try Fixture.client(minimum: .v1_3, maximum: .v1_3),
            server: try Fixture.server(maximum: .v1_2)
        )
        #expect(await handshake.clientError()?.kind == .protocolVersion)
        #expect(handshake.serverError?.kind == .protocolVersion)
    }

    private func derOfFirstCertificate(_ pem: String) throws -> [UInt8] {
        let body = pem
            .split(separator: "\n")
            .filter { !$0.hasPrefix("-----") }
            .joined()
        return try #require(base64Decode(body))
    }

    private func base64Decode(_ text: String) -> [UInt8]? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var table = [UInt8](repeating: 255, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = UInt8(index) }
        var out: [UInt8] = []
        var accumulator: UInt32 = 0
        var bits = 0
        for char in text.utf8 where char != UInt8(ascii: "=") {
            let value = table[Int(char)]
            if value == 255 { return nil }
            accumulator = (accumulator << 6) | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return out
    }
}
