/// The fields of the client's `CONNECT` operation.
///
/// Auth fields (`user`, `pass`, `authToken`, `jwt`, `nkey`, `sig`) are omitted from the
/// JSON when `nil`. `description` never shows a secret.
public struct ConnectInfo: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Ask the server to acknowledge every operation with `+OK` (we never do).
    public var verbose: Bool = false
    /// Ask the server for strict protocol checks.
    public var pedantic: Bool = false
    /// Whether the client uses TLS.
    public var tlsRequired: Bool = false
    /// The connection name shown in monitoring.
    public var name: String? = nil
    /// The client language, `swift`.
    public var lang: String = "swift"
    /// The client version.
    public var version: String = NATSWireVersion.clientVersion
    /// Protocol level 1: the server may send async INFO (cluster changes, lame duck).
    public var `protocol`: Int = 1
    /// Whether the server delivers this connection's own messages back to it.
    public var echo: Bool = true
    /// Whether the client understands headers (`HMSG`).
    public var headers: Bool = true
    /// Whether the server answers a request with no subscriber with a 503 status.
    public var noResponders: Bool = true
    /// User name for user/password authentication.
    public var user: String? = nil
    /// Password for user/password authentication. Secret.
    public var pass: String? = nil
    /// Token for token authentication. Secret.
    public var authToken: String? = nil
    /// User JWT.
    public var jwt: String? = nil
    /// NKey public key.
    public var nkey: String? = nil
    /// Base64url (no padding) signature of the server nonce. Secret-adjacent: never logged.
    public var sig: String? = nil

    /// Creates connect info with defaults.
    public init() {}

    public var description: String {
        var parts = ["lang: \(lang)", "version: \(version)", "echo: \(echo)", "headers: \(headers)"]
        if let name { parts.append("name: \(name)") }
        parts += Self.redactedAuthParts(user: user, pass: pass, authToken: authToken, jwt: jwt, nkey: nkey, sig: sig)
        return "ConnectInfo(\(parts.joined(separator: ", ")))"
    }

    /// The auth fields that are set, as `name: value` texts, with the password, token, JWT
    /// and signature shown as `<redacted>`; for every type that describes them.
    public static func redactedAuthParts(user: String?, pass: String?, authToken: String?, jwt: String?, nkey: String?, sig: String?) -> [String] {
        var parts: [String] = []
        if let user { parts.append("user: \(user)") }
        if pass != nil { parts.append("pass: <redacted>") }
        if authToken != nil { parts.append("auth_token: <redacted>") }
        if jwt != nil { parts.append("jwt: <redacted>") }
        if let nkey { parts.append("nkey: \(nkey)") }
        if sig != nil { parts.append("sig: <redacted>") }
        return parts
    }

    public var debugDescription: String { description }

    /// A mirror without the secrets, so `dump` cannot print them either.
    public var customMirror: Mirror {
        Mirror(self, children: ["redacted": description], displayStyle: .struct)
    }
}

/// Versions of this library as reported to the server.
public enum NATSWireVersion {
    /// The client version sent in `CONNECT`.
    public static let clientVersion = "0.1.0"
}
