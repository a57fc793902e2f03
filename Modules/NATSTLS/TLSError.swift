/// An error from building a TLS context or from a TLS connection.
///
/// Match on ``kind``; ``description`` adds what went wrong in words, including OpenSSL's
/// reason text where there is one. Descriptions name files but never contain key material
/// or passwords.
///
/// ```swift
/// do {
///     let stream = try await TLSStream.connect(over: tcp, context: context, serverHostname: "demo.nats.io", timeout: .seconds(5))
/// } catch where error.kind == .unknownCA {
///     // add the server's CA to `additionalTrustRoots`
/// }
/// ```
public struct TLSError: Error, CustomStringConvertible, CustomDebugStringConvertible {
    /// What kind of failure this is.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Code: Hashable, Sendable {
            case unknownCA, hostnameMismatch, certificateExpired, certificateVerificationFailed
            case verificationRejected, peerRejectedCertificate, clientCertificateRequired
            case protocolVersion, handshakeTimeout, invalidCertificate, invalidKey
            case invalidConfiguration, fipsUnavailable, closed, transport, other
        }

        private let code: Code

        private init(_ code: Code) { self.code = code }

        /// The peer's certificate does not chain to a trusted root (unknown issuer, or a
        /// self-signed certificate that is not trusted).
        public static let unknownCA = Kind(.unknownCA)
        /// The peer's certificate is valid but not for the host name or IP address we connected to.
        public static let hostnameMismatch = Kind(.hostnameMismatch)
        /// The peer's certificate is outside its validity period (expired or not yet valid).
        public static let certificateExpired = Kind(.certificateExpired)
        /// The peer's certificate failed verification for another reason (see the description).
        public static let certificateVerificationFailed = Kind(.certificateVerificationFailed)
        /// ``TLSConfiguration/verifyCallback`` returned `false`.
        public static let verificationRejected = Kind(.verificationRejected)
        /// The peer refused the certificate we presented (for example our client certificate
        /// is from a CA the server does not trust).
        public static let peerRejectedCertificate = Kind(.peerRejectedCertificate)
        /// The server requires a client certificate and we presented none
        /// (or, on a server, the client presented none).
        public static let clientCertificateRequired = Kind(.clientCertificateRequired)
        /// The two sides have no TLS version in common.
        public static let protocolVersion = Kind(.protocolVersion)
        /// The handshake did not finish within the time limit.
        public static let handshakeTimeout = Kind(.handshakeTimeout)
        /// A certificate (file or in-memory data) could not be read or parsed.
        public static let invalidCertificate = Kind(.invalidCertificate)
        /// A private key (file or in-memory data) could not be read, decrypted or parsed,
        /// or does not match its certificate.
        public static let invalidKey = Kind(.invalidKey)
        /// A setting was rejected (for example an unknown cipher name).
        public static let invalidConfiguration = Kind(.invalidConfiguration)
        /// The FIPS provider was requested but could not be loaded.
        public static let fipsUnavailable = Kind(.fipsUnavailable)
        /// The connection is closed: the peer went away during the handshake or without a
        /// TLS close_notify, or the stream was used after `close()`.
        public static let closed = Kind(.closed)
        /// The underlying byte stream failed; see ``TLSError/underlyingError``.
        public static let transport = Kind(.transport)
        /// Any other TLS failure; see the description.
        public static let other = Kind(.other)

        /// A readable summary.
        public var description: String {
            switch code {
            case .unknownCA: "unknownCA"
            case .hostnameMismatch: "hostnameMismatch"
            case .certificateExpired: "certificateExpired"
            case .certificateVerificationFailed: "certificateVerificationFailed"
            case .verificationRejected: "verificationRejected"
            case .peerRejectedCertificate: "peerRejectedCertificate"
            case .clientCertificateRequired: "clientCertificateRequired"
            case .protocolVersion: "protocolVersion"
            case .handshakeTimeout: "handshakeTimeout"
            case .invalidCertificate: "invalidCertificate"
            case .invalidKey: "invalidKey"
            case .invalidConfiguration: "invalidConfiguration"
            case .fipsUnavailable: "fipsUnavailable"
            case .closed: "closed"
            case .transport: "transport"
            case .other: "other"
            }
        }
    }

    /// What kind of failure this is.
    public let kind: Kind
    /// What went wrong and what to do, in words.
    public let message: String
    /// OpenSSL's reason text (from its error queue or certificate verification), if any.
    public let reason: String?
    /// The error of the underlying byte stream, for ``Kind/transport``.
    public let underlyingError: (any Error)?

    init(_ kind: Kind, _ message: String, reason: String? = nil, underlying: (any Error)? = nil) {
        self.kind = kind
        self.message = message
        self.reason = reason.flatMap { $0.isEmpty ? nil : $0 }
        self.underlyingError = underlying
    }

    /// A readable summary.
    public var description: String {
        var text = "TLS error (\(kind)): \(message)"
        if let reason { text += " [OpenSSL: \(reason)]" }
        if let underlyingError { text += " (underlying: \(underlyingError))" }
        return text
    }

    /// Same as `description`.
    public var debugDescription: String { description }
}
