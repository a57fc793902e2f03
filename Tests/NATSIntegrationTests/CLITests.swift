import Foundation
import NATSAuth
import Synchronization
import NATSTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Running the tool

/// What one run of `nats-swift` printed and how it exited.
struct CLIResult: Sendable, CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool

    /// The last `error: ...` line on stderr, if any.
    var errorLine: String? {
        stderr.split(separator: "\n").last(where: { $0.hasPrefix("error: ") }).map(String.init)
    }

    var description: String { "exit \(status)\(timedOut ? " (killed after the time limit)" : "")\nstdout: \(stdout)\nstderr: \(stderr)" }
}

enum CLI {
    /// `nats-swift` next to the test bundle in `.build/<config>`, or `$NATS_SWIFT_BIN`.
    static func toolPath() throws -> String {
        if let path = ProcessInfo.processInfo.environment["NATS_SWIFT_BIN"] { return path }
        var candidates: [URL] = []
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates.append(runner.deletingLastPathComponent())
        candidates.append(runner.deletingLastPathComponent().deletingLastPathComponent())
        if let bundle = Bundle.main.executableURL {
            candidates.append(bundle.deletingLastPathComponent())
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug"))
        for dir in candidates {
            let path = dir.appendingPathComponent("nats-swift").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw CLITestError("nats-swift not found next to the tests (\(candidates.map(\.path))); run 'swift build --build-tests' first")
    }

    /// Runs the tool on a thread of its own (never a cooperative one), killing it after `timeout`.
    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(20)) async throws -> CLIResult {
        let tool = try toolPath()
        return try await runOffCooperativePool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = arguments
            var env = ProcessInfo.processInfo.environment
            env["NATS_URL"] = nil
            env["NATS_CREDS"] = nil
            for (k, v) in environment { env[k] = v }
            process.environment = env
            let out = Pipe()
            let err = Pipe()
            process.standardOutput = out
            process.standardError = err
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let pid = process.processIdentifier
            let killed = KillSwitch()
            let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
                if killed.fire() { _ = Glibc.kill(pid, SIGKILL) }
            }
            // stderr is read on its own thread so neither pipe can fill up and block the tool.
            let errData = ErrBox()
            let reader = Thread { errData.set(readToEndRetryingInterrupts(err.fileHandleForReading)) }
            reader.start()
            let outData = readToEndRetryingInterrupts(out.fileHandleForReading)
            process.waitUntilExit()
            let timedOut = !killed.disarm()
            let stderr = errData.wait()
            return CLIResult(
                status: process.terminationStatus,
                stdout: String(decoding: outData, as: UTF8.self),
                stderr: String(decoding: stderr, as: UTF8.self),
                timedOut: timedOut
            )
        }
    }
}

/// Fires at most once: either the timer kills the process or the exit disarms it.
final class KillSwitch: Sendable {
    private let done = Mutex(false)
    /// The timer: true if it may kill (the process has not exited yet).
    func fire() -> Bool { done.withLock { d in defer { d = true }; return !d } }
    /// The exit: true if the timer had not fired.
    func disarm() -> Bool { done.withLock { d in defer { d = true }; return !d } }
}

/// The stderr bytes, handed from the reader thread to the waiting one.
final class ErrBox: @unchecked Sendable {
    // `condition` guards `data`.
    private let condition = NSCondition()
    private var data: Data?
    func set(_ d: Data) { condition.lock(); data = d; condition.signal(); condition.unlock() }
    func wait() -> Data {
        condition.lock()
        defer { condition.unlock() }
        while data == nil { condition.wait() }
        return data ?? Data()
    }
}

struct CLITestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Starts every server at once, runs `body`, and stops them all.
func withServers(_ options: [NATSServer.Options], _ body: ([NATSServer]) async throws -> Void) async throws {
    let servers = try await withThrowingTaskGroup(of: (Int, NATSServer).self) { group in
        for (i, o) in options.enumerated() { group.addTask { (i, try await NATSServer.start(o)) } }
        var started: [(Int, NATSServer)] = []
        for try await s in group { started.append(s) }
        return started.sorted { $0.0 < $1.0 }.map(\.1)
    }
    do {
        try await body(servers)
    } catch {
        for s in servers { try? FileHandle.standardError.write(contentsOf: Data("\(s.serverName) log:\n\(s.logTail(15))\n".utf8)) }
        for s in servers { await s.stop() }
        throw error
    }
    for s in servers { await s.stop() }
}

/// Asserts a successful `check` and returns its fields (`rtt_us`, `transport`, `tls`, `server`).
@discardableResult
func expectCheck(_ arguments: [String], environment: [String: String] = [:], transport: String, tls: String? = nil, server: NATSServer,
                 sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String: String] {
    let result = try await CLI.run(["check"] + arguments, environment: environment)
    #expect(result.status == 0, "\(arguments): \(result)", sourceLocation: sourceLocation)
    let line = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(line.hasPrefix("ok "), "\(arguments): \(result)", sourceLocation: sourceLocation)
    var fields: [String: String] = [:]
    for part in line.split(separator: " ").dropFirst() {
        let kv = part.split(separator: "=", maxSplits: 1)
        if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
    }
    #expect(Int(fields["rtt_us"] ?? "") != nil, "\(line)", sourceLocation: sourceLocation)
    #expect(fields["transport"] == transport, "\(line)", sourceLocation: sourceLocation)
    if let tls {
        #expect(fields["tls"] == tls, "\(line)", sourceLocation: sourceLocation)
    } else {
        #expect(fields["tls"]?.hasPrefix("TLSv1.") == true, "\(line)", sourceLocation: sourceLocation)
    }
    #expect(fields["server"] == server.serverName, "\(line)", sourceLocation: sourceLocation)
    return fields
}

/// Asserts a failure with exit 1 and one `error: <kind>: ...` line.
func expectFailure(_ arguments: [String], kind: String, mentioning: String? = nil, status: Int32 = 1,
                   sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let result = try await CLI.run(arguments)
    #expect(result.status == status, "\(arguments): \(result)", sourceLocation: sourceLocation)
    #expect(!result.timedOut, sourceLocation: sourceLocation)
    let lines = result.stderr.split(separator: "\n")
    #expect(lines.count == 1, "one line expected: \(result)", sourceLocation: sourceLocation)
    #expect(result.errorLine?.hasPrefix("error: \(kind): ") == true, "\(arguments): \(result)", sourceLocation: sourceLocation)
    if let mentioning {
        #expect(result.errorLine?.contains(mentioning) == true, "\(arguments): \(result)", sourceLocation: sourceLocation)
    }
}

func writeFile(_ dir: String, _ name: String, _ text: String) throws -> String {
    let path = dir + "/" + name
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

// MARK: - Tests

@Suite(.timeLimit(.minutes(1))) struct CLITests {
    /// Users for user/password and NKey in one account, plain clients mapped to `demo`.
    static func mainConfig(nkey: NKeyPair) -> String {
        """
        max_payload: 1024
        accounts { DEMO { users = [ { user: demo, password: "demo-pass" }, { nkey: \(nkey.publicKey) } ] } }
        no_auth_user: demo
        """
    }

    @Test func checkThroughEveryTransport() async throws {
        let certs = try await TestCertificates.shared()
        let files = NATSServer.Options.TLSFiles(certFile: certs.serverCertificate, keyFile: certs.serverKey)
        var mtls = files
        mtls.caFile = certs.caCertificate
        mtls.verifyClients = true
        try await withServers([
            NATSServer.Options(websocket: .init(compression: true)),
            NATSServer.Options(tls: files, websocket: .init(tls: files)),
            NATSServer.Options(tls: files, tlsHandshakeFirst: true),
            NATSServer.Options(tls: mtls),
        ]) { s in
            let (plain, tls, first, mutual) = (s[0], s[1], s[2], s[3])
            let ca = ["--tls-ca", certs.caCertificate]
            async let tcp = expectCheck(["-s", plain.clientURL], transport: "tcp", tls: "none", server: plain)
            async let ws = expectCheck(["-s", plain.websocketURL ?? ""], transport: "ws", tls: "none", server: plain)
            async let wsDeflate = expectCheck(["-s", plain.websocketURL ?? "", "--ws-compression", "--ws-header", "X-Demo: 1"], transport: "ws", tls: "none", server: plain)
            async let tlsScheme = expectCheck(["-s", "tls://localhost:\(tls.port)"] + ca, transport: "tls", server: tls)
            async let upgrade = expectCheck(["-s", "nats://127.0.0.1:\(tls.port)"] + ca, transport: "tls", server: tls)
            async let wss = expectCheck(["-s", "wss://localhost:\(tls.websocketPort ?? 0)"] + ca, transport: "wss", server: tls)
            async let tlsFirst = expectCheck(["-s", "nats://localhost:\(first.port)", "--tls-first"] + ca, transport: "tls", server: first)
            async let mutualTLS = expectCheck(["-s", "tls://localhost:\(mutual.port)", "--tls-cert", certs.clientCertificate, "--tls-key", certs.clientKeyPKCS8] + ca,
                                              transport: "tls", server: mutual)
            _ = try await (tcp, ws, wsDeflate, tlsScheme, upgrade, wss, tlsFirst, mutualTLS)

            // `info` shows the negotiated TLS and the server's certificate.
            let info = try await CLI.run(["info", "-s", "tls://localhost:\(mutual.port)", "--tls-cert", certs.clientCertificate, "--tls-key", certs.clientKeyPKCS8] + ca)
            #expect(info.status == 0, "\(info)")
            #expect(info.stdout.contains("tls_version       TLSv1."), "\(info)")
            #expect(info.stdout.contains("tls_cipher"), "\(info)")
            #expect(info.stdout.contains("peer_certificate  CN=localhost"), "\(info)")
            #expect(info.stdout.contains("tls_verify        true"), "\(info)")

            // `bench --json` prints one JSON object with rates and latencies.
            for mode in ["pubsub", "reqrep"] {
                let bench = try await CLI.run(["bench", "-s", plain.clientURL, "--mode", mode, "--count", "200", "--size", "64", "--json"])
                #expect(bench.status == 0, "\(bench)")
                let object = try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any]
                #expect(object?["mode"] as? String == mode, "\(bench)")
                #expect(object?["messages"] as? Int == 200, "\(bench)")
                #expect((object?["latency_us"] as? [String: Any])?["p99"] != nil, "\(bench)")
            }

            // TLS failures say what to fix.
            async let untrusted: Void = expectFailure(["check", "-s", "tls://localhost:\(tls.port)"], kind: "tls", mentioning: "--tls-ca")
            async let noClientCert: Void = expectFailure(["check", "-s", "tls://localhost:\(mutual.port)"] + ca, kind: "tls", mentioning: "--tls-cert")
            async let plainRequired: Void = expectFailure(["check", "-s", plain.clientURL, "--tls-required"], kind: "secure-connection-required")
            async let tlsFirstExpected: Void = expectFailure(["check", "-s", "nats://localhost:\(first.port)", "--timeout", "1"] + ca, kind: "timeout", mentioning: "--tls-first")
            _ = try await (untrusted, noClientCert, plainRequired, tlsFirstExpected)
        }
    }

    @Test func checkWithEveryAuthMethod() async throws {
        let nkey = NKeyPair.generate(.user)
        let fixture = try OperatorFixture()
        let user = try fixture.user("cli")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-auth-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let nkeyFile = try writeFile(dir, "nkey.seed", nkey.revealSeed() + "\n")
        let jwtFile = try writeFile(dir, "user.jwt", user.jwt + "\n")
        let seedFile = try writeFile(dir, "user.seed", user.key.revealSeed() + "\n")
        let credsFile = try writeFile(dir, "user.creds", Credentials.fileContents(jwt: user.jwt, seed: user.key.revealSeed()))
        let expired = try fixture.user("expired", expires: Date(timeIntervalSinceNow: -60))
        let expiredFile = try writeFile(dir, "expired.creds", Credentials.fileContents(jwt: expired.jwt, seed: expired.key.revealSeed()))

        try await withServers([
            NATSServer.Options(config: Self.mainConfig(nkey: nkey), websocket: .init(extra: "  no_auth_user: demo")),
            NATSServer.Options(config: "authorization { token: \"cli-token\" }"),
            NATSServer.Options(config: fixture.serverConfig),
        ]) { s in
            let (main, token, op) = (s[0], s[1], s[2])
            let mainPort = main.port
            async let none = expectCheck(["-s", main.clientURL], transport: "tcp", tls: "none", server: main)
            async let password = expectCheck(["-s", main.clientURL, "--user", "demo", "--password", "demo-pass"], transport: "tcp", tls: "none", server: main)
            async let urlPassword = expectCheck(["-s", "nats://demo:demo-pass@127.0.0.1:\(mainPort)"], transport: "tcp", tls: "none", server: main)
            async let nkeyCheck = expectCheck(["-s", main.clientURL, "--nkey", nkeyFile], transport: "tcp", tls: "none", server: main)
            async let nkeyWS = expectCheck(["-s", main.websocketURL ?? "", "--nkey", nkeyFile], transport: "ws", tls: "none", server: main)
            async let tokenCheck = expectCheck(["-s", token.clientURL, "--token", "cli-token"], transport: "tcp", tls: "none", server: token)
            async let urlToken = expectCheck(["-s", "nats://cli-token@127.0.0.1:\(token.port)"], transport: "tcp", tls: "none", server: token)
            async let jwt = expectCheck(["-s", op.clientURL, "--jwt", jwtFile, "--seed", seedFile], transport: "tcp", tls: "none", server: op)
            async let creds = expectCheck(["-s", op.clientURL, "--creds", credsFile], transport: "tcp", tls: "none", server: op)
            async let credsEnv = expectCheck([], environment: ["NATS_URL": op.clientURL, "NATS_CREDS": credsFile], transport: "tcp", tls: "none", server: op)
            _ = try await (none, password, urlPassword, nkeyCheck, nkeyWS, tokenCheck, urlToken, jwt, creds, credsEnv)

            // `info` names the method; `creds` shows the claims and never the seed.
            let info = try await CLI.run(["info", "-s", op.clientURL, "--creds", credsFile])
            #expect(info.status == 0, "\(info)")
            #expect(info.stdout.contains("auth_method") && info.stdout.contains("creds"), "\(info)")
            let shown = try await CLI.run(["creds", credsFile])
            #expect(shown.status == 0, "\(shown)")
            #expect(shown.stdout.contains(user.key.publicKey), "\(shown)")
            #expect(!shown.stdout.contains(user.key.revealSeed()) && !shown.stderr.contains(user.key.revealSeed()))

            // Wrong credentials: the server's rejection, one line, exit 1, no secret.
            let wrong = try await CLI.run(["check", "-s", main.clientURL, "--user", "demo", "--password", "wrong-pass-42"])
            #expect(wrong.status == 1, "\(wrong)")
            #expect(wrong.errorLine?.hasPrefix("error: authorization-violation: ") == true, "\(wrong)")
            #expect(!wrong.stderr.contains("wrong-pass-42"))
            async let badToken: Void = expectFailure(["check", "-s", token.clientURL, "--token", "nope"], kind: "authorization-violation")
            async let bareNKeyInOperatorMode: Void = expectFailure(["check", "-s", op.clientURL, "--nkey", nkeyFile], kind: "authorization-violation")
            async let expiredRejected: Void = expectFailure(["check", "-s", op.clientURL, "--creds", expiredFile], kind: "authorization-violation")
            _ = try await (badToken, bareNKeyInOperatorMode, expiredRejected)
            let expiredShown = try await CLI.run(["creds", expiredFile])
            #expect(expiredShown.status == 1, "\(expiredShown)")
            #expect(expiredShown.errorLine?.hasPrefix("error: authentication: ") == true && expiredShown.stderr.contains("expired"), "\(expiredShown)")
            #expect(!expiredShown.stdout.contains(expired.key.revealSeed()) && !expiredShown.stderr.contains(expired.key.revealSeed()))
        }
    }

    @Test func errorsSayWhatToFix() async throws {
        let closedPort = try await {
            let server = try await NATSServer.start()
            let port = server.port
            await server.stop()
            return port
        }()
        async let closed: Void = expectFailure(["check", "-s", "nats://127.0.0.1:\(closedPort)", "--timeout", "2"], kind: "connection", mentioning: "\(closedPort)")
        async let usage: Void = expectFailure(["check", "--user", "only-user"], kind: "config", mentioning: "--password", status: 2)
        async let unknownFlag: Void = expectFailure(["check", "--no-such-flag"], kind: "config", status: 2)
        async let missingFile: Void = expectFailure(["check", "--creds", "/nonexistent/x.creds"], kind: "config", mentioning: "/nonexistent/x.creds")
        _ = try await (closed, usage, unknownFlag, missingFile)

        let nkey = NKeyPair.generate(.user)
        try await withServers([
            NATSServer.Options(config: Self.mainConfig(nkey: nkey)),
        ]) { s in
            let url = s[0].clientURL
            async let tooBig: Void = expectFailure(["pub", "-s", url, "big", "--size", "2000"], kind: "max-payload", mentioning: "1024")
            async let badSubject: Void = expectFailure(["pub", "-s", url, "has space", "x"], kind: "invalid-subject")
            async let noResponders: Void = expectFailure(["req", "-s", url, "nobody.home", "x"], kind: "no-responders")
            async let badHeader: Void = expectFailure(["pub", "-s", url, "x", "--header", "no-colon"], kind: "config", status: 2)
            _ = try await (tooBig, badSubject, noResponders, badHeader)
        }
    }

    @Test func pubSubAndRequestReply() async throws {
        try await withNATSServer { server in
            let url = server.clientURL
            async let sub = CLI.run(["sub", "-s", url, "cli.sub", "--count", "1"], timeout: .seconds(15))
            async let reply = CLI.run(["reply", "-s", url, "cli.echo", "--echo", "--count", "1"], timeout: .seconds(15))
            try await waitForSubscriptions(server, ["cli.sub", "cli.echo"])
            let request = try await CLI.run(["req", "-s", url, "cli.echo", "ping", "--header", "K: v"])
            #expect(request.status == 0, "\(request)")
            #expect(request.stdout.contains("ping") && request.stdout.contains("K: v"), "\(request)")
            let pub = try await CLI.run(["pub", "-s", url, "cli.sub", "hello-sub"])
            #expect(pub.status == 0, "\(pub)")
            let (subResult, replyResult) = try await (sub, reply)
            #expect(subResult.status == 0, "\(subResult)")
            #expect(subResult.stdout.contains("hello-sub"), "\(subResult)")
            #expect(subResult.stderr.contains("listening on"), "\(subResult)")
            #expect(replyResult.status == 0, "\(replyResult)")
        }
    }

    /// Waits (at most 10 s) until the server lists a subscription on each of `subjects`.
    func waitForSubscriptions(_ server: NATSServer, _ subjects: [String]) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let connz = try await server.monitor("/connz?subs=1")
            if subjects.allSatisfy({ connz.contains("\"\($0)\"") }) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CLITestError("the server never listed subscriptions on \(subjects)")
    }

    @Test func nkeyGenerateSignVerify() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-nkey-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let seedFile = dir + "/a.seed"
        let gen = try await CLI.run(["nkey", "gen", "--type", "account", "--out", seedFile])
        #expect(gen.status == 0, "\(gen)")
        let publicKey = gen.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(publicKey.hasPrefix("A") && NKeyCodec.isValidPublicKey(publicKey, type: .account))
        let attributes = try FileManager.default.attributesOfItem(atPath: seedFile)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let pub = try await CLI.run(["nkey", "pub", seedFile])
        #expect(pub.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == publicKey)
        let sign = try await CLI.run(["nkey", "sign", "--seed", seedFile, "hello"])
        let signature = sign.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(sign.status == 0 && !signature.isEmpty, "\(sign)")
        let good = try await CLI.run(["nkey", "verify", "--key", publicKey, "--sig", signature, "hello"])
        #expect(good.status == 0 && good.stdout.contains("valid"), "\(good)")
        try await expectFailure(["nkey", "verify", "--key", publicKey, "--sig", signature, "tampered"], kind: "authentication")
        try await expectFailure(["nkey", "gen", "--type", "nonsense"], kind: "config", status: 2)
    }
}
