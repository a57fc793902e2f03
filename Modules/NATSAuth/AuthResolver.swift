public import NATSWire

/// The auth fields of a `CONNECT`, as resolved for one connection attempt.
///
/// `description` shows `user` and `nkey` (public) and redacts `pass`, `auth_token`, `jwt`
/// and `sig`.
public struct AuthFields: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// `user`.
    public var user: String?
    /// `pass`. Secret.
    public var pass: String?
    /// `auth_token`. Secret.
    public var authToken: String?
    /// `jwt`.
    public var jwt: String?
    /// `nkey`: a public key.
    public var nkey: String?
    /// `sig`: base64url (no padding) signature of the nonce.
    public var sig: String?

    /// No fields.
    public init(
        user: String? = nil, pass: String? = nil, authToken: String? = nil,
        jwt: String? = nil, nkey: String? = nil, sig: String? = nil
    ) {
        self.user = user
        self.pass = pass
        self.authToken = authToken
        self.jwt = jwt
        self.nkey = nkey
        self.sig = sig
    }

    /// Whether no field is set.
    public var isEmpty: Bool {
        user == nil && pass == nil && authToken == nil && jwt == nil && nkey == nil && sig == nil
    }

    /// Writes all six fields into `info`, clearing those that are `nil` here.
    public func apply(to info: inout ConnectInfo) {
        info.user = user
        info.pass = pass
        info.authToken = authToken
        info.jwt = jwt
        info.nkey = nkey
        info.sig = sig
    }

    /// The set fields, secrets redacted.
    public var description: String {
        let parts = ConnectInfo.redactedAuthParts(user: user, pass: pass, authToken: authToken, jwt: jwt, nkey: nkey, sig: sig)
        return "AuthFields(\(parts.joined(separator: ", ")))"
    }
    /// Same as `description`.
    public var debugDescription: String { description }
    /// The set fields, secrets redacted, so `dump` does not print them.
    public var customMirror: Mirror {
        Mirror(self, children: ["redacted": description], displayStyle: .struct)
    }
}

/// Turns `AuthOptions` and the server nonce into `CONNECT` auth fields.
public enum AuthResolver {
    /// Resolves, in the spec's priority order: callback overrides all; then NKey; then JWT
    /// (with signatureCallback or signature, credentials file/string here too); then
    /// user/password/token from `Auth`; then user/password (or token as the lone user part)
    /// from the URL.
    ///
    /// The rules, in detail (they follow async-nats's connector, which writes the NKey fields
    /// first and lets a JWT signer overwrite `sig`):
    /// 1. `callback` set: it is called (every time) and its `Auth` is the only source;
    ///    `auth`, `credentials` and URL credentials are ignored.
    /// 2. Otherwise `credentials`, when set, are read now and fill the JWT slot: their JWT,
    ///    signed by their key, replacing `auth.jwt`/`signatureCallback`/`signature`.
    /// 3. NKey: a seed in `nkey` sends its public key as `nkey` and its signature of the nonce
    ///    as `sig`. (From a callback, `nkey` may be a public key sent as is with `signature`.)
    /// 4. JWT: `jwt` is sent. `sig` comes from, first to last: `signatureCallback`, the
    ///    credentials key, `signature`, the NKey seed. So with both a seed and a JWT that has
    ///    its own signer, `nkey` is the seed's public key and `sig` is the JWT signer's
    ///    (the server checks a JWT's `sig` against the JWT subject and ignores `nkey`); with a
    ///    seed and a JWT without a signer, the seed signs for the JWT (as in a `.creds` file).
    ///    A JWT with no signer at all is sent without `sig` (a bearer JWT).
    /// 5. `username`, `password` and `token` from `Auth` are sent whenever set, alongside the
    ///    above.
    /// 6. Only when nothing above produced a field: the URL's user and password, or, for a
    ///    URL with a user and no password, that user as `auth_token`.
    ///
    /// The nonce's ASCII bytes are signed exactly; `sig` is base64url without padding. When a
    /// signature is needed and `nonce` is `nil` or empty, this throws `missingNonce` rather
    /// than sign nothing.
    public static func resolve(
        _ options: AuthOptions, urlUser: String?, urlPassword: String?, nonce: String?
    ) async throws(AuthError) -> AuthFields {
        let nonce = (nonce?.isEmpty ?? true) ? nil : nonce
        if let callback = options.callback {
            let auth: Auth
            do {
                auth = try await callback.auth(nonce: nonce)
            } catch {
                throw .callbackFailed(error)
            }
            return try await fields(from: auth, credentialsKey: nil, nonce: nonce, allowPublicNKey: true)
        }
        var auth = options.auth
        var credentialsKey: NKeyPair?
        if let source = options.credentials {
            let credentials = try source.load()
            auth.jwt = credentials.jwt
            auth.signatureCallback = nil
            auth.signature = nil
            credentialsKey = credentials.keyPair
        }
        var result = try await fields(
            from: auth, credentialsKey: credentialsKey, nonce: nonce, allowPublicNKey: false)
        if result.isEmpty, let urlUser, !urlUser.isEmpty {
            if let urlPassword {
                result.user = urlUser
                result.pass = urlPassword
            } else {
                result.authToken = urlUser
            }
        }
        return result
    }

    private static func fields(
        from auth: Auth, credentialsKey: NKeyPair?, nonce: String?, allowPublicNKey: Bool
    ) async throws(AuthError) -> AuthFields {
        var result = AuthFields()
        result.user = auth.username
        result.pass = auth.password
        result.authToken = auth.token

        var seedKey: NKeyPair?
        if let nkey = auth.nkey {
            let trimmed = String(nkey.trimmingASCIIWhitespace)
            if trimmed.hasPrefix("S") || !allowPublicNKey {
                do {
                    seedKey = try NKeyPair(seed: trimmed)
                } catch {
                    throw .invalidSeed(error)
                }
                result.nkey = seedKey?.publicKey
            } else {
                do {
                    _ = try NKeyCodec.decodePublic(trimmed)
                } catch {
                    throw .invalidSeed(error)
                }
                result.nkey = trimmed
            }
        }

        func requireNonce() throws(AuthError) -> [UInt8] {
            guard let nonce else { throw .missingNonce }
            return Array(nonce.utf8)
        }
        func sign(with key: NKeyPair) throws(AuthError) -> String {
            let message = try requireNonce()
            do {
                return Base64URL.encode(try key.sign(message))
            } catch {
                throw .signingFailed("the \(key.type) key cannot sign", underlying: error)
            }
        }

        if let jwt = auth.jwt {
            result.jwt = jwt
            if let callback = auth.signatureCallback {
                let message = try requireNonce()
                let signature: [UInt8]
                do {
                    signature = try await callback(message)
                } catch {
                    throw .callbackFailed(error, detail: "the JWT signature callback threw")
                }
                guard !signature.isEmpty else {
                    throw .signingFailed("the JWT signature callback returned no bytes")
                }
                result.sig = Base64URL.encode(signature)
            } else if let credentialsKey {
                result.sig = try sign(with: credentialsKey)
            } else if let signature = auth.signature {
                result.sig = Base64URL.encode(signature)
            } else if let seedKey {
                result.sig = try sign(with: seedKey)
            }
        } else if let seedKey {
            result.sig = try sign(with: seedKey)
        } else if let signature = auth.signature {
            result.sig = Base64URL.encode(signature)
        }
        return result
    }
}
