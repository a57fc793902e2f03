import NATSTransport
import NATSWire
import Testing
@testable import NATSClient

@Suite struct HandshakeStateMachineTests {
    func info(tlsRequired: Bool = false, tlsAvailable: Bool = false) -> ServerInfo {
        var i = ServerInfo()
        i.tlsRequired = tlsRequired
        i.tlsAvailable = tlsAvailable
        return i
    }

    @Test func plaintext() {
        var m = HandshakeStateMachine(requirements: .init())
        #expect(m.infoReceived(info()) == .authenticate(info()))
        #expect(m.connectReady() == .sendConnectAndPing)
        #expect(m.pingReceived() == .sendPong)
        #expect(m.pongReceived() == .connected(info()))
    }

    @Test func serverRequiresTLS() {
        var m = HandshakeStateMachine(requirements: .init())
        let i = info(tlsRequired: true)
        #expect(m.infoReceived(i) == .upgradeToTLS)
        #expect(m.tlsEstablished() == .authenticate(i))
        #expect(m.connectReady() == .sendConnectAndPing)
        #expect(m.pongReceived() == .connected(i))
    }

    @Test(arguments: [(true, false), (false, true)])
    func clientRequiresTLS(byOptions: Bool, byURL: Bool) {
        var r = HandshakeStateMachine.Requirements()
        r.tlsRequiredByOptions = byOptions
        r.tlsRequiredByURL = byURL
        var offered = HandshakeStateMachine(requirements: r)
        #expect(offered.infoReceived(info(tlsAvailable: true)) == .upgradeToTLS)
        var notOffered = HandshakeStateMachine(requirements: r)
        #expect(notOffered.infoReceived(info()) == .fail(.secureConnectionRequired))
    }

    @Test func tlsFirstAndWebSocketSkipTheUpgrade() {
        var r = HandshakeStateMachine.Requirements()
        r.tlsFirst = true
        var m = HandshakeStateMachine(requirements: r)
        #expect(m.infoReceived(info(tlsRequired: true)) == .authenticate(info(tlsRequired: true)))
        var w = HandshakeStateMachine.Requirements()
        w.webSocket = true
        w.tlsRequiredByURL = true
        var ws = HandshakeStateMachine(requirements: w)
        #expect(ws.infoReceived(info(tlsRequired: true)) == .authenticate(info(tlsRequired: true)))
    }

    @Test func requiredTLSOverPlainWebSocketFails() {
        var r = HandshakeStateMachine.Requirements()
        r.webSocket = true
        r.tlsRequiredByOptions = true
        var plain = HandshakeStateMachine(requirements: r)
        #expect(plain.infoReceived(info()) == .fail(.secureConnectionRequired))
        r.tlsRequiredByURL = true
        var secure = HandshakeStateMachine(requirements: r)
        #expect(secure.infoReceived(info()) == .authenticate(info()))
    }

    @Test func errorsAndOutOfOrder() {
        var m = HandshakeStateMachine(requirements: .init())
        #expect(m.pingReceived() == .fail(.unexpected("PING before INFO")))
        var e = HandshakeStateMachine(requirements: .init())
        _ = e.infoReceived(info())
        _ = e.connectReady()
        let err = ServerError(text: "Authorization Violation")
        #expect(e.errReceived(err) == .fail(.server(err)))
        var p = HandshakeStateMachine(requirements: .init())
        _ = p.infoReceived(info())
        #expect(p.pongReceived() == .fail(.unexpected("PONG before CONNECT")))
    }
}

@Suite struct ServerPoolTests {
    struct FixedRNG: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state
        }
    }

    func urls(_ s: String...) -> [ServerURL] { s.compactMap { try? ServerURL($0) } }

    @Test func orderAndRotation() {
        var rng = FixedRNG(state: 1)
        var pool = ServerPool(urls: urls("nats://a:1", "nats://b:2", "nats://a:1"), shuffle: false, using: &rng)
        #expect(pool.urls.map(\.host) == ["a", "b"])
        #expect(pool.next()?.url.host == "a")
        #expect(pool.next()?.url.host == "b")
        #expect(pool.next()?.url.host == "a")
    }

    func fail(_ pool: inout ServerPool, maxAttempts: Int, auth: Bool, abort: Bool) -> Bool {
        let url = pool.urls[0]
        return pool.recordFailure(url, maxAttempts: maxAttempts, authError: auth, abortOnRepeatedAuthError: abort)
    }

    @Test func maxAttemptsRemovesAServer() {
        var rng = FixedRNG(state: 1)
        var pool = ServerPool(urls: urls("nats://a:1"), shuffle: false, using: &rng)
        let removed = (0..<2).map { _ in fail(&pool, maxAttempts: 2, auth: false, abort: true) }
        #expect(removed == [false, true])
        #expect(pool.isEmpty)
    }

    @Test func repeatedAuthErrorsRemoveAServerUnlessIgnored() {
        var rng = FixedRNG(state: 1)
        var pool = ServerPool(urls: urls("nats://a:1"), shuffle: false, using: &rng)
        let removed = (0..<2).map { _ in fail(&pool, maxAttempts: -1, auth: true, abort: true) }
        #expect(removed == [false, true])
        var keep = ServerPool(urls: urls("nats://a:1"), shuffle: false, using: &rng)
        let kept = (0..<5).map { _ in fail(&keep, maxAttempts: -1, auth: true, abort: false) }
        #expect(kept.allSatisfy { !$0 })
    }

    @Test func discoveredServersKeepSchemeAndCredentialsAndLeaveWhenDropped() {
        var rng = FixedRNG(state: 1)
        var pool = ServerPool(urls: urls("tls://u:p@seed:4222"), shuffle: false, using: &rng)
        let template = pool.urls[0]
        let added = pool.mergeDiscovered(["10.0.0.2:4222", "10.0.0.3:4222", "seed:4222"], template: template, using: &rng, shuffle: false)
        #expect(added.map(\.host) == ["10.0.0.2", "10.0.0.3"])
        #expect(added.allSatisfy { $0.scheme == .tls && $0.user == "u" && $0.password == "p" })
        _ = pool.mergeDiscovered(["10.0.0.3:4222"], template: template, using: &rng, shuffle: false)
        #expect(pool.urls.map(\.host) == ["seed", "10.0.0.3"])
    }

    @Test(arguments: [(0.0, false, 2000), (1.0, false, 2100), (0.5, true, 2500), (1.0, true, 3000)])
    func backoff(random: Double, tls: Bool, expectedMilliseconds: Int) {
        let d = Backoff.delay(pass: 1, tls: tls, options: ConnectOptions.Reconnect(), random: random)
        #expect(d == .milliseconds(expectedMilliseconds))
    }

    @Test func customDelay() {
        var r = ConnectOptions.Reconnect()
        r.delay = { .milliseconds(100 * $0) }
        #expect(Backoff.delay(pass: 3, tls: false, options: r, random: 0.7) == .milliseconds(300))
    }
}
