import Foundation
import Logging
import NATSAuth
import NATSClient
import NATSTestSupport
import Synchronization
import Testing

// MARK: - Fixtures

/// An operator, a system account and one account, with the server configuration for operator
/// mode with a MEMORY resolver preloaded with both accounts. Every JWT is issued by `JWTIssuer`.
struct OperatorFixture: Sendable {
    let operatorKey = NKeyPair.generate(.operator)
    let systemKey = NKeyPair.generate(.account)
    let accountKey = NKeyPair.generate(.account)
    let operatorJWT: String
    let systemJWT: String
    let accountJWT: String

    init() throws {
        operatorJWT = try JWTIssuer.issue(.operator, subject: operatorKey.publicKey, name: "test-operator", signer: operatorKey)
        systemJWT = try JWTIssuer.issue(.account, subject: systemKey.publicKey, name: "SYS", signer: operatorKey)
        accountJWT = try JWTIssuer.issue(.account, subject: accountKey.publicKey, name: "APP", signer: operatorKey)
    }

    /// A user of the account (or of `account`, which the server may not know).
    func user(_ name: String, expires: Date? = nil, account: NKeyPair? = nil) throws -> (jwt: String, key: NKeyPair) {
        let key = NKeyPair.generate(.user)
        let jwt = try JWTIssuer.issue(.user, subject: key.publicKey, name: name, signer: account ?? accountKey, expires: expires)
        return (jwt, key)
    }

    /// `operator`, `system_account`, `resolver: MEMORY` and `resolver_preload`.
    var serverConfig: String {
        """
        operator: "\(operatorJWT)"
        system_account: \(systemKey.publicKey)
        resolver: MEMORY
        resolver_preload: {
          \(systemKey.publicKey): "\(systemJWT)"
          \(accountKey.publicKey): "\(accountJWT)"
        }
        """
    }
}

/// Collects every log line (message, metadata, error) at trace level.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }

    var logger: Logger {
        var logger = Logger(label: "nats.auth-test") { _ in CapturingLogHandler(capture: self) }
        logger.logLevel = .trace
        return logger
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    var metadataProvider: Logger.MetadataProvider? = nil

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let error = event.error.map { " error=\(String(reflecting: $0))" } ?? ""
        capture.append("\(event.level) \(event.message) \(merged)\(error)")
    }
}

/// Watches the logs and descriptions of a test for its secrets.
final class SecretWatch: Sendable {
    let capture = LogCapture()
    private let secrets: Mutex<[String]>
    private let texts = Mutex<[String]>([])
    private let rejections = Mutex(0)
    /// How many connects `expectRejected` made with this watch.
    var rejectionCount: Int { rejections.withLock { $0 } }
    func countRejection() { rejections.withLock { $0 += 1 } }

    /// `secrets`: passwords, tokens, seeds, JWTs. A JWT's signature part is watched too.
    init(_ secrets: [String]) {
        self.secrets = Mutex([])
        for secret in secrets { add(secret) }
    }

    /// Watches one more secret (and a JWT's signature part).
    func add(_ secret: String) {
        secrets.withLock { list in
            list.append(secret)
            let parts = secret.split(separator: ".")
            if parts.count == 3 { list.append(String(parts[2])) }
        }
    }

    /// Options logging everything to the capture, and recording every event's description.
    var options: ConnectOptions {
        ConnectOptions().logger(capture.logger).eventHandler { [self] event in record(event) }
    }

    /// Records a value whose descriptions (`description`, `debugDescription` and `dump`,
    /// which walks the fields through `Mirror`) must not contain a secret.
    func record(_ value: Any) {
        var dumped = ""
        dump(value, to: &dumped)
        texts.withLock { $0 += [String(describing: value), String(reflecting: value), dumped] }
    }

    /// No secret in any recorded text or log line; the logs are not empty.
    func verify(sourceLocation: SourceLocation = #_sourceLocation) {
        let logs = capture.all
        #expect(!logs.isEmpty, "the capturing logger received nothing", sourceLocation: sourceLocation)
        for text in logs + texts.withLock({ $0 }) {
            for secret in secrets.withLock({ $0 }) where text.contains(secret) {
                Issue.record("a secret appears in: \(text.replacingOccurrences(of: secret, with: "<SECRET>"))", sourceLocation: sourceLocation)
            }
        }
    }
}

/// `url` with `userinfo@` inserted after the scheme.
func authURL(_ url: String, userinfo: String) -> String {
    url.replacingOccurrences(of: "nats://", with: "nats://\(userinfo)@")
}

/// Connects, subscribes, publishes and receives one message, then closes.
func roundTrip(_ client: NATSClient, subject: String = "auth.rt", sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let sub = try await client.subscribe(to: subject)
    try await client.flush()
    try await client.publish("ping", to: subject)
    let got = try await collect(sub, count: 1, timeout: .seconds(5))
    #expect(got.first?.string == "ping", sourceLocation: sourceLocation)
    await client.close()
}

/// Connects once, expecting the server to reject the credentials at once (no retry).
@discardableResult
func expectRejected(_ options: ConnectOptions, _ url: String, watch: SecretWatch, sourceLocation: SourceLocation = #_sourceLocation) async -> NATSError? {
    // Even with retry on a failed first connect, a rejection must end the attempt.
    let options = options.with {
        $0.reconnect.retryOnFailedConnect = true
        $0.reconnect.wait = .milliseconds(50)
    }
    watch.countRejection()
    let start = ContinuousClock.now
    do {
        let client = try await options.connect(url)
        Issue.record("connected with credentials the server should reject", sourceLocation: sourceLocation)
        await client.close()
        return nil
    } catch {
        #expect(error.kind == .authorizationViolation, "\(error)", sourceLocation: sourceLocation)
        #expect(ContinuousClock.now - start < .seconds(2), sourceLocation: sourceLocation)
        watch.record(error)
        return error
    }
}

/// The server saw exactly `expected` connections closed for failed authentication: every
/// rejected connect was one attempt, not retried.
func expectOneAttemptPerRejection(_ server: NATSServer, _ expected: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    func failures() async throws -> Int {
        let body = try await server.monitor("/connz?state=closed&limit=10000")
        return body.components(separatedBy: "\"reason\": \"Authentication").count - 1
    }
    let deadline = ContinuousClock.now + .seconds(5)
    var seen = try await failures()
    while seen < expected, ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(20))
        seen = try await failures()
    }
    #expect(seen == expected, "authentication failures the server recorded", sourceLocation: sourceLocation)
}

/// The error building options threw, or `nil`.
func optionsError(_ make: () throws -> ConnectOptions) -> NATSError? {
    do {
        _ = try make()
        return nil
    } catch {
        return error as? NATSError
    }
}

/// Waits until the server's `/connz?auth=1` satisfies `predicate`, or fails after `timeout`.
func waitForConnz(_ server: NATSServer, timeout: Duration = .seconds(5), _ predicate: (String) -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if predicate(try await server.monitor("/connz?auth=1")) { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return false
}

// MARK: - Tests

/// Authentication against real nats-server: every method and API form, rejections, refresh on
/// reconnect, and no secret in logs or descriptions.
@Suite(.timeLimit(.minutes(1))) struct AuthIntegrationTests {
    /// `bcrypt-secret-42` hashed with bcrypt (cost 8), computed once with libcrypt.
    static let bcryptPlaintext = "bcrypt-secret-42"
    static let bcryptHash = "$2b$08$mW9sKmTz8IJWGcCLIw4aZOeU/om4OX2kBUqynC.aLRbvAkUjploU6"

    @Test func userAndPassword() async throws {
        let config = """
        authorization {
          users = [
            { user: alice, password: "alice-pw-9" }
            { user: bob, password: "\(Self.bcryptHash)" }
          ]
        }
        """
        let watch = SecretWatch(["alice-pw-9", Self.bcryptPlaintext, "wrong-pw-1", Self.bcryptHash])
        try await withNATSServer(config: config) { server in
            let base = watch.options
            let forms: [ConnectOptions] = [
                base.userAndPassword("alice", "alice-pw-9"),
                base.userAndPassword("bob", Self.bcryptPlaintext),
                ConnectOptions.withUserAndPassword("bob", Self.bcryptPlaintext).logger(watch.capture.logger),
                base.with { $0.auth = AuthOptions(.userPassword("alice", "alice-pw-9")) },
                base.authCallback { _ in .userPassword("bob", Self.bcryptPlaintext) },
            ]
            for options in forms {
                watch.record(options)
                watch.record(options.auth)
                try await roundTrip(options.connect(server.clientURL))
            }
            try await roundTrip(base.connect(authURL(server.clientURL, userinfo: "alice:alice-pw-9")))
            try await roundTrip(base.connect(authURL(server.clientURL, userinfo: "bob:\(Self.bcryptPlaintext)")))

            await expectRejected(base.userAndPassword("alice", "wrong-pw-1"), server.clientURL, watch: watch)
            await expectRejected(base.userAndPassword("bob", "wrong-pw-1"), server.clientURL, watch: watch)
            // The hash itself is not the password.
            await expectRejected(base.userAndPassword("bob", Self.bcryptHash), server.clientURL, watch: watch)
            await expectRejected(base.userAndPassword("nobody", "alice-pw-9"), server.clientURL, watch: watch)
            await expectRejected(base, server.clientURL, watch: watch)
            await expectRejected(base, authURL(server.clientURL, userinfo: "alice:wrong-pw-1"), watch: watch)
            await expectRejected(base.authCallback { _ in .userPassword("alice", "wrong-pw-1") }, server.clientURL, watch: watch)
            try await expectOneAttemptPerRejection(server, watch.rejectionCount)
        }
        watch.verify()
    }

    /// A user name and password with spaces, quotes, a backslash, URL delimiters and non-ASCII
    /// survive the CONNECT JSON, and the URL form when percent-encoded.
    @Test func awkwardCharactersInUserAndPassword() async throws {
        let user = "we ird"
        let password = #"p@ss:w/rd"x\y €,%"#
        let config = """
        authorization { users = [ { user: "we ird", password: 'p@ss:w/rd"x\\y €,%' } ] }
        """
        let watch = SecretWatch([password])
        try await withNATSServer(config: config) { server in
            try await roundTrip(watch.options.userAndPassword(user, password).connect(server.clientURL))
            try await roundTrip(watch.options.authCallback { _ in .userPassword(user, password) }.connect(server.clientURL))
            let encode = { (text: String) in text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "" }
            let url = authURL(server.clientURL, userinfo: "\(encode(user)):\(encode(password))")
            try await roundTrip(watch.options.connect(url))
            await expectRejected(watch.options.userAndPassword(user, String(password.dropLast())), server.clientURL, watch: watch)
            try await expectOneAttemptPerRejection(server, watch.rejectionCount)
        }
        watch.verify()
    }

    /// Credentials that stop working while connected: after two rejected reconnects the client
    /// gives up and closes with `.authorizationViolation` (unless `ignoreAuthErrorAbort`).
    @Test func rejectedReconnectsCloseTheClient() async throws {
        let watch = SecretWatch(["good-pw-3", "revoked-pw-3"])
        let revoked = Atomic(false)
        try await withNATSServer(config: "authorization { users = [ { user: carol, password: good-pw-3 } ] }") { server in
            let events = Events()
            let options = watch.options
                .eventHandler(events.handler)
                .authCallback { _ in .userPassword("carol", revoked.load(ordering: .relaxed) ? "revoked-pw-3" : "good-pw-3") }
                .with { $0.reconnect.wait = .milliseconds(50) }
            let client = try await options.connect(server.clientURL)
            revoked.store(true, ordering: .relaxed)
            await client.forceReconnect()
            let closed = await events.wait { if case .closed = $0 { true } else { false } }
            guard case .closed(let reason)? = closed else {
                Issue.record("the client kept reconnecting with rejected credentials: \(events.all)")
                await client.close()
                return
            }
            // The user sees why: the server's rejection is in the reason.
            #expect(reason?.description.contains("Authorization Violation") == true, "\(String(describing: reason))")
            #expect(reason?.kind == .authorizationViolation)
            watch.record(reason as Any)
            // Two rejected reconnects, then no more attempts.
            try await expectOneAttemptPerRejection(server, 2)
            #expect(client.isClosed)
            do {
                try await client.publish("x", to: "after.close")
                Issue.record("published on a closed client")
            } catch let error as NATSError {
                #expect(error.kind == .connectionClosed)
            }
        }
        watch.verify()
    }

    @Test func token() async throws {
        let token = "tok-\(UUID().uuidString)"
        let watch = SecretWatch([token, "wrong-token-7"])
        try await withNATSServer(config: "authorization { token: \"\(token)\" }") { server in
            let base = watch.options
            let forms: [ConnectOptions] = [
                ConnectOptions.withToken(token).logger(watch.capture.logger),
                base.token(token),
                base.with { $0.auth = AuthOptions(.token(token)) },
                base.authCallback { _ in .token(token) },
            ]
            for options in forms {
                watch.record(options)
                try await roundTrip(options.connect(server.clientURL))
            }
            try await roundTrip(base.connect(authURL(server.clientURL, userinfo: token)))
            // Spec chained style, straight to a client.
            let client = try await ConnectOptions.withToken(token).logger(watch.capture.logger).connect(server.clientURL)
            #expect(client.isConnected)
            #expect(client.connectedServer.map { !$0.contains(token) } == true)
            await client.close()

            await expectRejected(base.token("wrong-token-7"), server.clientURL, watch: watch)
            await expectRejected(base, server.clientURL, watch: watch)
            await expectRejected(base, authURL(server.clientURL, userinfo: "wrong-token-7"), watch: watch)
            await expectRejected(base.authCallback { _ in .token("wrong-token-7") }, server.clientURL, watch: watch)
            try await expectOneAttemptPerRejection(server, watch.rejectionCount)
        }
        watch.verify()
    }

    @Test func nkeyUsers() async throws {
        let key = NKeyPair.generate(.user)
        let stranger = NKeyPair.generate(.user)
        let seed = key.revealSeed()
        let watch = SecretWatch([seed, stranger.revealSeed()])
        try await withNATSServer(config: "authorization { users = [ { nkey: \(key.publicKey) } ] }") { server in
            let base = watch.options
            let forms: [ConnectOptions] = [
                ConnectOptions.withNKey(seed).logger(watch.capture.logger),
                base.nkey(seed: seed),
                base.with { $0.auth = AuthOptions(.nkey(seed: seed)) },
                base.authCallback { _ in .nkey(seed: seed) },
                // A callback that signs itself (e.g. with an HSM): public key plus signature.
                base.authCallback { nonce in
                    var auth = Auth()
                    auth.nkey = key.publicKey
                    auth.signature = try key.sign(Array((nonce ?? "").utf8))
                    return auth
                },
            ]
            for options in forms {
                watch.record(options)
                try await roundTrip(options.connect(server.clientURL))
            }

            await expectRejected(base.nkey(seed: stranger.revealSeed()), server.clientURL, watch: watch)
            await expectRejected(base, server.clientURL, watch: watch)
            // The right public key with a signature by another key.
            await expectRejected(base.authCallback { nonce in
                var auth = Auth()
                auth.nkey = key.publicKey
                auth.signature = try stranger.sign(Array((nonce ?? "").utf8))
                return auth
            }, server.clientURL, watch: watch)
            try await expectOneAttemptPerRejection(server, watch.rejectionCount)
        }
        watch.verify()
    }

    @Test func operatorModeJWT() async throws {
        let fixture = try OperatorFixture()
        let (jwt, key) = try fixture.user("alice")
        let creds = Credentials(jwt: jwt, keyPair: key).fileContents()
        let (expiredJWT, expiredKey) = try fixture.user("expired", expires: Date(timeIntervalSinceNow: -3600))
        let unknownAccount = NKeyPair.generate(.account)
        let (strangerJWT, strangerKey) = try fixture.user("stranger", account: unknownAccount)
        let impostor = NKeyPair.generate(.user)
        let watch = SecretWatch([
            jwt, key.revealSeed(), expiredJWT, expiredKey.revealSeed(), strangerJWT, strangerKey.revealSeed(),
            impostor.revealSeed(), fixture.accountKey.revealSeed(), fixture.operatorKey.revealSeed(),
        ])
        try await withNATSServer(config: fixture.serverConfig) { server in
            let dir = server.directory
            let credsPath = dir + "/alice.creds"
            try creds.write(toFile: credsPath, atomically: true, encoding: .utf8)
            let base = watch.options
            let forms: [ConnectOptions] = [
                try ConnectOptions.withCredentialsFile(credsPath).logger(watch.capture.logger),
                try base.credentialsFile(credsPath),
                try ConnectOptions.withCredentials(creds).logger(watch.capture.logger),
                try base.credentials(creds),
                ConnectOptions.withJWT(jwt) { nonce in try key.sign(nonce) }.logger(watch.capture.logger),
                base.jwt(jwt) { nonce in
                    await Task.yield()  // an async signer, e.g. a remote service
                    return try key.sign(nonce)
                },
                base.with { $0.auth = AuthOptions(.jwt(jwt, keyPair: key)) },
                base.with { $0.auth = .credentials(.file(path: credsPath)) },
                base.authCallback { _ in .jwt(jwt, keyPair: key) },
                // A JWT with the user's seed and no signer: the seed signs for the JWT.
                base.with {
                    $0.auth.auth.jwt = jwt
                    $0.auth.auth.nkey = key.revealSeed()
                },
                base.authCallback { _ in
                    var auth = Auth()
                    auth.jwt = jwt
                    auth.nkey = key.revealSeed()
                    return auth
                },
                base.authCallback { _ in try Credentials.load(path: credsPath).auth },
            ]
            for options in forms {
                watch.record(options)
                try await roundTrip(options.connect(server.clientURL))
            }

            // No credentials, a JWT signed for by the wrong key, a bearer JWT without `sig`.
            await expectRejected(base, server.clientURL, watch: watch)
            await expectRejected(base.jwt(jwt) { nonce in try impostor.sign(nonce) }, server.clientURL, watch: watch)
            await expectRejected(base.authCallback { _ in
                var auth = Auth()
                auth.jwt = jwt
                return auth
            }, server.clientURL, watch: watch)
            // A seed from another credentials pairing.
            await expectRejected(
                try base.credentials(Credentials.fileContents(jwt: jwt, seed: impostor.revealSeed())),
                server.clientURL, watch: watch)

            // An expired user JWT: rejected, and the error says it expired.
            let expired = await expectRejected(
                try base.credentials(Credentials(jwt: expiredJWT, keyPair: expiredKey).fileContents()),
                server.clientURL, watch: watch)
            #expect(expired?.description.contains("expired") == true, "\(String(describing: expired))")
            let expiredViaSigner = await expectRejected(
                base.jwt(expiredJWT) { nonce in try expiredKey.sign(nonce) }, server.clientURL, watch: watch)
            #expect(expiredViaSigner?.message.contains("the user JWT expired at") == true)

            // A user of an account the server does not know.
            let unknown = await expectRejected(
                try base.credentials(Credentials(jwt: strangerJWT, keyPair: strangerKey).fileContents()),
                server.clientURL, watch: watch)
            #expect(unknown?.description.contains("expired") == false)
            try await expectOneAttemptPerRejection(server, watch.rejectionCount)
        }
        watch.verify()
    }

    /// The callback runs on every connect: after a server restart it is asked again, with the
    /// new connection's nonce.
    @Test func authCallbackIsCalledAgainAfterRestart() async throws {
        let key = NKeyPair.generate(.user)
        let seed = key.revealSeed()
        let watch = SecretWatch([seed])
        let nonces = Mutex<[String?]>([])
        try await withNATSServer(config: "authorization { users = [ { nkey: \(key.publicKey) } ] }") { server in
            let events = Events()
            let options = watch.options
                .eventHandler(events.handler)
                .authCallback { nonce in
                    nonces.withLock { $0.append(nonce) }
                    return .nkey(seed: seed)
                }
                .with { $0.reconnect.wait = .milliseconds(50) }
            let client = try await options.connect(server.clientURL)
            let sub = try await client.subscribe(to: "after.restart")
            try await client.flush()
            #expect(nonces.withLock { $0.count } == 1)

            try await server.restart()
            let reconnected = await events.wait { if case .reconnected = $0 { true } else { false } }
            #expect(reconnected != nil)

            let seen = nonces.withLock { $0 }
            #expect(seen.count >= 2)
            #expect(seen.allSatisfy { $0?.isEmpty == false })
            #expect(Set(seen.compactMap { $0 }).count == seen.count, "every connection has its own nonce")
            // The restored subscription works on the new connection.
            try await client.publish("back", to: "after.restart")
            let got = try await collect(sub, count: 1, timeout: .seconds(5))
            #expect(got.first?.string == "back")
            await client.close()
        }
        watch.verify()
    }

    /// A user JWT that expires while connected: the server drops the connection, and a callback
    /// that issues a fresh JWT on every connect gets the client back in.
    @Test func expiringJWTIsRefreshedByTheCallbackOnReconnect() async throws {
        let fixture = try OperatorFixture()
        let issued = Mutex<[String]>([])
        let watch = SecretWatch([fixture.accountKey.revealSeed()])
        try await withNATSServer(config: fixture.serverConfig) { server in
            let events = Events()
            let options = watch.options
                .eventHandler(events.handler)
                .authCallback { _ in
                    // The first JWT lives 2 s; the refreshed ones an hour, so nothing expires mid-test.
                    let lifetime: TimeInterval = issued.withLock { $0.isEmpty } ? 2 : 3600
                    let user = try fixture.user("short-lived", expires: Date(timeIntervalSinceNow: lifetime))
                    issued.withLock { $0.append(user.jwt) }
                    watch.add(user.jwt)
                    watch.add(user.key.revealSeed())
                    return .jwt(user.jwt, keyPair: user.key)
                }
                .with { $0.reconnect.wait = .milliseconds(50) }
            let client = try await options.connect(server.clientURL)
            let sub = try await client.subscribe(to: "refresh")
            let reconnected = await events.wait(timeout: .seconds(10)) { if case .reconnected = $0 { true } else { false } }
            #expect(reconnected != nil, "\(events.all)")
            #expect(issued.withLock { $0.count } >= 2)
            #expect(Set(issued.withLock { $0 }).count == issued.withLock { $0.count })
            try await client.publish("fresh", to: "refresh")
            let got = try await collect(sub, count: 1, timeout: .seconds(5))
            #expect(got.first?.string == "fresh")
            await client.close()
        }
        watch.verify()
    }

    /// A credentials file is read on every connect: replacing it on disk switches the user at
    /// the next (re)connect, as the server's /connz shows.
    @Test func replacedCredentialsFileIsUsedOnReconnect() async throws {
        let fixture = try OperatorFixture()
        let first = try fixture.user("first")
        let second = try fixture.user("second")
        let watch = SecretWatch([first.jwt, first.key.revealSeed(), second.jwt, second.key.revealSeed()])
        try await withNATSServer(config: fixture.serverConfig) { server in
            let path = server.directory + "/rotating.creds"
            try Credentials(jwt: first.jwt, keyPair: first.key).fileContents().write(toFile: path, atomically: true, encoding: .utf8)
            let events = Events()
            let options = try watch.options
                .credentialsFile(path)
                .eventHandler(events.handler)
                .with { $0.reconnect.wait = .milliseconds(50) }
            let client = try await options.connect(server.clientURL)
            let sub = try await client.subscribe(to: "rotate")
            try await client.flush()
            #expect(try await waitForConnz(server) { $0.contains(first.key.publicKey) })

            // A half-written file: reconnects fail on our side (.authentication) and keep trying.
            try "-----BEGIN NATS USER JWT-----\n".write(toFile: path, atomically: true, encoding: .utf8)
            await client.forceReconnect()
            let failing = await events.wait { if case .reconnecting(let attempt) = $0 { attempt >= 3 } else { false } }
            #expect(failing != nil)
            #expect(!client.isConnected && !client.isClosed)
            #expect(watch.capture.all.contains { $0.contains("reconnect attempt failed") && $0.contains("authentication") })

            try Credentials(jwt: second.jwt, keyPair: second.key).fileContents().write(toFile: path, atomically: true, encoding: .utf8)
            let reconnected = await events.wait { if case .reconnected = $0 { true } else { false } }
            #expect(reconnected != nil)
            #expect(try await waitForConnz(server) { $0.contains(second.key.publicKey) && !$0.contains(first.key.publicKey) })

            try await client.publish("rotated", to: "rotate")
            let got = try await collect(sub, count: 1, timeout: .seconds(5))
            #expect(got.first?.string == "rotated")
            await client.close()
        }
        watch.verify()
    }

    /// Credentials that cannot be produced (a corrupted seed, a throwing callback or signer, a
    /// bad creds file) fail with `.authentication` before anything is sent, without the secret.
    @Test func credentialsThatCannotBeProducedFailWithoutLeaking() async throws {
        struct VaultError: Error, CustomStringConvertible {
            let secret: String
            var description: String { "the vault answered \(secret)" }
        }
        let key = NKeyPair.generate(.user)
        let seed = key.revealSeed()
        var chars = Array(seed)
        chars[10] = chars[10] == "A" ? "B" : "A"
        let badSeed = String(chars)
        let account = NKeyPair.generate(.account)
        let jwt = try JWTIssuer.issue(.user, subject: key.publicKey, signer: account)
        let watch = SecretWatch([seed, badSeed, "vault-secret-1", jwt])
        try await withNATSServer(config: "authorization { users = [ { nkey: \(key.publicKey) } ] }") { server in
            let base = watch.options
            let cases: [ConnectOptions] = [
                base.nkey(seed: badSeed),
                base.authCallback { _ in .nkey(seed: badSeed) },
                base.authCallback { _ in throw VaultError(secret: "vault-secret-1") },
                base.jwt(jwt) { _ in throw VaultError(secret: "vault-secret-1") },
            ]
            for options in cases {
                watch.record(options)
                let start = ContinuousClock.now
                do {
                    let client = try await options.connect(server.clientURL)
                    Issue.record("connected with credentials that cannot be produced")
                    await client.close()
                } catch let error as NATSError {
                    #expect(error.kind == .authentication, "\(error)")
                    #expect(ContinuousClock.now - start < .seconds(2))
                    watch.record(error)
                }
            }
            let badCreds = Credentials.fileContents(jwt: jwt, seed: badSeed)
            let path = server.directory + "/bad.creds"
            try badCreds.write(toFile: path, atomically: true, encoding: .utf8)
            let configErrors = [
                optionsError { try ConnectOptions.withCredentials(badCreds) },
                optionsError { try ConnectOptions.withCredentialsFile(path) },
                optionsError { try ConnectOptions.withCredentialsFile(server.directory + "/missing.creds") },
            ]
            for error in configErrors {
                #expect(error?.kind == .authentication, "\(String(describing: error))")
                watch.record(error as Any)
            }
        }
        watch.verify()
    }

    /// Descriptions of every auth value redact the secrets (no server needed, but kept with
    /// the other secret checks).
    @Test func descriptionsRedactSecrets() throws {
        let key = NKeyPair.generate(.user)
        let account = NKeyPair.generate(.account)
        let jwt = try JWTIssuer.issue(.user, subject: key.publicKey, signer: account)
        let creds = Credentials(jwt: jwt, keyPair: key)
        let watch = SecretWatch(["p4ssw0rd-x", "t0ken-x", key.revealSeed(), jwt, account.revealSeed()])
        var auth = Auth.userPassword("user", "p4ssw0rd-x")
        auth.token = "t0ken-x"
        auth.nkey = key.revealSeed()
        auth.jwt = jwt
        auth.signature = try key.sign(Array("nonce".utf8))
        var options = AuthOptions(auth)
        options.credentials = .string(creds.fileContents())
        let values: [Any] = [
            auth, options, creds, CredentialsSource.string(creds.fileContents()), Auth.jwt(jwt, keyPair: key),
            try JWTClaims(jwt: jwt), key,
            try ConnectOptions().userAndPassword("user", "p4ssw0rd-x").token("t0ken-x").nkey(seed: key.revealSeed())
                .jwt(jwt) { try key.sign($0) }.credentials(creds.fileContents()),
            AuthFields(user: "u", pass: "p4ssw0rd-x", authToken: "t0ken-x", jwt: jwt, nkey: key.publicKey, sig: "sig"),
        ]
        for value in values { watch.record(value) }
        watch.capture.append("descriptions only")  // this test has no connection to log
        watch.verify()
    }
}
