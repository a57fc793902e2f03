public import NATSWire

/// An error from the NATS client.
///
/// Compare with the static members (`error.kind == .timeout`) or match on ``kind``.
/// `description` says what went wrong and what to do; it never contains a password,
/// token, seed, JWT or signature.
public struct NATSError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        fileprivate let name: String
        /// Could not reach a server or the connection broke.
        public static let connection = Kind(name: "connection")
        /// An operation did not finish in time.
        public static let timeout = Kind(name: "timeout")
        /// The server rejected the credentials. Not retried.
        public static let authorizationViolation = Kind(name: "authorization-violation")
        /// Credentials could not be produced (bad seed, unreadable file, failing callback, no nonce).
        public static let authentication = Kind(name: "authentication")
        /// The TLS handshake or session failed.
        public static let tls = Kind(name: "tls")
        /// TLS was required by the options or the URL, but the server does not offer it.
        public static let secureConnectionRequired = Kind(name: "secure-connection-required")
        /// The server sent something that is not NATS protocol.
        public static let `protocol` = Kind(name: "protocol")
        /// The message is larger than the server's max_payload.
        public static let maxPayloadExceeded = Kind(name: "max-payload")
        /// The subject or queue group is not valid.
        public static let invalidSubject = Kind(name: "invalid-subject")
        /// Headers that cannot be sent (bad name, CR or LF in a value).
        public static let invalidHeaders = Kind(name: "invalid-headers")
        /// Nobody is subscribed to the request's subject.
        public static let noResponders = Kind(name: "no-responders")
        /// The server refused a publish or subscribe for lack of permission.
        public static let permissionsViolation = Kind(name: "permissions-violation")
        /// Invalid options or URLs.
        public static let config = Kind(name: "config")
        /// The connection is closed (or draining) and cannot be used.
        public static let connectionClosed = Kind(name: "connection-closed")
        /// Publishing while disconnected filled the reconnect buffer.
        public static let reconnectBufferExceeded = Kind(name: "reconnect-buffer-exceeded")
        /// Any other error the server reported.
        public static let serverError = Kind(name: "server-error")
        /// The operation was cancelled.
        public static let cancelled = Kind(name: "cancelled")
        public var description: String { name }
    }

    /// The kind of failure.
    public let kind: Kind
    /// What happened, for a person.
    public let message: String
    /// The error that caused this one, if any (never carries a secret).
    public let underlying: (any Error & Sendable)?
    /// The server's error, when the server reported it.
    public let serverError: ServerError?

    init(_ kind: Kind, _ message: String, underlying: (any Error & Sendable)? = nil, serverError: ServerError? = nil) {
        self.kind = kind
        self.message = message
        self.underlying = underlying
        self.serverError = serverError
    }

    public var description: String { "\(kind): \(message)" }

    /// Pattern-matching support: `catch let e as NATSError where e == .timeout`.
    public static func == (lhs: NATSError, rhs: Kind) -> Bool { lhs.kind == rhs }

    static let timeout = NATSError(.timeout, "the operation timed out")
    static let closed = NATSError(.connectionClosed, "the connection is closed")
    static let noResponders = NATSError(.noResponders, "no responders are subscribed to the request subject")

    static func from(server error: ServerError) -> NATSError {
        switch error.kind {
        case .authorizationViolation, .userAuthenticationExpired, .userAuthenticationRevoked, .accountAuthenticationExpired:
            return NATSError(.authorizationViolation, "the server rejected the credentials: '\(error.text)'; check the user, password, token, NKey or JWT", serverError: error)
        case .permissionsViolation:
            return NATSError(.permissionsViolation, "'\(error.text)'", serverError: error)
        case .maxPayloadViolation:
            return NATSError(.maxPayloadExceeded, "'\(error.text)'", serverError: error)
        case .secureConnectionRequired:
            return NATSError(.secureConnectionRequired, "the server requires TLS: '\(error.text)'", serverError: error)
        default:
            return NATSError(.serverError, "'\(error.text)'", serverError: error)
        }
    }
}
