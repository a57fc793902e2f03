/// Authentication material for one connection attempt: the plain value every strategy
/// yields. Several fields may be set together; `AuthResolver` decides what is sent.
///
/// `description` never shows a secret.
public struct Auth: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// A user JWT (sent as `jwt`).
    public var jwt: String?
    /// An NKey **seed** (`S...`): its public key is sent as `nkey` and it signs the nonce.
    /// From an `AuthCallback` this may instead be a public key together with `signature`.
    public var nkey: String?
    /// Signs the server nonce for `jwt`: receives the nonce's ASCII bytes and returns the raw
    /// Ed25519 signature bytes (for example from an HSM or a remote signer).
    public var signatureCallback: (@Sendable (_ nonce: [UInt8]) async throws -> [UInt8])?
    /// A signature already computed over the nonce (raw bytes; sent base64url-encoded).
    public var signature: [UInt8]?
    /// User name (sent as `user`).
    public var username: String?
    /// Password (sent as `pass`).
    public var password: String?
    /// Token (sent as `auth_token`).
    public var token: String?

    /// No authentication.
    public init() {}

    /// User and password authentication.
    public static func userPassword(_ username: String, _ password: String) -> Auth {
        var auth = Auth()
        auth.username = username
        auth.password = password
        return auth
    }

    /// Token authentication.
    public static func token(_ token: String) -> Auth {
        var auth = Auth()
        auth.token = token
        return auth
    }

    /// NKey authentication with a seed (`SU...`).
    public static func nkey(seed: String) -> Auth {
        var auth = Auth()
        auth.nkey = seed
        return auth
    }

    /// JWT authentication; `signer` signs the nonce's bytes and returns raw signature bytes.
    public static func jwt(
        _ jwt: String, signer: @escaping @Sendable (_ nonce: [UInt8]) async throws -> [UInt8]
    ) -> Auth {
        var auth = Auth()
        auth.jwt = jwt
        auth.signatureCallback = signer
        return auth
    }

    /// JWT authentication signed by `keyPair` (the user key the JWT was issued to).
    public static func jwt(_ jwt: String, keyPair: NKeyPair) -> Auth {
        .jwt(jwt) { nonce in try keyPair.sign(nonce) }
    }

    /// Which fields are set, with every secret redacted.
    public var description: String {
        var parts: [String] = []
        if let username { parts.append("username: \(username)") }
        if password != nil { parts.append("password: <redacted>") }
        if token != nil { parts.append("token: <redacted>") }
        if let nkey {
            parts.append(nkey.trimmingASCIIWhitespace.hasPrefix("S") ? "nkey: <seed redacted>" : "nkey: \(nkey)")
        }
        if jwt != nil { parts.append("jwt: <redacted>") }
        if signatureCallback != nil { parts.append("signatureCallback: set") }
        if signature != nil { parts.append("signature: <redacted>") }
        return "Auth(\(parts.joined(separator: ", ")))"
    }
    /// Same as `description`.
    public var debugDescription: String { description }
    /// Which fields are set, secrets redacted, so `dump` and debuggers do not print them.
    public var customMirror: Mirror {
        Mirror(self, children: ["redacted": description], displayStyle: .struct)
    }
}

/// Produces `Auth` for a connection attempt. Called on every connect and reconnect, with the
/// server's nonce when it sent one.
public protocol AuthStrategy: Sendable {
    /// Returns the authentication to use against a server that sent `nonce`.
    func auth(nonce: String?) async throws -> Auth
}

/// An `AuthStrategy` from a closure, e.g. to fetch fresh credentials on every reconnect.
public struct AuthCallback: AuthStrategy {
    private let body: @Sendable (String?) async throws -> Auth

    /// Wraps `body`, which receives the server nonce (or `nil`).
    public init(_ body: @escaping @Sendable (String?) async throws -> Auth) {
        self.body = body
    }

    /// Calls the closure.
    public func auth(nonce: String?) async throws -> Auth {
        try await body(nonce)
    }
}

/// Where to read `.creds` credentials from. Read again on every connect, so a rotated file
/// takes effect at the next reconnect.
public enum CredentialsSource: Sendable, CustomStringConvertible, CustomReflectable {
    /// A `.creds` file path.
    case file(path: String)
    /// The text of a `.creds` file.
    case string(String)

    /// Reads and parses the credentials.
    public func load() throws(AuthError) -> Credentials {
        switch self {
        case .file(let path): try Credentials.load(path: path)
        case .string(let text): try Credentials(contents: text)
        }
    }

    /// The path for a file; the text is redacted.
    public var description: String {
        switch self {
        case .file(let path): "file(\(path))"
        case .string: "string(<redacted>)"
        }
    }

    /// The path for a file; the text is redacted, so `dump` does not print it.
    public var customMirror: Mirror {
        Mirror(self, children: ["redacted": description], displayStyle: .enum)
    }
}

/// The authentication settings a client stores in its connect options.
public struct AuthOptions: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Static authentication material.
    public var auth: Auth = Auth()
    /// When set, called on every connect; its `Auth` replaces everything else here and any
    /// credentials in the URL.
    public var callback: (any AuthStrategy)?
    /// Credentials read at connect time; they fill the JWT slot (JWT and its signer),
    /// replacing `auth.jwt`, `auth.signatureCallback` and `auth.signature`.
    public var credentials: CredentialsSource?

    /// No authentication.
    public init() {}

    /// Static authentication material.
    public init(_ auth: Auth) {
        self.auth = auth
    }

    /// Credentials read from `source` on every connect.
    public static func credentials(_ source: CredentialsSource) -> AuthOptions {
        var options = AuthOptions()
        options.credentials = source
        return options
    }

    /// A callback called on every connect with the server nonce; it overrides everything else.
    public static func callback(_ body: @escaping @Sendable (String?) async throws -> Auth) -> AuthOptions {
        var options = AuthOptions()
        options.callback = AuthCallback(body)
        return options
    }

    /// What is configured, secrets redacted.
    public var description: String {
        var parts = ["auth: \(auth)"]
        if callback != nil { parts.append("callback: set") }
        if let credentials { parts.append("credentials: \(credentials)") }
        return "AuthOptions(\(parts.joined(separator: ", ")))"
    }
    /// Same as `description`.
    public var debugDescription: String { description }
    /// What is configured, secrets redacted, so `dump` of options holding this prints none.
    public var customMirror: Mirror {
        Mirror(self, children: ["redacted": description], displayStyle: .struct)
    }
}
