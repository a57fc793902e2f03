import Foundation
import NATSWire
import Synchronization
import Testing
@testable import NATSAuth

@Suite struct AuthResolverTests {
    static let seed = "SUANQDPB2RUOE4ETUA26CNX7FUKE5ZZKFCQIIW63OX225F2CO7UEXTM7ZY"
    static let seedPublic = "UAMMBNV2EYR65NYZZ7IAK5SIR5ODNTTERJOBOF4KJLMWI45YOXOSWULM"
    static let nonce = "OMtLBaPuXCUuQwqlSpsR4Y"
    static let seedKey = (try? NKeyPair(seed: seed))!
    static let jwtSigner = NKeyPair.generate(.user)
    static let account = NKeyPair.generate(.account)
    static let jwt = (try? JWTIssuer.issue(.user, subject: jwtSigner.publicKey, signer: account))!

    static func sig(_ key: NKeyPair, _ nonce: String = nonce) -> String {
        Base64URL.encode((try? key.sign(Array(nonce.utf8))) ?? [])
    }

    static func resolve(
        _ options: AuthOptions, url: (String?, String?) = (nil, nil), nonce: String? = nonce
    ) async throws(AuthError) -> AuthFields {
        try await AuthResolver.resolve(options, urlUser: url.0, urlPassword: url.1, nonce: nonce)
    }

    static func options(_ auth: Auth, credentials: CredentialsSource? = nil) -> AuthOptions {
        var o = AuthOptions()
        o.auth = auth
        o.credentials = credentials
        return o
    }

    static var fullAuth: Auth {
        var a = Auth()
        a.nkey = seed
        a.jwt = jwt
        a.signatureCallback = { nonce in try jwtSigner.sign(nonce) }
        a.username = "bob"
        a.password = "pw-s3cret"
        a.token = "tok-s3cret"
        return a
    }

    struct Row: Sendable, CustomTestStringConvertible {
        let name: String
        let options: AuthOptions
        let url: (String?, String?)
        let expected: AuthFields
        var testDescription: String { name }
    }

    static let rows: [Row] = {
        var rows: [Row] = []
        var userPass = Auth.userPassword("bob", "pw")
        rows.append(Row(name: "user/password", options: options(userPass), url: (nil, nil),
                        expected: AuthFields(user: "bob", pass: "pw")))
        rows.append(Row(name: "token", options: options(.token("tok")), url: (nil, nil),
                        expected: AuthFields(authToken: "tok")))
        rows.append(Row(name: "nkey", options: options(.nkey(seed: seed)), url: (nil, nil),
                        expected: AuthFields(nkey: seedPublic, sig: sig(seedKey))))
        rows.append(Row(name: "jwt + signer", options: options(.jwt(jwt, keyPair: jwtSigner)), url: (nil, nil),
                        expected: AuthFields(jwt: jwt, sig: sig(jwtSigner))))
        var jwtSig = Auth()
        jwtSig.jwt = jwt
        jwtSig.signature = [1, 2, 3]
        rows.append(Row(name: "jwt + precomputed signature", options: options(jwtSig), url: (nil, nil),
                        expected: AuthFields(jwt: jwt, sig: "AQID")))
        var bearer = Auth()
        bearer.jwt = jwt
        rows.append(Row(name: "bearer jwt, no signer", options: options(bearer), url: (nil, nil),
                        expected: AuthFields(jwt: jwt)))
        var seedAndJWT = Auth.nkey(seed: seed)
        seedAndJWT.jwt = jwt
        rows.append(Row(name: "seed signs for a jwt without signer", options: options(seedAndJWT), url: (nil, nil),
                        expected: AuthFields(jwt: jwt, nkey: seedPublic, sig: sig(seedKey))))
        rows.append(Row(name: "everything: nkey public key, jwt signer's sig, user/pass/token too",
                        options: options(fullAuth), url: ("urluser", "urlpass"),
                        expected: AuthFields(user: "bob", pass: "pw-s3cret", authToken: "tok-s3cret", jwt: jwt,
                                             nkey: seedPublic, sig: sig(jwtSigner))))
        rows.append(Row(name: "URL user/password when Auth is empty", options: AuthOptions(), url: ("u", "p"),
                        expected: AuthFields(user: "u", pass: "p")))
        rows.append(Row(name: "URL lone user is a token", options: AuthOptions(), url: ("secret-token", nil),
                        expected: AuthFields(authToken: "secret-token")))
        rows.append(Row(name: "URL empty password kept", options: AuthOptions(), url: ("u", ""),
                        expected: AuthFields(user: "u", pass: "")))
        rows.append(Row(name: "Auth user/password beat the URL", options: options(userPass), url: ("u", "p"),
                        expected: AuthFields(user: "bob", pass: "pw")))
        rows.append(Row(name: "nkey beats the URL", options: options(.nkey(seed: seed)), url: ("u", "p"),
                        expected: AuthFields(nkey: seedPublic, sig: sig(seedKey))))
        rows.append(Row(name: "AuthOptions.credentials", options: .credentials(.string(
            Credentials.fileContents(jwt: jwt, seed: jwtSigner.revealSeed()))), url: ("u", "p"),
                        expected: AuthFields(jwt: jwt, sig: sig(jwtSigner))))
        rows.append(Row(name: "Credentials.auth", options: AuthOptions(Credentials(jwt: jwt, keyPair: jwtSigner).auth),
                        url: (nil, nil), expected: AuthFields(jwt: jwt, sig: sig(jwtSigner))))
        rows.append(Row(name: "AuthOptions.callback", options: .callback { _ in .token("cbtok") }, url: ("u", nil),
                        expected: AuthFields(authToken: "cbtok")))
        rows.append(Row(name: "nothing", options: AuthOptions(), url: (nil, nil), expected: AuthFields()))
        let creds = Credentials.fileContents(jwt: jwt, seed: jwtSigner.revealSeed())
        var credsOverJWT = options(.jwt("other.jwt.value") { _ in [9] }, credentials: .string(creds))
        credsOverJWT.auth.username = "bob"
        rows.append(Row(name: "credentials fill the JWT slot over Auth.jwt", options: credsOverJWT, url: ("u", "p"),
                        expected: AuthFields(user: "bob", jwt: jwt, sig: sig(jwtSigner))))
        var credsAndSeed = options(.nkey(seed: seed), credentials: .string(creds))
        credsAndSeed.auth.signature = [7]
        rows.append(Row(name: "credentials + nkey: creds key signs", options: credsAndSeed, url: (nil, nil),
                        expected: AuthFields(jwt: jwt, nkey: seedPublic, sig: sig(jwtSigner))))
        var cb = options(fullAuth, credentials: .string(creds))
        cb.callback = AuthCallback { _ in .userPassword("cb", "cbpw") }
        rows.append(Row(name: "callback overrides everything", options: cb, url: ("u", "p"),
                        expected: AuthFields(user: "cb", pass: "cbpw")))
        var cbNKey = AuthOptions()
        cbNKey.callback = AuthCallback { nonce in
            var a = Auth()
            a.nkey = seedPublic
            a.signature = try seedKey.sign(Array((nonce ?? "").utf8))
            return a
        }
        rows.append(Row(name: "callback with public nkey + signature (async-nats style)", options: cbNKey,
                        url: (nil, nil), expected: AuthFields(nkey: seedPublic, sig: sig(seedKey))))
        var cbSeed = AuthOptions()
        cbSeed.callback = AuthCallback { _ in .nkey(seed: seed) }
        rows.append(Row(name: "callback with a seed", options: cbSeed, url: (nil, nil),
                        expected: AuthFields(nkey: seedPublic, sig: sig(seedKey))))
        return rows
    }()

    @Test(arguments: rows)
    func priorityTable(row: Row) async throws {
        #expect(try await Self.resolve(row.options, url: row.url) == row.expected)
    }

    @Test func signatureIsOverTheNonceASCIIAndVerifies() async throws {
        let fields = try await Self.resolve(Self.options(.nkey(seed: Self.seed)))
        let sigText = try #require(fields.sig)
        let sig = try #require(Base64URL.decode(sigText))
        #expect(try NKeyPair.verify(publicKey: Self.seedPublic, message: Array(Self.nonce.utf8), signature: sig))
        #expect(fields.sig?.contains("=") == false)
        var info = ConnectInfo()
        info.user = "stale"
        fields.apply(to: &info)
        #expect(info.nkey == Self.seedPublic && info.sig == fields.sig && info.user == nil)
    }

    @Test func signerReceivesTheNonceBytes() async throws {
        let seen = Mutex<[UInt8]?>(nil)
        let options = Self.options(.jwt(Self.jwt) { nonce in
            seen.withLock { $0 = nonce }
            return [0xFF]
        })
        #expect(try await Self.resolve(options).sig == "_w")
        #expect(seen.withLock { $0 } == Array(Self.nonce.utf8))
    }

    @Test(arguments: [nil, ""] as [String?])
    func missingNonceIsAnError(nonce: String?) async throws {
        var signed = Auth.jwt(Self.jwt, keyPair: Self.jwtSigner)
        signed.username = "bob"
        let creds = Credentials.fileContents(jwt: Self.jwt, seed: Self.jwtSigner.revealSeed())
        for options in [Self.options(.nkey(seed: Self.seed)), Self.options(signed),
                        Self.options(Auth(), credentials: .string(creds))] {
            do {
                _ = try await Self.resolve(options, nonce: nonce)
                Issue.record("resolved without a nonce: \(options)")
            } catch {
                #expect(error.code == .missingNonce)
            }
        }
        // Methods that sign nothing do not need a nonce.
        #expect(try await Self.resolve(Self.options(.userPassword("a", "b")), nonce: nonce) == AuthFields(user: "a", pass: "b"))
    }

    @Test func errorsAreTyped() async {
        func code(_ options: AuthOptions) async -> AuthError.Code? {
            do {
                _ = try await Self.resolve(options)
                return nil
            } catch {
                return error.code
            }
        }
        #expect(await code(Self.options(.nkey(seed: "SUBAD"))) == .invalidSeed)
        #expect(await code(Self.options(.nkey(seed: Self.seedPublic))) == .invalidSeed)
        #expect(await code(Self.options(.nkey(seed: NKeyPair.generate(.curve).revealSeed()))) == .signingFailed)
        #expect(await code(Self.options(.jwt(Self.jwt) { _ in throw CancellationError() })) == .callbackFailed)
        #expect(await code(Self.options(Auth(), credentials: .string("garbage"))) == .invalidCredentials)
        #expect(await code(Self.options(Auth(), credentials: .file(path: "/nonexistent/x.creds"))) == .fileUnreadable)
        var cb = AuthOptions()
        cb.callback = AuthCallback { _ in throw CancellationError() }
        #expect(await code(cb) == .callbackFailed)
    }

    @Test func callbackIsInvokedOnEveryResolve() async throws {
        let calls = Mutex<[String?]>([])
        var options = AuthOptions()
        options.callback = AuthCallback { nonce in
            let n = calls.withLock { $0.append(nonce); return $0.count }
            return .token("token-\(n)")
        }
        #expect(try await Self.resolve(options, nonce: "n1").authToken == "token-1")
        #expect(try await Self.resolve(options, nonce: nil).authToken == "token-2")
        #expect(try await Self.resolve(options, nonce: "n3").authToken == "token-3")
        #expect(calls.withLock { $0 } == ["n1", nil, "n3"])
    }

    @Test func credentialsFileIsReadAgainOnEachResolve() async throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("natsauth-\(UUID().uuidString).creds").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = NKeyPair.generate(.user), second = NKeyPair.generate(.user)
        let jwt1 = try JWTIssuer.issue(.user, subject: first.publicKey, signer: Self.account)
        let jwt2 = try JWTIssuer.issue(.user, subject: second.publicKey, signer: Self.account)
        try Credentials(jwt: jwt1, keyPair: first).fileContents().write(toFile: path, atomically: true, encoding: .utf8)
        let options = Self.options(Auth(), credentials: .file(path: path))
        let a = try await Self.resolve(options)
        #expect(a.jwt == jwt1 && a.sig == Self.sig(first))
        try Credentials(jwt: jwt2, keyPair: second).fileContents().write(toFile: path, atomically: true, encoding: .utf8)
        let b = try await Self.resolve(options)
        #expect(b.jwt == jwt2 && b.sig == Self.sig(second))
        try FileManager.default.removeItem(atPath: path)
        await #expect(throws: AuthError.self) { try await Self.resolve(options) }
    }

    @Test func descriptionsRedactSecrets() async throws {
        let creds = Credentials.fileContents(jwt: Self.jwt, seed: Self.jwtSigner.revealSeed())
        var options = Self.options(Self.fullAuth, credentials: .string(creds))
        options.auth.signature = [1, 2, 3]
        options.callback = nil
        var plain = options
        plain.credentials = nil
        let fields = try await Self.resolve(plain)
        let secrets = ["pw-s3cret", "tok-s3cret", Self.seed, Self.jwt, Self.jwtSigner.revealSeed(), fields.sig!, "AQID"]
        let texts = [
            "\(options.auth)", String(reflecting: options.auth), "\(options)", String(reflecting: options),
            "\(fields)", String(reflecting: fields), "\(CredentialsSource.string(creds))",
            "\(try Credentials(contents: creds))", "\(Self.seedKey)",
        ]
        for text in texts {
            for secret in secrets {
                #expect(!text.contains(secret), "\(text)")
            }
        }
        #expect("\(fields)".contains("user: bob"))
        #expect("\(fields)".contains(Self.seedPublic))
    }

    @Test func errorTextsHaveNoSecrets() async {
        let badSeed = String(Self.seed.dropLast()) + "A"
        var cb = AuthOptions()
        struct Leaky: Error, CustomStringConvertible { var description: String { "password=hunter2" } }
        cb.callback = AuthCallback { _ in throw Leaky() }
        for options in [Self.options(.nkey(seed: badSeed)), cb,
                        Self.options(Auth(), credentials: .string("-----BEGIN NATS USER JWT-----\n\(Self.jwt)\n---END---\n\(badSeed)"))] {
            do {
                _ = try await Self.resolve(options)
                Issue.record("expected an error")
            } catch {
                for text in ["\(error)", String(reflecting: error)] {
                    #expect(!text.contains(badSeed))
                    #expect(!text.contains("hunter2"))
                    #expect(!text.contains(Self.jwt))
                }
            }
        }
    }
}
