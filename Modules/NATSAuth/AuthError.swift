/// Why authentication material could not be produced. Its text never contains a secret
/// (seed, password, token, JWT or signature), only what was wrong and what to do.
public struct AuthError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The kind of failure, for matching: `error.code == .missingNonce`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case invalidSeed, invalidCredentials, invalidJWT, missingNonce, callbackFailed
            case signingFailed, fileUnreadable
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// An NKey seed could not be decoded.
        public static let invalidSeed = Code(.invalidSeed)
        /// A credentials (`.creds`) text is missing its JWT or seed, or is malformed.
        public static let invalidCredentials = Code(.invalidCredentials)
        /// A JWT is malformed or cannot be issued as asked.
        public static let invalidJWT = Code(.invalidJWT)
        /// NKey or JWT authentication is configured but the server sent no nonce to sign.
        public static let missingNonce = Code(.missingNonce)
        /// A user-supplied auth or signature callback threw.
        public static let callbackFailed = Code(.callbackFailed)
        /// Signing the nonce failed.
        public static let signingFailed = Code(.signingFailed)
        /// A credentials file could not be read.
        public static let fileUnreadable = Code(.fileUnreadable)

        /// The code's name.
        public var description: String { kind.rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// A non-secret explanation.
    public let detail: String
    /// The error that caused this one (for `callbackFailed`, `fileUnreadable`, `invalidSeed`).
    public let underlying: (any Error)?

    private init(_ code: Code, _ detail: String, underlying: (any Error)? = nil) {
        self.code = code
        self.detail = detail
        self.underlying = underlying
    }

    /// An NKey seed could not be decoded; `reason` says which part is wrong.
    public static func invalidSeed(_ reason: NKeyError) -> AuthError {
        AuthError(.invalidSeed, "invalid NKey seed: \(reason)", underlying: reason)
    }
    /// Credentials text is malformed; `detail` names the missing or bad part.
    public static func invalidCredentials(_ detail: String) -> AuthError {
        AuthError(.invalidCredentials, detail)
    }
    /// A JWT is malformed; `detail` says how.
    public static func invalidJWT(_ detail: String) -> AuthError {
        AuthError(.invalidJWT, detail)
    }
    /// NKey or JWT authentication needs the server's nonce and there is none.
    public static let missingNonce = AuthError(
        .missingNonce,
        "NKey/JWT authentication is configured but the server sent no nonce to sign; "
            + "check that the server has NKey or JWT authentication enabled, or remove the NKey/JWT settings")
    /// A callback threw `underlying`.
    public static func callbackFailed(_ underlying: any Error) -> AuthError {
        callbackFailed(underlying, detail: "the auth callback threw")
    }
    /// A callback threw `underlying`; `detail` names which callback.
    public static func callbackFailed(_ underlying: any Error, detail: String) -> AuthError {
        AuthError(.callbackFailed, detail, underlying: underlying)
    }
    /// Signing failed; `detail` says why.
    public static func signingFailed(_ detail: String, underlying: (any Error)? = nil) -> AuthError {
        AuthError(.signingFailed, "signing the server nonce failed: \(detail)", underlying: underlying)
    }
    /// The credentials file at `path` could not be read.
    public static func fileUnreadable(_ path: String, underlying: (any Error)? = nil) -> AuthError {
        AuthError(.fileUnreadable, "cannot read credentials file at \(path); check the path and its permissions",
                  underlying: underlying)
    }

    /// The code and explanation; never a secret.
    public var description: String { "AuthError.\(code): \(detail)" }

    /// Like `description`, plus the type of the underlying error (its text may come from user
    /// code, so it is not included).
    public var debugDescription: String {
        if let underlying { return "\(description) (underlying: \(Swift.type(of: underlying)))" }
        return description
    }

    /// Code, detail and the underlying error's type only: its fields may come from user code
    /// (a callback's error) and hold a secret, so `dump` does not walk into it.
    public var customMirror: Mirror {
        Mirror(self, children: [
            "code": code.description,
            "detail": detail,
            "underlyingType": underlying.map { "\(Swift.type(of: $0))" } as Any,
        ], displayStyle: .struct)
    }
}
