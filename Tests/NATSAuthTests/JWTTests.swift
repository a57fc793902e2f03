import Foundation
import Testing
@testable import NATSAuth

@Suite struct JWTTests {
    let operatorKey = NKeyPair.generate(.operator)
    let accountKey = NKeyPair.generate(.account)
    let userKey = NKeyPair.generate(.user)

    @Test func issueThenDecodeUserJWT() throws {
        let iat = Date(timeIntervalSince1970: 1_700_000_000)
        let exp = Date(timeIntervalSince1970: 1_900_000_000)
        let jwt = try JWTIssuer.issue(
            .user, subject: userKey.publicKey, name: "alice <&>", signer: accountKey,
            issuedAt: iat, expires: exp)
        let claims = try JWTClaims(jwt: jwt)
        #expect(claims.header == ["typ": "JWT", "alg": "ed25519-nkey"])
        #expect(claims.subject == userKey.publicKey)
        #expect(claims.issuer == accountKey.publicKey)
        #expect(claims.name == "alice <&>")
        #expect(claims.issuedAt == 1_700_000_000)
        #expect(claims.expires == 1_900_000_000)
        #expect(claims.expiresAt == exp)
        #expect(claims.issuedAtDate == iat)
        #expect(claims.type == "user")
        #expect(claims.version == 2)
        #expect(claims.nats?["subs"] == -1)
        #expect(claims.id?.count == 52)
        #expect(claims.isSignatureValid)
        #expect(!claims.isExpired(at: Date(timeIntervalSince1970: 1_800_000_000)))
        #expect(claims.isExpired(at: Date(timeIntervalSince1970: 1_900_000_000)))
        #expect(!"\(claims)".contains(jwt))
        // Go's encoding/json escapes <, > and & in strings.
        let claimsText = String(decoding: Base64URL.decode(jwt.split(separator: ".")[1])!, as: UTF8.self)
        #expect(claimsText.contains(#""name":"alice \u003c\u0026\u003e""#))
    }

    @Test func operatorAccountUserChain() throws {
        let op = try JWTIssuer.issue(.operator, subject: operatorKey.publicKey, name: "OP", signer: operatorKey)
        let acc = try JWTIssuer.issue(.account, subject: accountKey.publicKey, name: "ACC", signer: operatorKey)
        let usr = try JWTIssuer.issue(.user, subject: userKey.publicKey, name: "U", signer: accountKey)
        let o = try JWTClaims(jwt: op), a = try JWTClaims(jwt: acc), u = try JWTClaims(jwt: usr)
        #expect(o.type == "operator" && o.issuer == o.subject && o.isSignatureValid)
        #expect(a.type == "account" && a.issuer == operatorKey.publicKey && a.isSignatureValid)
        #expect(a.nats?["limits"]?["conn"] == -1)
        #expect(a.nats?["limits"]?["wildcards"] == true)
        #expect(a.raw["iat"]?.int64Value == a.issuedAt)
        #expect(u.type == "user" && u.issuer == accountKey.publicKey && u.isSignatureValid)
        #expect(o.expiresAt == nil)
    }

    @Test func extraNATSFieldsAreMerged() throws {
        let sk = NKeyPair.generate(.operator)
        let jwt = try JWTIssuer.issue(
            .operator, subject: operatorKey.publicKey, signer: operatorKey,
            natsFields: ["signing_keys": [.string(sk.publicKey)], "system_account": .string(accountKey.publicKey)])
        let claims = try JWTClaims(jwt: jwt)
        #expect(claims.nats?["signing_keys"] == [.string(sk.publicKey)])
        #expect(claims.nats?["system_account"]?.stringValue == accountKey.publicKey)
        #expect(claims.name == operatorKey.publicKey)
    }

    @Test func issuingChecksKeyTypes() {
        #expect(throws: AuthError.self) {
            try JWTIssuer.issue(.user, subject: userKey.publicKey, signer: operatorKey)
        }
        #expect(throws: AuthError.self) {
            try JWTIssuer.issue(.account, subject: userKey.publicKey, signer: operatorKey)
        }
        #expect(throws: AuthError.self) {
            try JWTIssuer.issue(.user, subject: "not-a-key", signer: accountKey)
        }
    }

    @Test func tamperedJWTFailsSignatureCheck() throws {
        let jwt = try JWTIssuer.issue(.user, subject: userKey.publicKey, signer: accountKey)
        var parts = jwt.split(separator: ".").map(String.init)
        let other = try JWTIssuer.issue(.user, subject: NKeyPair.generate(.user).publicKey, signer: accountKey)
        parts[1] = String(other.split(separator: ".")[1])
        #expect(try !JWTClaims(jwt: parts.joined(separator: ".")).isSignatureValid)
    }

    @Test(arguments: ["", "a.b", "a.b.c.d", "!!.e30.AA", "e30.!!.AA", "e30.e30.!!", "WzFd.e30.AA", "e30.bnVsbA.AA"])
    func malformedJWTs(text: String) {
        do {
            _ = try JWTClaims(jwt: text)
            Issue.record("decoded \(text)")
        } catch {
            #expect(error.code == .invalidJWT)
        }
    }

    /// Python checks, with nkeys and the signer's seed, that `iss` is the signer's public key
    /// and the signature over `header.claims` verifies; and it
    /// recomputes `jti` as nats-io/jwt does (SHA-512/256 of the standard claims, base32).
    static let pythonVerify = """
        import sys, json, base64, hashlib, nkeys
        def b64(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
        h, c, s = sys.argv[1].split(".")
        header, claims = json.loads(b64(h)), json.loads(b64(c))
        kp = nkeys.from_seed(sys.argv[2].encode())
        ok = kp.public_key.decode() == claims["iss"] and kp.verify((h + "." + c).encode(), b64(s))
        std = {k: claims[k] for k in ["aud", "exp", "iat", "iss", "name", "nbf", "sub"] if claims.get(k)}
        order = ["aud", "exp", "jti", "iat", "iss", "name", "nbf", "sub"]
        text = json.dumps({k: std[k] for k in order if k in std}, separators=(",", ":"), ensure_ascii=False)
        text = text.replace("<", "\\\\u003c").replace(">", "\\\\u003e").replace("&", "\\\\u0026")
        jti = base64.b32encode(hashlib.new("sha512_256", text.encode()).digest()).decode().rstrip("=")
        print(header["alg"], header["typ"], ok, jti == claims["jti"], claims["nats"]["type"], claims["nats"]["version"])
        """

    @Test func pythonVerifiesIssuedJWT() async throws {
        let jwt = try JWTIssuer.issue(
            .user, subject: userKey.publicKey, name: "bob & <co>", signer: accountKey,
            expires: Date(timeIntervalSince1970: 2_000_000_000))
        #expect(try await PythonNKeys.run(Self.pythonVerify, [jwt, accountKey.revealSeed()]) == "ed25519-nkey JWT True True user 2")
        let acc = try JWTIssuer.issue(.account, subject: accountKey.publicKey, signer: operatorKey)
        #expect(try await PythonNKeys.run(Self.pythonVerify, [acc, operatorKey.revealSeed()]) == "ed25519-nkey JWT True True account 2")
    }
}
