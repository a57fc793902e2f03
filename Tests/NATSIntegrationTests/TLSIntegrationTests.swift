import NATSClient
import NATSTestSupport
import NATSTLS
import Testing

func tlsKind(_ error: any Error) -> TLSError.Kind? {
    ((error as? NATSError)?.underlying as? TLSError)?.kind
}

/// A TLS server with the test CA's certificate (localhost, 127.0.0.1, ::1).
func tlsServerOptions(_ certs: TestCertificates, cert: String? = nil, key: String? = nil, verifyClients: Bool = false, handshakeFirst: Bool = false) -> NATSServer.Options {
    NATSServer.Options(
        tls: .init(certFile: cert ?? certs.serverCertificate, keyFile: key ?? certs.serverKey,
                   caFile: verifyClients ? certs.caCertificate : nil, verifyClients: verifyClients),
        tlsHandshakeFirst: handshakeFirst
    )
}

func roundTrip(_ client: NATSClient) async throws {
    let sub = try await client.subscribe(to: "tls.rt")
    try await client.publish("secure", to: "tls.rt")
    let got = try await collect(sub, count: 1)
    #expect(got[0].string == "secure")
}

@Suite(.timeLimit(.minutes(2))) struct TLSIntegrationTests {
    @Test func tlsSchemeWithTheCustomCA() async throws {
        let certs = try await TestCertificates.shared()
        try await withNATSServer(tlsServerOptions(certs)) { server in
            let url = "tls://127.0.0.1:\(server.port)"
            let client = try await ConnectOptions().addRootCertificates(certs.caCertificate).connect(url)
            try await roundTrip(client)
            #expect(client.tlsInfo?.version.hasPrefix("TLSv1.") == true)
            #expect(client.tlsInfo?.peerSubject?.contains("localhost") == true || client.tlsInfo?.peerSubject != nil)
            await client.close()
        }
    }

    @Test func serverThatRequiresTLSUpgradesANatsURL() async throws {
        let certs = try await TestCertificates.shared()
        try await withNATSServer(tlsServerOptions(certs)) { server in
            var options = ConnectOptions()
            options.tls.configuration.additionalTrustRoots = [.file(certs.caCertificate)]
            let client = try await options.connect("nats://localhost:\(server.port)")
            try await roundTrip(client)
            #expect(client.tlsInfo != nil)
            await client.close()
        }
    }

    @Test func tlsFirst() async throws {
        let certs = try await TestCertificates.shared()
        try await withNATSServer(tlsServerOptions(certs, handshakeFirst: true)) { server in
            let client = try await ConnectOptions().tlsFirst().addRootCertificates(certs.caCertificate).connect(server.clientURL)
            try await roundTrip(client)
            await client.close()
            let start = ContinuousClock.now
            do {
                _ = try await ConnectOptions().addRootCertificates(certs.caCertificate).connectionTimeout(.seconds(1)).connect(server.clientURL)
                Issue.record("a client without tlsFirst should not connect to a handshake_first server")
            } catch {
                #expect([.timeout, .connection, .tls].contains((error as? NATSError)?.kind))
            }
            #expect(ContinuousClock.now - start < .seconds(5))
        }
    }

    @Test func mutualTLS() async throws {
        let certs = try await TestCertificates.shared()
        try await withNATSServer(tlsServerOptions(certs, verifyClients: true)) { server in
            let good = try await ConnectOptions().addRootCertificates(certs.caCertificate)
                .addClientCertificate(certs.clientCertificate, key: certs.clientKeyPKCS8)
                .connect("tls://127.0.0.1:\(server.port)")
            try await roundTrip(good)
            await good.close()
            do {
                _ = try await ConnectOptions().addRootCertificates(certs.caCertificate).noReconnect()
                    .connect("tls://127.0.0.1:\(server.port)")
                Issue.record("expected rejection without a client certificate")
            } catch {
                #expect((error as? NATSError)?.kind == .tls, "\(error)")
            }
            do {
                _ = try await ConnectOptions().addRootCertificates(certs.caCertificate).noReconnect()
                    .addClientCertificate(certs.untrustedClientCertificate, key: certs.untrustedClientKey)
                    .connect("tls://127.0.0.1:\(server.port)")
                Issue.record("expected rejection of a client certificate from an untrusted CA")
            } catch {
                #expect((error as? NATSError)?.kind == .tls)
            }
        }
    }

    @Test func verificationFailuresHaveTheirOwnReasons() async throws {
        let certs = try await TestCertificates.shared()
        try await withNATSServer(tlsServerOptions(certs)) { server in
            do {
                _ = try await ConnectOptions().requireTLS().connect("tls://127.0.0.1:\(server.port)")
                Issue.record("expected unknown CA")
            } catch {
                #expect(tlsKind(error) == .unknownCA)
            }
        }
        try await withNATSServer(tlsServerOptions(certs, cert: certs.wrongNameCertificate, key: certs.wrongNameKey)) { server in
            do {
                _ = try await ConnectOptions().addRootCertificates(certs.caCertificate).connect("tls://127.0.0.1:\(server.port)")
                Issue.record("expected host name mismatch")
            } catch {
                #expect(tlsKind(error) == .hostnameMismatch)
            }
        }
        try await withNATSServer(tlsServerOptions(certs, cert: certs.expiredCertificate, key: certs.expiredKey)) { server in
            do {
                _ = try await ConnectOptions().addRootCertificates(certs.caCertificate).connect("tls://localhost:\(server.port)")
                Issue.record("expected expired certificate")
            } catch {
                #expect(tlsKind(error) == .certificateExpired)
            }
        }
    }

    @Test func requiredTLSAgainstAPlaintextServer() async throws {
        try await withNATSServer { server in
            do {
                _ = try await ConnectOptions().requireTLS().connect("nats://user:pw@127.0.0.1:\(server.port)")
                Issue.record("expected secureConnectionRequired")
            } catch {
                #expect((error as? NATSError)?.kind == .secureConnectionRequired)
            }
            do {
                _ = try await NATSClient.connect("tls://127.0.0.1:\(server.port)")
                Issue.record("expected secureConnectionRequired")
            } catch {
                #expect((error as? NATSError)?.kind == .secureConnectionRequired)
            }
        }
    }
}
