/// A TLS protocol version.
public struct TLSVersion: Hashable, Sendable, Comparable, CustomStringConvertible {
    let rawValue: Int32

    /// TLS 1.2 (RFC 5246).
    public static let v1_2 = TLSVersion(rawValue: 0x0303)
    /// TLS 1.3 (RFC 8446).
    public static let v1_3 = TLSVersion(rawValue: 0x0304)

    /// Orders versions from oldest to newest.
    public static func < (lhs: TLSVersion, rhs: TLSVersion) -> Bool { lhs.rawValue < rhs.rawValue }

    /// A readable summary.
    public var description: String { self == .v1_2 ? "TLSv1.2" : "TLSv1.3" }
}

/// Where certificates come from: a file, PEM text, or DER bytes.
///
/// PEM sources may hold several certificates (a bundle or a chain, leaf first).
public struct TLSCertificateSource: Sendable, Hashable, CustomStringConvertible {
    enum Storage: Sendable, Hashable {
        case file(String)
        case pem(String)
        case der([UInt8])
    }

    let storage: Storage

    /// A PEM (one or more certificates) or DER file, read each time a context is built.
    public static func file(_ path: String) -> TLSCertificateSource { .init(storage: .file(path)) }
    /// PEM text holding one or more certificates.
    public static func pem(_ text: String) -> TLSCertificateSource { .init(storage: .pem(text)) }
    /// One DER-encoded certificate.
    public static func der(_ bytes: [UInt8]) -> TLSCertificateSource { .init(storage: .der(bytes)) }

    /// A readable summary.
    public var description: String {
        switch storage {
        case .file(let path): "file(\(path))"
        case .pem: "pem(...)"
        case .der(let bytes): "der(\(bytes.count) bytes)"
        }
    }
}

/// Where a private key comes from.
///
/// PEM keys may be PKCS#8 (`BEGIN PRIVATE KEY`, or `BEGIN ENCRYPTED PRIVATE KEY` with a
/// password), PKCS#1 RSA (`BEGIN RSA PRIVATE KEY`) or SEC1 EC (`BEGIN EC PRIVATE KEY`).
/// A PKCS#12 bundle carries the key and its certificate chain. Descriptions never show the
/// key or the password.
public struct TLSKeySource: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    enum Storage: Sendable {
        case file(String, password: String?)
        case pem(String, password: String?)
        case der([UInt8])
        case pkcs12File(String, password: String)
        case pkcs12([UInt8], password: String)
    }

    let storage: Storage

    /// A PEM or DER key file, read each time a context is built.
    public static func file(_ path: String, password: String? = nil) -> TLSKeySource {
        .init(storage: .file(path, password: password))
    }
    /// A PEM key in memory.
    public static func pem(_ text: String, password: String? = nil) -> TLSKeySource {
        .init(storage: .pem(text, password: password))
    }
    /// A DER key in memory (PKCS#8, PKCS#1 or SEC1, detected automatically).
    public static func der(_ bytes: [UInt8]) -> TLSKeySource { .init(storage: .der(bytes)) }
    /// A PKCS#12 (`.p12` / `.pfx`) file with its password. Its certificate chain is used
    /// when ``TLSConfiguration/clientCertificate`` is `nil`.
    public static func pkcs12File(_ path: String, password: String) -> TLSKeySource {
        .init(storage: .pkcs12File(path, password: password))
    }
    /// A PKCS#12 bundle in memory with its password.
    public static func pkcs12(_ bytes: [UInt8], password: String) -> TLSKeySource {
        .init(storage: .pkcs12(bytes, password: password))
    }

    /// A readable summary.
    public var description: String {
        switch storage {
        case .file(let path, _): "TLSKeySource.file(\(path))"
        case .pem: "TLSKeySource.pem(<redacted>)"
        case .der: "TLSKeySource.der(<redacted>)"
        case .pkcs12File(let path, _): "TLSKeySource.pkcs12File(\(path))"
        case .pkcs12: "TLSKeySource.pkcs12(<redacted>)"
        }
    }

    /// Same as `description`.
    public var debugDescription: String { description }

    /// A mirror that shows no secrets.
    public var customMirror: Mirror { Mirror(self, children: ["source": description]) }
}

/// How the peer's certificate is checked.
public struct CertificateVerification: Hashable, Sendable, CustomStringConvertible {
    enum Mode: Hashable, Sendable { case full, noHostname, none }
    let mode: Mode

    /// Verify the chain against the trust roots and the host name or IP address (default).
    public static let fullVerification = CertificateVerification(mode: .full)
    /// Verify the chain but not the host name. Only for servers reached by an address their
    /// certificate does not list.
    public static let noHostnameVerification = CertificateVerification(mode: .noHostname)
    /// No verification at all. Encrypts but does not authenticate the server: testing only.
    public static let none = CertificateVerification(mode: .none)

    /// A readable summary.
    public var description: String {
        switch mode {
        case .full: "fullVerification"
        case .noHostname: "noHostnameVerification"
        case .none: "none"
        }
    }
}

/// Which OpenSSL provider supplies the cryptography.
public struct TLSCryptoProvider: Hashable, Sendable, CustomStringConvertible {
    enum Kind: Hashable, Sendable { case `default`, fips }
    let kind: Kind

    /// OpenSSL's default provider.
    public static let `default` = TLSCryptoProvider(kind: .default)
    /// OpenSSL's FIPS provider; building a context fails with ``TLSError/Kind/fipsUnavailable``
    /// when it is not installed and configured.
    public static let fips = TLSCryptoProvider(kind: .fips)

    /// A readable summary.
    public var description: String { kind == .fips ? "fips" : "default" }
}

/// What the custom verification hook learns about the peer's certificate.
public struct TLSPeerCertificateInfo: Sendable, Hashable {
    /// Subject name in RFC 2253 form, e.g. `CN=localhost,O=Example`.
    public var subject: String
    /// Issuer name in RFC 2253 form.
    public var issuer: String
    /// DNS names from the subject alternative name extension.
    public var dnsNames: [String]
    /// IP addresses from the subject alternative name extension, in text form.
    public var ipAddresses: [String]
    /// The leaf certificate, DER-encoded.
    public var der: [UInt8]
    /// The chain the peer sent, leaf first, each DER-encoded.
    public var chainDER: [[UInt8]]
    /// The host name or IP address the connection was checked against, if any.
    public var serverHostname: String?
    /// Whether OpenSSL's verification passed (always true unless verification is `.none`).
    public var chainVerified: Bool
}

/// Client TLS settings. Files are read each time a ``TLSContext`` is built, so a client
/// that builds a context per connection picks up rotated certificates.
///
/// ```swift
/// var tls = TLSConfiguration()
/// tls.additionalTrustRoots = [.file("/etc/nats/ca.pem")]
/// tls.clientCertificate = .file("/etc/nats/client.pem")
/// tls.clientKey = .file("/etc/nats/client-key.pem")
/// let context = try TLSContext(configuration: tls)
/// ```
public struct TLSConfiguration: Sendable {
    /// Trust the operating system's root certificates (default true).
    public var useSystemRoots: Bool = true
    /// Further trusted roots: files (bundles allowed), PEM text or DER.
    public var additionalTrustRoots: [TLSCertificateSource] = []
    /// Client certificate, leaf first then intermediates, for mutual TLS.
    public var clientCertificate: TLSCertificateSource?
    /// Private key of ``clientCertificate`` (or a PKCS#12 bundle holding both).
    public var clientKey: TLSKeySource?
    /// Lowest TLS version offered (default TLS 1.2).
    public var minimumVersion: TLSVersion = .v1_2
    /// Highest TLS version offered (default TLS 1.3).
    public var maximumVersion: TLSVersion = .v1_3
    /// OpenSSL cipher list for TLS 1.2 and below (`SSL_CTX_set_cipher_list` syntax); nil keeps OpenSSL's default.
    public var cipherList: String?
    /// TLS 1.3 cipher suites (`SSL_CTX_set_ciphersuites` syntax); nil keeps OpenSSL's default.
    public var cipherSuites: String?
    /// Name to send as SNI and to verify instead of the host connected to.
    public var serverNameOverride: String?
    /// How the server's certificate is checked (default ``CertificateVerification/fullVerification``).
    public var certificateVerification: CertificateVerification = .fullVerification
    /// Called after OpenSSL's verification succeeded (or was skipped with `.none`); return
    /// false to refuse the server, which fails the handshake with ``TLSError/Kind/verificationRejected``.
    public var verifyCallback: (@Sendable (TLSPeerCertificateInfo) -> Bool)?
    /// Expert hook, the spec's "custom TLS configuration": called with the `SSL_CTX*` after
    /// all other settings were applied, to set anything OpenSSL offers. Errors thrown here
    /// fail the context with ``TLSError/Kind/invalidConfiguration``.
    public var customizeContext: (@Sendable (OpaquePointer) throws -> Void)?
    /// The OpenSSL provider to use (default ``TLSCryptoProvider/default``).
    public var provider: TLSCryptoProvider = .default

    /// Settings with verification on, system roots trusted, TLS 1.2 and 1.3.
    public init() {}
}
