#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The claims of a NATS JWT, decoded for inspection. Decoding does **not** establish trust:
/// use `isSignatureValid` to check that the issuer (`iss`) signed it; whether that issuer is
/// trusted is the server's decision.
///
/// `description` shows subject, issuer, name, type and expiry, never the token itself.
public struct JWTClaims: Sendable, CustomStringConvertible, CustomReflectable {
    /// The decoded header object (`{"typ":"JWT","alg":"ed25519-nkey"}` for NATS v2).
    public let header: [String: JSONValue]
    /// The decoded claims object, for fields this type has no property for.
    public let raw: [String: JSONValue]
    private let signingInput: String
    private let signature: [UInt8]

    /// Decodes `jwt` (`header.claims.signature`, each base64url) without verifying it.
    ///
    /// - Throws: `AuthError` with code `.invalidJWT` saying which part is malformed.
    public init(jwt: String) throws(AuthError) {
        let token = jwt.trimmingASCIIWhitespace
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw .invalidJWT("a JWT has three dot-separated parts; this text has \(parts.count)")
        }
        guard let headerBytes = Base64URL.decode(parts[0]),
            case .object(let header)? = JSONValue.parse(headerBytes)
        else { throw .invalidJWT("the JWT header is not base64url-encoded JSON") }
        guard let claimBytes = Base64URL.decode(parts[1]),
            case .object(let claims)? = JSONValue.parse(claimBytes)
        else { throw .invalidJWT("the JWT claims are not base64url-encoded JSON") }
        guard let signature = Base64URL.decode(parts[2]) else {
            throw .invalidJWT("the JWT signature is not base64url")
        }
        self.header = header
        self.raw = claims
        self.signingInput = "\(parts[0]).\(parts[1])"
        self.signature = signature
    }

    /// `sub`: the public key the JWT is about.
    public var subject: String? { raw["sub"]?.stringValue }
    /// `iss`: the public key that signed it.
    public var issuer: String? { raw["iss"]?.stringValue }
    /// `name`.
    public var name: String? { raw["name"]?.stringValue }
    /// `jti`: the JWT id.
    public var id: String? { raw["jti"]?.stringValue }
    /// `iat`, seconds since 1970.
    public var issuedAt: Int64? { raw["iat"]?.int64Value }
    /// `exp`, seconds since 1970, or `nil` when absent or 0 (no expiry).
    public var expires: Int64? {
        guard let e = raw["exp"]?.int64Value, e != 0 else { return nil }
        return e
    }
    /// `exp` as a date, or `nil` when the JWT does not expire.
    public var expiresAt: Date? { expires.map { Date(timeIntervalSince1970: TimeInterval($0)) } }
    /// `iat` as a date.
    public var issuedAtDate: Date? { issuedAt.map { Date(timeIntervalSince1970: TimeInterval($0)) } }
    /// The `nats` object of a v2 JWT.
    public var nats: [String: JSONValue]? { raw["nats"]?.objectValue }
    /// The claim type: `nats.type` (v2) or top-level `type` (v1), e.g. `"user"`.
    public var type: String? { nats?["type"]?.stringValue ?? raw["type"]?.stringValue }
    /// `nats.version`; 2 for current JWTs.
    public var version: Int64? { nats?["version"]?.int64Value }
    /// `header.alg`.
    public var algorithm: String? { header["alg"]?.stringValue }

    /// Whether the signature is a valid Ed25519 signature of `header.claims` by `iss`.
    /// This proves who signed it, not that the signer is trusted.
    public var isSignatureValid: Bool {
        guard let issuer else { return false }
        return (try? NKeyPair.verify(publicKey: issuer, message: signingInput.utf8, signature: signature)) ?? false
    }

    /// Whether `exp` has passed at `now`.
    public func isExpired(at now: Date = Date()) -> Bool {
        guard let expiresAt else { return false }
        return now >= expiresAt
    }

    /// Subject, issuer, name, type and expiry.
    public var description: String {
        var parts: [String] = []
        if let type { parts.append("type: \(type)") }
        if let subject { parts.append("sub: \(subject)") }
        if let issuer { parts.append("iss: \(issuer)") }
        if let name { parts.append("name: \(name)") }
        if let expires { parts.append("exp: \(expires)") }
        return "JWTClaims(\(parts.joined(separator: ", ")))"
    }

    /// The header and claims, without the signed text and signature that would rebuild the
    /// JWT, so `dump` does not print a usable token.
    public var customMirror: Mirror {
        Mirror(self, children: ["header": header, "raw": raw], displayStyle: .struct)
    }
}

/// The kind of NATS JWT to issue.
public struct JWTClaimType: Sendable, Hashable, CustomStringConvertible {
    private enum Kind: String, Sendable { case `operator`, account, user }
    private let kind: Kind
    private init(_ kind: Kind) { self.kind = kind }

    /// An operator JWT: subject and issuer are operator keys (normally self-signed).
    public static let `operator` = JWTClaimType(.operator)
    /// An account JWT: subject is an account key, issuer an operator key.
    public static let account = JWTClaimType(.account)
    /// A user JWT: subject is a user key, issuer an account key.
    public static let user = JWTClaimType(.user)

    /// `"operator"`, `"account"` or `"user"`, the value of `nats.type`.
    public var description: String { kind.rawValue }

    var subjectType: NKeyType {
        switch kind {
        case .operator: .operator
        case .account: .account
        case .user: .user
        }
    }

    var issuerType: NKeyType {
        switch kind {
        case .operator, .account: .operator
        case .user: .account
        }
    }

    /// The `nats` fields nsc writes by default: no limits (-1) and open permissions.
    var defaultNATSFields: [String: JSONValue] {
        switch kind {
        case .operator:
            return [:]
        case .account:
            return [
                "limits": [
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1,
                ],
                "default_permissions": ["pub": [:], "sub": [:]],
            ]
        case .user:
            return ["pub": [:], "sub": [:], "subs": -1, "data": -1, "payload": -1]
        }
    }
}

/// Issues NATS v2 JWTs the way `nsc` does, for tests and tools that build operator mode.
public enum JWTIssuer {
    /// Issues and signs a JWT.
    ///
    /// The header is `{"typ":"JWT","alg":"ed25519-nkey"}`. The claims carry `jti`, `iat`,
    /// `iss` (the signer's public key), `sub`, `name`, optional `exp`, and a `nats` object
    /// with `type`, `version: 2`, nsc's default limits for the type, and `natsFields` merged
    /// over them. `jti` is the unpadded base32 SHA-512/256 of the standard claims JSON
    /// (`exp`, `iat`, `iss`, `name`, `nbf`, `sub`) written without `jti`, as nats-io/jwt does.
    /// The signature is Ed25519 over the ASCII `header.claims`, base64url without padding.
    ///
    /// - Parameters:
    ///   - type: operator, account or user.
    ///   - subject: the public key the JWT describes (`O...`, `A...` or `U...`, by type).
    ///   - name: the human name (`name`); defaults to `subject`.
    ///   - signer: an operator key for operator and account JWTs, an account key for user JWTs.
    ///   - issuedAt: `iat`; defaults to now.
    ///   - expires: `exp`, or `nil` for no expiry.
    ///   - natsFields: extra members of `nats`, e.g. `["signing_keys": [...]]`.
    /// - Throws: `AuthError` `.invalidJWT` when the subject or signer has the wrong key type.
    public static func issue(
        _ type: JWTClaimType,
        subject: String,
        name: String? = nil,
        signer: NKeyPair,
        issuedAt: Date = Date(),
        expires: Date? = nil,
        natsFields: [String: JSONValue] = [:]
    ) throws(AuthError) -> String {
        guard NKeyCodec.isValidPublicKey(subject, type: type.subjectType) else {
            throw .invalidJWT("the subject of a \(type) JWT must be a \(type.subjectType) public key")
        }
        guard signer.type == type.issuerType else {
            throw .invalidJWT("a \(type) JWT must be signed by a \(type.issuerType) key, not a \(signer.type) key")
        }
        let iat = Int64(issuedAt.timeIntervalSince1970.rounded(.down))
        let exp = expires.map { Int64($0.timeIntervalSince1970.rounded(.down)) }
        let name = name ?? subject

        // Standard claims in nats-io/jwt's ClaimsData field order, empty values omitted.
        func standardClaims(jti: String?) -> String {
            var out = ""
            var first = true
            func add(_ key: String, _ write: (inout String) -> Void) {
                out += first ? "" : ","
                first = false
                JSONValue.writeString(key, to: &out)
                out += ":"
                write(&out)
            }
            if let exp, exp != 0 { add("exp") { JSONValue.writeNumber(Double(exp), to: &$0) } }
            if let jti { add("jti") { JSONValue.writeString(jti, to: &$0) } }
            if iat != 0 { add("iat") { JSONValue.writeNumber(Double(iat), to: &$0) } }
            add("iss") { JSONValue.writeString(signer.publicKey, to: &$0) }
            if !name.isEmpty { add("name") { JSONValue.writeString(name, to: &$0) } }
            add("sub") { JSONValue.writeString(subject, to: &$0) }
            return out
        }
        let jti = Base32.encode(sha512_256(Array("{\(standardClaims(jti: nil))}".utf8)))

        var nats = type.defaultNATSFields
        for (key, value) in natsFields { nats[key] = value }
        nats["type"] = .string(type.description)
        nats["version"] = 2

        let claimsJSON = "{\(standardClaims(jti: jti)),\"nats\":\(JSONValue.object(nats).jsonText)}"
        let headerJSON = #"{"typ":"JWT","alg":"ed25519-nkey"}"#
        let signingInput = Base64URL.encode(Array(headerJSON.utf8)) + "." + Base64URL.encode(Array(claimsJSON.utf8))
        let signature: [UInt8]
        do {
            signature = try signer.sign(signingInput.utf8)
        } catch {
            throw .signingFailed("the signer cannot sign", underlying: error)
        }
        return signingInput + "." + Base64URL.encode(signature)
    }
}
