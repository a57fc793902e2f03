public import NATSAuth

extension ConnectOptions {
    // MARK: - Spec style: `ConnectOptions.withToken("t").connect(url)`

    /// Options that authenticate with a user name and password.
    public static func withUserAndPassword(_ user: String, _ password: String) -> ConnectOptions {
        ConnectOptions().userAndPassword(user, password)
    }

    /// Options that authenticate with a token.
    public static func withToken(_ token: String) -> ConnectOptions {
        ConnectOptions().token(token)
    }

    /// Options that authenticate with an NKey seed (`SU…`); the seed signs each nonce.
    public static func withNKey(_ seed: String) -> ConnectOptions {
        ConnectOptions().nkey(seed: seed)
    }

    /// Options that authenticate with a user JWT; `signer` signs the nonce (it may call an HSM
    /// or a remote service) and returns the raw Ed25519 signature.
    public static func withJWT(_ jwt: String, signer: @escaping @Sendable (_ nonce: [UInt8]) async throws -> [UInt8]) -> ConnectOptions {
        ConnectOptions().jwt(jwt, signer: signer)
    }

    /// Options that authenticate with a `.creds` file, read again on every connect.
    ///
    /// - Throws: `.authentication` now when the file is unreadable or malformed.
    public static func withCredentialsFile(_ path: String) throws(NATSError) -> ConnectOptions {
        try ConnectOptions().credentialsFile(path)
    }

    /// Options that authenticate with the contents of a `.creds` file.
    public static func withCredentials(_ contents: String) throws(NATSError) -> ConnectOptions {
        try ConnectOptions().credentials(contents)
    }

    /// Options whose credentials come from `callback`, called with the server's nonce on every
    /// connect and reconnect; it overrides every other method.
    public static func withAuthCallback(_ callback: @escaping @Sendable (_ nonce: String?) async throws -> Auth) -> ConnectOptions {
        ConnectOptions().authCallback(callback)
    }

    // MARK: - Chained

    /// A copy that authenticates with a user name and password.
    public func userAndPassword(_ user: String, _ password: String) -> ConnectOptions {
        with {
            $0.auth.auth.username = user
            $0.auth.auth.password = password
        }
    }

    /// A copy that authenticates with a token.
    public func token(_ token: String) -> ConnectOptions { with { $0.auth.auth.token = token } }

    /// A copy that authenticates with an NKey seed.
    public func nkey(seed: String) -> ConnectOptions { with { $0.auth.auth.nkey = seed } }

    /// A copy that authenticates with a user JWT and an async signer.
    public func jwt(_ jwt: String, signer: @escaping @Sendable (_ nonce: [UInt8]) async throws -> [UInt8]) -> ConnectOptions {
        with {
            $0.auth.auth.jwt = jwt
            $0.auth.auth.signatureCallback = signer
        }
    }

    /// A copy that authenticates with a `.creds` file, checked now and read again on every connect.
    public func credentialsFile(_ path: String) throws(NATSError) -> ConnectOptions {
        try Self.check(.file(path: path))
        return with { $0.auth.credentials = .file(path: path) }
    }

    /// A copy that authenticates with the contents of a `.creds` file.
    public func credentials(_ contents: String) throws(NATSError) -> ConnectOptions {
        try Self.check(.string(contents))
        return with { $0.auth.credentials = .string(contents) }
    }

    /// A copy whose credentials come from `callback` on every connect and reconnect.
    public func authCallback(_ callback: @escaping @Sendable (_ nonce: String?) async throws -> Auth) -> ConnectOptions {
        with { $0.auth.callback = AuthCallback(callback) }
    }

    private static func check(_ source: CredentialsSource) throws(NATSError) {
        do {
            _ = try source.load()
        } catch {
            throw NATSError(.authentication, "\(error)", underlying: error)
        }
    }
}
