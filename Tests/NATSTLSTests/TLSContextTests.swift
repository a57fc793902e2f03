import Foundation
import NATSTLS
import NATSTestSupport
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(1)))
struct TLSContextTests {
    @Test func defaultConfigurationBuilds() throws {
        let config = TLSConfiguration()
        #expect(config.useSystemRoots)
        #expect(config.certificateVerification == .fullVerification)
        #expect(config.minimumVersion == .v1_2)
        #expect(config.maximumVersion == .v1_3)
        #expect(config.provider == .default)
        _ = try TLSContext(configuration: config)
    }

    @Test func fipsProviderUnavailableIsAClearError() throws {
        var config = TLSConfiguration()
        config.provider = .fips
        let error = #expect(throws: TLSError.self) { _ = try TLSContext(configuration: config) }
        #expect(error?.kind == .fipsUnavailable)
        #expect(error?.description.contains("FIPS provider") == true)
        // The default provider still works afterwards.
        _ = try TLSContext(configuration: TLSConfiguration())
    }

    @Test func missingTrustFileNamesThePath() throws {
        var config = TLSConfiguration()
        config.additionalTrustRoots = [.file("/nonexistent/ca.pem")]
        let error = #expect(throws: TLSError.self) { _ = try TLSContext(configuration: config) }
        #expect(error?.kind == .invalidCertificate)
        #expect(error?.description.contains("/nonexistent/ca.pem") == true)
    }

    @Test func garbageCertificateFileIsInvalid() throws {
        let path = try temporaryFile("not a certificate\n")
        var config = TLSConfiguration()
        config.additionalTrustRoots = [.file(path)]
        let error = #expect(throws: TLSError.self) { _ = try TLSContext(configuration: config) }
        #expect(error?.kind == .invalidCertificate)
        #expect(error?.description.contains(path) == true)
    }

    @Test func corruptPEMCertificateIsInvalid() throws {
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA!!!!\n-----END CERTIFICATE-----\n"
        var config = TLSConfiguration()
        config.additionalTrustRoots = [.pem(broken)]
        let error = #expect(throws: TLSError.self) { _ = try TLSContext(configuration: config) }
        #expect(error?.kind == .invalidCertificate)
    }

    @Test func missingKeyFileNamesThePath() async throws {
        let certs = try await Fixture.certs()
        var config = TLSConfiguration()
        config.clientCertificate = .file(certs.clientCertificate)
        config.clientKey = .file("/nonexistent/key.pem")
        let error = #expect(throws: TLSError.self) { _ = try TLSContext(configuration: config) }
        #expect(error?.kind == .invalidKey)
        #expect(error?.description.contains("/nonexistent/key.pem") == true)
    }

    @Test func wrongKeyPasswordIsInvalidKeyWithoutLeakingIt() async throws {
        let certs = try await Fixture.certs()
        var config = TLSConfiguration()
        config.clientCertificate = .file(certs.clientCertificate)
        config.clientKey = .file(certs.clientKeyEncrypted, password: "wrong-secret-123")
        let error = #expect(throws: TLSError.self) { _ = try TLSContext(configuration: config) }
        #expect(error?.kind == .invalidKey)
        #expect(error?.description.contains(certs.clientKeyEncrypted) == true)
        #expect(error?.description.contains("wrong-secret-123") == false)
    }

    @Test func encryptedKeyWithoutPasswordFailsInsteadOfPrompting() async throws {
        let certs = try await Fixture.certs()
        var config = TLSConfiguration()
        config.clientCertificate = .file(certs.clientCertificate)
        config.clientKey = .file(certs.clientKeyEncrypted)
        let error = #expect(throws: TLSError.self) { _ = try TLSContext(configuration: config) }
        #expect(error?.kind == .invalidKey)
    }

    @Test func wrongPKCS12PasswordIsInvalidKey() async throws {
        let certs = try await Fixture.certs()
        var config = TLSConfiguration()
        config.clientKey = .pkcs12File(certs.clientPKCS12, password: "nope-secret")
        let error = #expect(throws: TLSError.self) { _ = try TLSContext(configuration: config) }
        #expect(error?.kind == .invalidKey)
        #expect(error?.description.contains("nope-secret") == false)
    }

    @Test func keyNotMatchingCertificateIsInvalidKey() async throws {
        let certs = try await Fixture.certs()
        var config = TLSConfiguration()
        config.clientCertificate = .file(certs.clientCertificate)
        config.clientKey = .file(certs.serverKey)
        let error = #expect(throws: TLSError.self) { _ = try TLSContext(configuration: config) }
        #expect(error?.kind == .invalidKey)
        #expect(error?.description.contains("does not match") == true)
    }

    @Test func certificateWithoutKeyIsAConfigurationError() async throws {
        let certs = try await Fixture.certs()
        var config = TLSConfiguration()
        config.clientCertificate = .file(certs.clientCertificate)
        let error = #expect(throws: TLSError.self) { _ = try TLSContext(configuration: config) }
        #expect(error?.kind == .invalidConfiguration)
    }

    @Test func unknownCipherNamesAreRejected() throws {
        var list = TLSConfiguration()
        list.cipherList = "NOT-A-CIPHER"
        #expect(throws: TLSError.self) { _ = try TLSContext(configuration: list) }
        var suites = TLSConfiguration()
        suites.cipherSuites = "TLS_NOT_A_SUITE"
        let error = #expect(throws: TLSError.self) { _ = try TLSContext(configuration: suites) }
        #expect(error?.kind == .invalidConfiguration)
    }

    @Test func invertedVersionRangeIsRejected() throws {
        var config = TLSConfiguration()
        config.minimumVersion = .v1_3
        config.maximumVersion = .v1_2
        let error = #expect(throws: TLSError.self) { _ = try TLSContext(configuration: config) }
        #expect(error?.kind == .invalidConfiguration)
    }

    @Test func customizeContextRunsAndItsErrorsSurface() throws {
        let called = Mutex(false)
        var config = TLSConfiguration()
        config.customizeContext = { _ in called.withLock { $0 = true } }
        _ = try TLSContext(configuration: config)
        #expect(called.withLock { $0 })

        struct Refused: Error {}
        config.customizeContext = { _ in throw Refused() }
        let error = #expect(throws: TLSError.self) { _ = try TLSContext(configuration: config) }
        #expect(error?.kind == .invalidConfiguration)
    }

    @Test func filesAreReadWhenTheContextIsBuilt() async throws {
        let certs = try await Fixture.certs()
        let path = try temporaryFile("placeholder")
        var config = TLSConfiguration()
        config.additionalTrustRoots = [.file(path)]
        #expect(throws: TLSError.self) { _ = try TLSContext(configuration: config) }
        // The file is rotated: the next context picks up the new content.
        try String(contentsOfFile: certs.caCertificate, encoding: .utf8).write(toFile: path, atomically: true, encoding: .utf8)
        _ = try TLSContext(configuration: config)
    }

    @Test func keySourceDescriptionsHideSecrets() {
        let pem = TLSKeySource.pem("-----BEGIN PRIVATE KEY-----\nSECRETMATERIAL\n-----END PRIVATE KEY-----", password: "hunter2")
        let file = TLSKeySource.file("/etc/key.pem", password: "hunter2")
        let p12 = TLSKeySource.pkcs12([1, 2, 3], password: "hunter2")
        for source in [pem, file, p12] {
            var dumped = ""
            dump(source, to: &dumped)
            for text in ["\(source)", String(reflecting: source), dumped] {
                #expect(!text.contains("hunter2"))
                #expect(!text.contains("SECRETMATERIAL"))
            }
        }
        #expect("\(file)".contains("/etc/key.pem"))
    }

    @Test func serverContextErrors() async throws {
        let certs = try await Fixture.certs()
        let error = #expect(throws: TLSError.self) {
            _ = try TLSServerContext(certificate: .file(certs.serverCertificate), key: .file(certs.clientKeyPKCS8))
        }
        #expect(error?.kind == .invalidKey)
        _ = try TLSServerContext(certificate: .file(certs.serverChain), key: .file(certs.serverKey))
    }

    private func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nats-tls-test-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
