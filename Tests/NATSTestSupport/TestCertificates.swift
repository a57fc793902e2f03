import Foundation
import Synchronization

/// Certificate fixtures for TLS tests, generated once per process with the `openssl` CLI
/// into a temporary folder.
///
/// All certificates except the "untrusted" ones are issued by ``caCertificate``. Keys are
/// unencrypted PEM unless noted. Server certificates are valid for DNS `localhost` and IPs
/// `127.0.0.1` and `::1` unless noted.
///
/// ```swift
/// let certs = try await TestCertificates.shared()
/// var tls = TLSConfiguration()
/// tls.useSystemRoots = false
/// tls.additionalTrustRoots = [.file(certs.caCertificate)]
/// ```
public struct TestCertificates: Sendable {
    /// The folder holding every file.
    public let directory: String

    /// The test CA (self-signed, EC P-256).
    public let caCertificate: String
    /// The test CA's key (PKCS#8).
    public let caKey: String

    /// Server certificate for `localhost`, `127.0.0.1`, `::1`.
    public let serverCertificate: String
    /// Its key (PKCS#8 EC).
    public let serverKey: String
    /// Server certificate followed by the CA certificate (a chain file).
    public let serverChain: String

    /// Server certificate for `wrong.example.com` only, for host name mismatch tests.
    public let wrongNameCertificate: String
    /// Its key (PKCS#8 EC).
    public let wrongNameKey: String

    /// Server certificate for `localhost`/`127.0.0.1`, valid only from 2020-01-01 to 2021-01-01.
    public let expiredCertificate: String
    /// Its key (PKCS#8 EC).
    public let expiredKey: String

    /// Client certificate (CN=client, EC P-256).
    public let clientCertificate: String
    /// Its key as PKCS#8 (`BEGIN PRIVATE KEY`).
    public let clientKeyPKCS8: String
    /// The same key as SEC1 (`BEGIN EC PRIVATE KEY`).
    public let clientKeySEC1: String
    /// The same key as encrypted PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`), password ``keyPassword``.
    public let clientKeyEncrypted: String
    /// Password of ``clientKeyEncrypted``.
    public let keyPassword: String
    /// Client certificate + key + CA in PKCS#12, password ``pkcs12Password``.
    public let clientPKCS12: String
    /// Password of ``clientPKCS12``.
    public let pkcs12Password: String

    /// Client certificate (CN=rsa-client) with an RSA 2048 key.
    public let clientRSACertificate: String
    /// Its key as PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    public let clientRSAKeyPKCS1: String
    /// Its key as PKCS#8.
    public let clientRSAKeyPKCS8: String

    /// A second CA that nothing trusts.
    public let untrustedCACertificate: String
    /// Client certificate issued by the untrusted CA.
    public let untrustedClientCertificate: String
    /// Its key (PKCS#8 EC).
    public let untrustedClientKey: String
    /// Server certificate for `localhost` issued by the untrusted CA.
    public let untrustedServerCertificate: String
    /// Its key (PKCS#8 EC).
    public let untrustedServerKey: String

    /// A PEM bundle holding both CA certificates.
    public let caBundle: String

    /// Generated once per process, on a thread of its own: running `openssl` blocks, and a
    /// blocked cooperative thread would starve every other test on a 2-core machine.
    private static let generation = Task<TestCertificates, any Error> {
        try await runOffCooperativePool { try generate() }
    }

    /// The fixtures, generated on first use and shared by the whole process.
    public static func shared() async throws -> TestCertificates {
        try await generation.value
    }

    private static func generate() throws -> TestCertificates {
        let base = FileManager.default.temporaryDirectory
            .appendingPathComponent("swift-nats-certs-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        let dir = base.path
        func path(_ name: String) -> String { dir + "/" + name }
        func write(_ name: String, _ text: String) throws {
            try text.write(toFile: path(name), atomically: true, encoding: .utf8)
        }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        let serverExt = "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n"
        let clientExt = "extendedKeyUsage=clientAuth\n"

        func makeCA(_ name: String, _ cn: String) throws {
            try openssl(["req", "-x509"] + ec + [
                "-keyout", path("\(name)-key.pem"), "-out", path("\(name).pem"),
                "-subj", "/O=NATS Test/CN=\(cn)", "-days", "3650",
            ])
        }
        var serial = 1
        func issue(_ name: String, cn: String, ext: String, ca: String, keyArgs: [String] = ec) throws {
            serial += 1
            try write("\(name).ext", ext)
            try openssl(["req", "-new"] + keyArgs + [
                "-keyout", path("\(name)-key.pem"), "-out", path("\(name).csr"), "-subj", "/O=NATS Test/CN=\(cn)",
            ])
            try openssl([
                "x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca)-key.pem"),
                "-set_serial", "\(serial)", "-days", "3650", "-sha256", "-extfile", path("\(name).ext"), "-out", path("\(name).pem"),
            ])
        }

        try makeCA("ca", "NATS Test CA")
        try makeCA("untrusted-ca", "Untrusted Test CA")
        try issue("server", cn: "localhost", ext: serverExt, ca: "ca")
        try issue("wrong-name", cn: "wrong.example.com", ext: "subjectAltName=DNS:wrong.example.com\nextendedKeyUsage=serverAuth\n", ca: "ca")
        try issue("client", cn: "client", ext: clientExt, ca: "ca")
        try issue("rsa-client", cn: "rsa-client", ext: clientExt, ca: "ca", keyArgs: ["-newkey", "rsa:2048", "-nodes"])
        try issue("untrusted-client", cn: "untrusted-client", ext: clientExt, ca: "untrusted-ca")
        try issue("untrusted-server", cn: "localhost", ext: serverExt, ca: "untrusted-ca")

        // `x509 -req` cannot back-date in OpenSSL 3.0; `openssl ca` can (-startdate/-enddate).
        try FileManager.default.createDirectory(atPath: path("ca-db"), withIntermediateDirectories: true)
        try write("ca-db/index.txt", "")
        try write("ca-db/serial", "1000\n")
        try write("ca.cnf", """
            [ ca ]
            default_ca = test
            [ test ]
            database = \(path("ca-db/index.txt"))
            serial = \(path("ca-db/serial"))
            new_certs_dir = \(path("ca-db"))
            default_md = sha256
            policy = anything
            unique_subject = no
            [ anything ]
            commonName = supplied
            organizationName = optional
            [ server ]
            subjectAltName = DNS:localhost,IP:127.0.0.1
            extendedKeyUsage = serverAuth

            """)
        try openssl(["req", "-new"] + ec + [
            "-keyout", path("expired-key.pem"), "-out", path("expired.csr"), "-subj", "/O=NATS Test/CN=localhost",
        ])
        try openssl([
            "ca", "-batch", "-config", path("ca.cnf"), "-cert", path("ca.pem"), "-keyfile", path("ca-key.pem"),
            "-startdate", "20200101000000Z", "-enddate", "20210101000000Z", "-extensions", "server",
            "-notext", "-in", path("expired.csr"), "-out", path("expired.pem"),
        ])

        // Other key encodings.
        try openssl(["ec", "-in", path("client-key.pem"), "-out", path("client-key-sec1.pem")])
        let password = "key-password"
        try openssl([
            "pkcs8", "-topk8", "-in", path("client-key.pem"), "-out", path("client-key-encrypted.pem"),
            "-v2", "aes-256-cbc", "-passout", "pass:\(password)",
        ])
        try openssl(["rsa", "-in", path("rsa-client-key.pem"), "-traditional", "-out", path("rsa-client-key-pkcs1.pem")])
        try openssl(["pkey", "-in", path("rsa-client-key.pem"), "-out", path("rsa-client-key-pkcs8.pem")])
        let p12Password = "p12-password"
        try openssl([
            "pkcs12", "-export", "-inkey", path("client-key.pem"), "-in", path("client.pem"), "-certfile", path("ca.pem"),
            "-passout", "pass:\(p12Password)", "-out", path("client.p12"),
        ])

        let caText = try String(contentsOfFile: path("ca.pem"), encoding: .utf8)
        let untrustedText = try String(contentsOfFile: path("untrusted-ca.pem"), encoding: .utf8)
        let serverText = try String(contentsOfFile: path("server.pem"), encoding: .utf8)
        try write("ca-bundle.pem", untrustedText + caText)
        try write("server-chain.pem", serverText + caText)

        return TestCertificates(
            directory: dir,
            caCertificate: path("ca.pem"),
            caKey: path("ca-key.pem"),
            serverCertificate: path("server.pem"),
            serverKey: path("server-key.pem"),
            serverChain: path("server-chain.pem"),
            wrongNameCertificate: path("wrong-name.pem"),
            wrongNameKey: path("wrong-name-key.pem"),
            expiredCertificate: path("expired.pem"),
            expiredKey: path("expired-key.pem"),
            clientCertificate: path("client.pem"),
            clientKeyPKCS8: path("client-key.pem"),
            clientKeySEC1: path("client-key-sec1.pem"),
            clientKeyEncrypted: path("client-key-encrypted.pem"),
            keyPassword: password,
            clientPKCS12: path("client.p12"),
            pkcs12Password: p12Password,
            clientRSACertificate: path("rsa-client.pem"),
            clientRSAKeyPKCS1: path("rsa-client-key-pkcs1.pem"),
            clientRSAKeyPKCS8: path("rsa-client-key-pkcs8.pem"),
            untrustedCACertificate: path("untrusted-ca.pem"),
            untrustedClientCertificate: path("untrusted-client.pem"),
            untrustedClientKey: path("untrusted-client-key.pem"),
            untrustedServerCertificate: path("untrusted-server.pem"),
            untrustedServerKey: path("untrusted-server-key.pem"),
            caBundle: path("ca-bundle.pem")
        )
    }

    /// Runs `openssl` with `arguments`, failing with its output if it exits non-zero.
    private static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = readToEndRetryingInterrupts(output.fileHandleForReading)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: data, as: UTF8.self)
            throw TestCertificateError(message: "openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(text)")
        }
    }
}

/// Generating the fixtures failed (is the `openssl` command installed?).
public struct TestCertificateError: Error, CustomStringConvertible {
    /// What failed.
    public let message: String
    public var description: String { "test certificate generation failed: \(message)" }
}
