/// A `-ERR` from the server, classified.
///
/// The server's text is kept as it came (it carries no client secrets); `kind` says what it
/// means for the client.
public struct ServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What an error means.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        fileprivate let name: String
        /// Credentials missing or rejected. Not worth retrying with the same credentials.
        public static let authorizationViolation = Kind(name: "authorization violation")
        /// The user's JWT expired.
        public static let userAuthenticationExpired = Kind(name: "user authentication expired")
        /// The user's JWT was revoked.
        public static let userAuthenticationRevoked = Kind(name: "user authentication revoked")
        /// The account's JWT expired.
        public static let accountAuthenticationExpired = Kind(name: "account authentication expired")
        /// Publish or subscribe to a subject the user may not use; see ``ServerError/permission``.
        public static let permissionsViolation = Kind(name: "permissions violation")
        /// A message larger than the server's max_payload.
        public static let maxPayloadViolation = Kind(name: "maximum payload violation")
        /// The server considered the connection stale.
        public static let staleConnection = Kind(name: "stale connection")
        /// The server dropped the connection as a slow consumer.
        public static let slowConsumer = Kind(name: "slow consumer")
        /// The server did not understand an operation.
        public static let unknownProtocolOperation = Kind(name: "unknown protocol operation")
        /// The server has no room for another connection.
        public static let maxConnectionsExceeded = Kind(name: "maximum connections exceeded")
        /// The server requires TLS.
        public static let secureConnectionRequired = Kind(name: "secure connection required")
        /// The client took too long to authenticate.
        public static let authenticationTimeout = Kind(name: "authentication timeout")
        /// Any other error; see ``ServerError/text``.
        public static let other = Kind(name: "other")
        public var description: String { name }
    }

    /// The operation a permissions violation was about.
    public enum Operation: String, Sendable, Hashable {
        case publish, subscribe
    }

    /// The classification.
    public let kind: Kind
    /// The server's text, without quotes.
    public let text: String
    /// For a permissions violation: the operation and the subject.
    public let permission: (operation: Operation, subject: String)?

    /// Classifies a server error text (the part after `-ERR`, quotes optional).
    public init(text: String) {
        var t = Substring(text)
        if t.count >= 2, t.first == "'", t.last == "'" { t = t.dropFirst().dropLast() }
        self.text = String(t)
        let lower = self.text.lowercased()
        var permission: (Operation, String)? = nil
        let kind: Kind
        if lower.hasPrefix("authorization violation") {
            kind = .authorizationViolation
        } else if lower.hasPrefix("user authentication expired") {
            kind = .userAuthenticationExpired
        } else if lower.hasPrefix("user authentication revoked") {
            kind = .userAuthenticationRevoked
        } else if lower.hasPrefix("account authentication expired") {
            kind = .accountAuthenticationExpired
        } else if lower.hasPrefix("permissions violation") {
            kind = .permissionsViolation
            let op: Operation = lower.contains(" publish ") ? .publish : .subscribe
            var subject = ""
            if let first = self.text.firstIndex(of: "\""), let last = self.text.lastIndex(of: "\""), first < last {
                subject = String(self.text[self.text.index(after: first)..<last])
            }
            permission = (op, subject)
        } else if lower.hasPrefix("maximum payload") {
            kind = .maxPayloadViolation
        } else if lower.hasPrefix("stale connection") {
            kind = .staleConnection
        } else if lower.hasPrefix("slow consumer") {
            kind = .slowConsumer
        } else if lower.hasPrefix("unknown protocol operation") {
            kind = .unknownProtocolOperation
        } else if lower.hasPrefix("maximum connections exceeded") {
            kind = .maxConnectionsExceeded
        } else if lower.hasPrefix("secure connection") {
            kind = .secureConnectionRequired
        } else if lower.hasPrefix("authentication timeout") {
            kind = .authenticationTimeout
        } else {
            kind = .other
        }
        self.kind = kind
        self.permission = permission
    }

    /// Whether this error means the credentials were not accepted (violation, expiry, revocation).
    public var isAuthenticationError: Bool {
        kind == .authorizationViolation || kind == .userAuthenticationExpired
            || kind == .userAuthenticationRevoked || kind == .accountAuthenticationExpired
    }

    public var description: String { "server error: \(kind): '\(text)'" }

    public static func == (lhs: ServerError, rhs: ServerError) -> Bool {
        lhs.kind == rhs.kind && lhs.text == rhs.text
    }
}
