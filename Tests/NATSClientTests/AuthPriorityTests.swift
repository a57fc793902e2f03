import Foundation
import NATSTestSupport
import Synchronization
import Testing
@testable import NATSClient

/// The auth fields of a recorded CONNECT, parsed from its JSON.
private struct SentAuth {
    let json: [String: Any]
    init(_ connect: String) throws {
        json = try #require(try JSONSerialization.jsonObject(with: Data(connect.utf8)) as? [String: Any])
    }
    var user: String? { json["user"] as? String }
    var pass: String? { json["pass"] as? String }
    var token: String? { json["auth_token"] as? String }
    var jwt: String? { json["jwt"] as? String }
    var nkey: String? { json["nkey"] as? String }
    var sig: String? { json["sig"] as? String }
    /// Which of the six auth fields are present.
    var fields: Set<String> {
        Set(["user", "pass", "auth_token", "jwt", "nkey", "sig"].filter { json[$0] != nil })
    }

    /// Whether `sig` is `publicKey`'s signature of `nonce`.
    func signatureIsValid(for nonce: String, by publicKey: String) -> Bool {
        guard let sig, let bytes = Base64URL.decode(sig) else { return false }
        return (try? NKeyPair.verify(publicKey: publicKey, message: Array(nonce.utf8), signature: bytes)) ?? false
    }
}

/// A user JWT issued by a fresh account, and the user's key.
private func issueUser(name: String) throws -> (jwt: String, key: NKeyPair) {
    let account = NKeyPair.generate(.account)
    let user = NKeyPair.generate(.user)
    let jwt = try JWTIssuer.issue(.user, subject: user.publicKey, name: name, signer: account)
    return (jwt, user)
}

/// Connects with `options` to a fake server whose INFO carries `nonce`; returns what CONNECT sent.
private func sentAuth(_ options: ConnectOptions, url: String = "nats://fake:4222", nonce: String = "abc") async throws -> SentAuth {
    let (client, _, _, connect) = try await connectedPair(options, url: url, info: #""nonce":"\#(nonce)""#)
    await client.close()
    return try SentAuth(connect)
}

/// Connects to the fake server; the error, or `nil` (after closing) when it connected.
private func connectError(_ options: ConnectOptions) async -> NATSError? {
    do {
        let client = try await options.connect("nats://fake:4222")
        await client.close()
        return nil
    } catch {
        return error
    }
}

/// Which CONNECT auth fields win when several methods are configured at once (spec order:
/// callback, NKey, JWT, `Auth` user/password/token, URL credentials), against an in-memory server.
@Suite(.timeLimit(.minutes(1))) struct AuthPriorityTests {
    @Test func callbackBeatsEverything() async throws {
        let seed = NKeyPair.generate(.user).revealSeed()
        let (jwt, userKey) = try issueUser(name: "creds")
        let creds = Credentials(jwt: jwt, keyPair: userKey).fileContents()
        let calls = Mutex(0)
        let options = try ConnectOptions()
            .userAndPassword("opt-user", "opt-pass")
            .token("opt-token")
            .nkey(seed: seed)
            .jwt(jwt) { nonce in try userKey.sign(nonce) }
            .credentials(creds)
            .authCallback { nonce in
                calls.withLock { $0 += 1 }
                #expect(nonce == "abc")
                return .token("callback-token")
            }
        let sent = try await sentAuth(options, url: "nats://url-user:url-pass@fake:4222")
        #expect(sent.fields == ["auth_token"])
        #expect(sent.token == "callback-token")
        #expect(calls.withLock { $0 } == 1)
    }

    @Test func callbackReturningNKeySignsTheNonce() async throws {
        let key = NKeyPair.generate(.user)
        let seed = key.revealSeed()
        let options = ConnectOptions.withAuthCallback { _ in .nkey(seed: seed) }.userAndPassword("ignored", "ignored")
        let sent = try await sentAuth(options, nonce: "n0nce-1")
        #expect(sent.fields == ["nkey", "sig"])
        #expect(sent.nkey == key.publicKey)
        #expect(sent.signatureIsValid(for: "n0nce-1", by: key.publicKey))
    }

    @Test func nkeyAndUserPasswordAreBothSent() async throws {
        let key = NKeyPair.generate(.user)
        let options = ConnectOptions().nkey(seed: key.revealSeed()).userAndPassword("alice", "pw")
        let sent = try await sentAuth(options, url: "nats://url-user:url-pass@fake:4222", nonce: "nonce-nk")
        #expect(sent.fields == ["nkey", "sig", "user", "pass"])
        #expect(sent.nkey == key.publicKey)
        #expect(sent.signatureIsValid(for: "nonce-nk", by: key.publicKey))
        #expect(sent.user == "alice" && sent.pass == "pw")
    }

    @Test func nkeyBeatsURLCredentials() async throws {
        let key = NKeyPair.generate(.user)
        let sent = try await sentAuth(ConnectOptions.withNKey(key.revealSeed()), url: "nats://url-user:url-pass@fake:4222", nonce: "n2")
        #expect(sent.fields == ["nkey", "sig"])
        #expect(sent.signatureIsValid(for: "n2", by: key.publicKey))
    }

    @Test func credentialsReplaceAConfiguredJWT() async throws {
        let (optionJWT, optionKey) = try issueUser(name: "from-options")
        let (credsJWT, credsKey) = try issueUser(name: "from-creds")
        let creds = Credentials(jwt: credsJWT, keyPair: credsKey).fileContents()
        let signerCalls = Mutex(0)
        let options = try ConnectOptions()
            .jwt(optionJWT) { nonce in
                signerCalls.withLock { $0 += 1 }
                return try optionKey.sign(nonce)
            }
            .credentials(creds)
        let sent = try await sentAuth(options, nonce: "nonce-jwt")
        #expect(sent.fields == ["jwt", "sig"])
        #expect(sent.jwt == credsJWT)
        #expect(sent.signatureIsValid(for: "nonce-jwt", by: credsKey.publicKey))
        #expect(signerCalls.withLock { $0 } == 0)
    }

    @Test func jwtWithAsyncSignerIsSentWithItsSignature() async throws {
        let (jwt, key) = try issueUser(name: "signer")
        let options = ConnectOptions.withJWT(jwt) { nonce in
            await Task.yield()
            return try key.sign(nonce)
        }
        let sent = try await sentAuth(options, url: "nats://url-user:url-pass@fake:4222", nonce: "nonce-async")
        #expect(sent.fields == ["jwt", "sig"])
        #expect(sent.jwt == jwt)
        #expect(sent.signatureIsValid(for: "nonce-async", by: key.publicKey))
    }

    @Test func authUserPasswordBeatsURLUserPassword() async throws {
        let sent = try await sentAuth(ConnectOptions.withUserAndPassword("opt-user", "opt-pass"), url: "nats://url-user:url-pass@fake:4222")
        #expect(sent.fields == ["user", "pass"])
        #expect(sent.user == "opt-user" && sent.pass == "opt-pass")
    }

    @Test func authTokenBeatsURLUserPassword() async throws {
        let sent = try await sentAuth(ConnectOptions.withToken("opt-token"), url: "nats://url-user:url-pass@fake:4222")
        #expect(sent.fields == ["auth_token"])
        #expect(sent.token == "opt-token")
    }

    @Test func urlTokenAlone() async throws {
        let sent = try await sentAuth(ConnectOptions(), url: "nats://url-token@fake:4222")
        #expect(sent.fields == ["auth_token"])
        #expect(sent.token == "url-token")
    }

    @Test func urlUserAndPasswordAlone() async throws {
        let sent = try await sentAuth(ConnectOptions(), url: "nats://url-user:url-pass@fake:4222")
        #expect(sent.fields == ["user", "pass"])
        #expect(sent.user == "url-user" && sent.pass == "url-pass")
    }

    /// Quotes, backslashes, control characters and non-ASCII reach the server exactly.
    @Test func awkwardCharactersAreEscapedInConnect() async throws {
        let user = "we\"ird \\ üser"
        let password = "p\u{1}a\"s\\s\n\t€𝄞{}"
        let token = "t\"o\\k\r\n"
        let sent = try await sentAuth(ConnectOptions().userAndPassword(user, password).token(token))
        #expect(sent.user == user)
        #expect(sent.pass == password)
        #expect(sent.token == token)
    }

    @Test func percentEncodedURLCredentialsAreDecoded() async throws {
        let sent = try await sentAuth(ConnectOptions(), url: "nats://us%3Aer%40x:p%40ss%3Aw%2Frd%20%E2%82%AC@fake:4222")
        #expect(sent.user == "us:er@x")
        #expect(sent.pass == "p@ss:w/rd €")
        let token = try await sentAuth(ConnectOptions(), url: "nats://t%40k%3A@fake:4222")
        #expect(token.fields == ["auth_token"])
        #expect(token.token == "t@k:")
    }

    @Test func nothingConfiguredSendsNoAuthFields() async throws {
        let sent = try await sentAuth(ConnectOptions())
        #expect(sent.fields.isEmpty)
    }

    @Test func everyConnectSignsThatConnectionsNonce() async throws {
        let key = NKeyPair.generate(.user)
        let options = ConnectOptions.withNKey(key.revealSeed())
        let first = try await sentAuth(options, nonce: "first-nonce")
        let second = try await sentAuth(options, nonce: "second-nonce")
        #expect(first.signatureIsValid(for: "first-nonce", by: key.publicKey))
        #expect(second.signatureIsValid(for: "second-nonce", by: key.publicKey))
        #expect(!second.signatureIsValid(for: "first-nonce", by: key.publicKey))
    }

    /// NKey and JWT need the server's nonce; without one the client must not send an unsigned
    /// CONNECT but fail with `.authentication`.
    @Test(arguments: ["nkey", "jwt", "creds"])
    func missingNonceFailsWithAuthentication(method: String) async throws {
        let (jwt, key) = try issueUser(name: "no-nonce")
        let options: ConnectOptions = switch method {
        case "nkey": ConnectOptions.withNKey(key.revealSeed())
        case "jwt": ConnectOptions.withJWT(jwt) { nonce in try key.sign(nonce) }
        default: try ConnectOptions.withCredentials(Credentials(jwt: jwt, keyPair: key).fileContents())
        }
        let cluster = FakeCluster()
        async let failure = connectError(options.dialer(cluster.dialer))
        let server = await cluster.next()
        try await server.sendInfo()
        let error = try #require(await failure, "connected without a nonce")
        #expect(error.kind == .authentication)
        #expect(error.description.contains("nonce"))
        #expect(!error.description.contains(key.revealSeed()))
        // Nothing was sent: the client closed without a CONNECT.
        #expect(try await server.nextOp() == nil)
    }

    @Test func callbackErrorFailsWithAuthentication() async throws {
        struct Refused: Error {}
        let cluster = FakeCluster()
        let options = ConnectOptions.withAuthCallback { _ in throw Refused() }.dialer(cluster.dialer)
        async let failure = connectError(options)
        let server = await cluster.next()
        try await server.sendInfo(#""nonce":"abc""#)
        let error = try #require(await failure, "connected although the callback threw")
        #expect(error.kind == .authentication)
        #expect(try await server.nextOp() == nil)
    }
}
