import Foundation
import NATSTestSupport
import NATSTransport
import NATSWire
import NIOCore
import NIOPosix
import Synchronization
import Testing
@testable import NATSClient

/// Collects server-side connections made through an in-memory dialer. A waiting `next()` is
/// only woken and takes the connection under the lock (which ThreadSanitizer sees), rather
/// than receiving it through the continuation.
final class FakeCluster: Sendable {
    private struct State {
        var accepted: [FakeServerConnection] = []
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())
    /// The client side takes synchronous sends of at most this many bytes (nil: none).
    let immediateWriteLimit: Int?
    /// The loop the client side offers for the writer's timer (nil: none).
    let eventLoop: (any EventLoop)?

    init(immediateWriteLimit: Int? = nil, eventLoop: (any EventLoop)? = nil) {
        self.immediateWriteLimit = immediateWriteLimit
        self.eventLoop = eventLoop
    }

    var dialer: InMemoryDialer {
        InMemoryDialer(immediateWriteLimit: immediateWriteLimit, eventLoop: eventLoop) { [self] stream, _ in
            let conn = FakeServerConnection(stream)
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                s.accepted.append(conn)
                return s.waiters.isEmpty ? nil : s.waiters.removeFirst()
            }
            waiter?.resume()
        }
    }

    /// Connections dialed and not yet taken by ``next()`` (redials, say).
    var unclaimedCount: Int { state.withLock { $0.accepted.count } }

    /// The next connection the client dials.
    func next() async -> FakeServerConnection {
        while true {
            let ready = state.withLock { s -> FakeServerConnection? in
                s.accepted.isEmpty ? nil : s.accepted.removeFirst()
            }
            if let ready { return ready }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let parked = state.withLock { s -> Bool in
                    guard s.accepted.isEmpty else { return false }
                    s.waiters.append(c)
                    return true
                }
                if !parked { c.resume() }
            }
        }
    }
}

final class EventLog: Sendable {
    let events = Mutex<[String]>([])
    var handler: @Sendable (NATSEvent) -> Void { { [self] e in events.withLock { $0.append("\(e)") } } }
    var all: [String] { events.withLock { $0 } }
    func waitFor(_ prefix: String, timeout: Duration = .seconds(5)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if all.contains(where: { $0.hasPrefix(prefix) }) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }
}

/// Connects a client to a fake server that completes the handshake.
func connectedPair(_ options: ConnectOptions = ConnectOptions(), url: String = "nats://fake:4222", info: String = "") async throws -> (NATSClient, FakeServerConnection, FakeCluster, String) {
    let cluster = FakeCluster()
    var options = options
    options.dialer = cluster.dialer
    async let client = NATSClient.connect(url, options: options)
    let server = await cluster.next()
    let connect = try await server.acceptHandshake(info: info)
    return (try await client, server, cluster, connect)
}

/// A client on an in-memory transport that takes synchronous sends (at most
/// `immediateWriteLimit` bytes each) and offers an event loop for the writer's timer, as TCP does.
func timedPair(immediateWriteLimit: Int) async throws -> (NATSClient, FakeServerConnection) {
    let cluster = FakeCluster(immediateWriteLimit: immediateWriteLimit, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
    var options = ConnectOptions()
    options.dialer = cluster.dialer
    async let connecting = NATSClient.connect("nats://fake:4222", options: options)
    let server = await cluster.next()
    try await server.acceptHandshake()
    return (try await connecting, server)
}

/// Reads `count` PUBs to `burst.0`, `burst.1`, … with `payload`, stopping at the first other.
func expectPubs(from server: FakeServerConnection, _ count: Int, payload: [UInt8]) async throws {
    for i in 0..<count {
        let op = try await server.nextOp()
        guard op == .pub(subject: "burst.\(i)", reply: nil, payload: payload) else {
            Issue.record("message \(i): \(String(describing: op))")
            return
        }
    }
}

@Suite(.timeLimit(.minutes(1))) struct FakeServerClientTests {
    @Test func handshakeSendsConnectWithOurFields() async throws {
        let (client, _, _, connect) = try await connectedPair(ConnectOptions().name("tester").noEcho(), url: "nats://alice:s3cret@fake:4222")
        let json = try JSONSerialization.jsonObject(with: Data(connect.utf8)) as? [String: Any]
        #expect(json?["lang"] as? String == "swift")
        #expect(json?["name"] as? String == "tester")
        #expect(json?["echo"] as? Bool == false)
        #expect(json?["headers"] as? Bool == true)
        #expect(json?["no_responders"] as? Bool == true)
        #expect(json?["verbose"] as? Bool == false)
        #expect(json?["user"] as? String == "alice")
        #expect(json?["pass"] as? String == "s3cret")
        #expect(client.isConnected)
        #expect(client.connectedServer?.contains("s3cret") == false)
        await client.close()
    }

    @Test func publishWritesPubAndHPub() async throws {
        let (client, server, _, _) = try await connectedPair()
        try await client.publish("hello", to: "greet.joe")
        try await client.publish([1, 2, 3], to: "bytes", reply: "reply.to")
        var h = NATSHeaders()
        h["X-Id"] = "7"
        try await client.publish(ByteBuffer(string: "with"), to: "hdr", headers: h)
        #expect(try await server.nextOp() == .pub(subject: "greet.joe", reply: nil, payload: Array("hello".utf8)))
        #expect(try await server.nextOp() == .pub(subject: "bytes", reply: "reply.to", payload: [1, 2, 3]))
        #expect(try await server.nextOp() == .hpub(subject: "hdr", reply: nil, headers: Array("NATS/1.0\r\nX-Id: 7\r\n\r\n".utf8), payload: Array("with".utf8)))
        #expect(client.statistics.outMessages == 3)
        await client.close()
    }

    /// The subject check happens while encoding, so a publish that finds the buffer full
    /// (nothing encoded) checks before it waits: the wait's retry does not. With publishers
    /// held back, an invalid subject is refused at once instead of waiting for room.
    @Test func aPublishThatMustWaitIsValidatedFirst() async throws {
        let (client, server, _, _) = try await connectedPair()
        client.connection.state.withLock { $0.restInFlight = true }
        for (subject, reply) in [("has space", nil), ("", nil), ("ok", "bad reply")] as [(String, String?)] {
            let errors = [
                await #expect(throws: NATSError.self) { try await client.publish("x", to: subject, reply: reply) },
                await #expect(throws: NATSError.self) { try await client.publish(ByteBuffer(string: "x"), to: subject, reply: reply) },
                await #expect(throws: NATSError.self) { try await client.publish([UInt8(1)], to: subject, reply: reply) },
            ]
            #expect(errors.map { $0?.kind } == [.invalidSubject, .invalidSubject, .invalidSubject])
        }
        client.connection.state.withLock { $0.restInFlight = false }
        try await client.publish("fine", to: "after")
        #expect(try await server.nextOp() == .pub(subject: "after", reply: nil, payload: Array("fine".utf8)))
        #expect(client.statistics.outMessages == 1)
        await client.close()
    }

    /// A sparse publisher sends its own message (the writer sleeps); a transport that takes
    /// only a few bytes at once leaves the rest to the writer, which sends it before anything
    /// else: the server gets every message whole and in order, with a PING between them.
    @Test func publisherSendsItselfAndTheWriterFinishesWhatTheSocketDidNotTake() async throws {
        let cluster = FakeCluster(immediateWriteLimit: 5)
        var options = ConnectOptions()
        options.dialer = cluster.dialer
        async let connecting = NATSClient.connect("nats://fake:4222", options: options)
        let server = await cluster.next()
        try await server.acceptHandshake()
        let client = try await connecting
        var expected: [ClientOp] = []
        for i in 0..<20 {
            // Apart by more than the interval after which a publisher sends itself again.
            try await Task.sleep(for: .microseconds(200))
            try await client.publish("payload \(i)", to: "sparse.\(i)")
            expected.append(.pub(subject: "sparse.\(i)", reply: nil, payload: Array("payload \(i)".utf8)))
            if i == 10 {
                async let flushed: Void = client.flush()
                #expect(try await server.nextOp() == expected[0])
                expected.removeFirst()
                for op in expected { #expect(try await server.nextOp() == op) }
                expected = []
                #expect(try await server.nextOp() == .ping)
                try await server.send("PONG\r\n")
                try await flushed
            }
        }
        for op in expected { #expect(try await server.nextOp() == op) }
        // Sends of the publisher itself, not only the writer's (with 200 us between them,
        // most of them; a slow machine may leave a few to the writer).
        #expect(client.connection.state.withLock { $0.publisherSends } > 0)
        await client.close()
    }

    /// A publisher in a loop, on a transport with a timer loop like TCP's: what it leaves in
    /// the buffer when it stops goes out on the writer's timer, without a flush, also after
    /// it sent full batches itself (the timer's longer period); the batches it sent itself
    /// and the writer's arrive whole and in order, and so does a lone message after a pause.
    @Test(arguments: [(16, 1_500), (1024, 100), (1024, 1_000)])
    func aBurstGoesOutWithoutAFlush(size: Int, count: Int) async throws {
        let (client, server) = try await timedPair(immediateWriteLimit: .max)
        let payload = [UInt8](repeating: 7, count: size)
        for i in 0..<count { try await client.publish(payload, to: "burst.\(i)") }
        try await expectPubs(from: server, count, payload: payload)
        try await Task.sleep(for: .milliseconds(1))
        try await client.publish("last", to: "after")
        #expect(try await server.nextOp() == .pub(subject: "after", reply: nil, payload: Array("last".utf8)))
        await client.close()
    }

    /// A socket with little room: each batch a publisher sends itself goes out in part, the
    /// writer sends the rest before anything else while publishers wait for it, and the
    /// server gets every message whole and in order, with a flush's PING between them.
    @Test func batchesTheSocketTakesInPartArriveWholeAndInOrder() async throws {
        let (client, server) = try await timedPair(immediateWriteLimit: 3000)
        let payload = [UInt8](repeating: 1, count: 100)
        for i in 0..<700 { try await client.publish(payload, to: "burst.\(i)") }
        try await expectPubs(from: server, 700, payload: payload)
        async let flushed: Void = client.flush()
        #expect(try await server.nextOp() == .ping)
        try await server.send("PONG\r\n")
        try await flushed
        for i in 0..<700 { try await client.publish(payload, to: "burst.\(i)") }
        try await expectPubs(from: server, 700, payload: payload)
        #expect(client.connection.state.withLock { $0.publisherSends } > 0)
        await client.close()
    }

    /// A request's PUB, while the writer's timer runs for a publisher in a loop, reaches the
    /// server among the published messages and its reply comes back.
    @Test func aRequestAmongABurstIsAnswered() async throws {
        let (client, server) = try await timedPair(immediateWriteLimit: .max)
        let payload = [UInt8](repeating: 2, count: 16)
        // A long timeout: the test is about the request reaching the server and being answered,
        // and a loaded machine can hold the request's task back for seconds.
        async let answer = client.request("ping", to: "svc", timeout: .seconds(30))
        for i in 0..<100 { try await client.publish(payload, to: "burst.\(i)") }
        var reply: String?
        var pubs = 0
        while reply == nil || pubs < 100 {
            switch try await server.nextOp() {
            case .sub?: continue
            case .pub(let subject, let r, _)? where subject == "svc": reply = r
            case .pub?: pubs += 1
            case let other: Issue.record("unexpected \(String(describing: other))"); return
            }
        }
        let sid = 1
        try await server.send("MSG \(reply ?? "") \(sid) 4\r\npong\r\n")
        #expect(try await answer.string == "pong")
        await client.close()
    }

    @Test func maxPayloadIsCheckedBeforeAnythingIsWritten() async throws {
        let (client, server, _, _) = try await connectedPair(info: #""max_payload":16"#)
        try await client.publish([UInt8](repeating: 1, count: 16), to: "ok")
        await #expect(throws: NATSError.self) { try await client.publish([UInt8](repeating: 1, count: 17), to: "big") }
        var h = NATSHeaders()
        h["A"] = "b"
        do {
            try await client.publish([UInt8](repeating: 1, count: 1), to: "big", headers: h)
            Issue.record("expected maxPayloadExceeded")
        } catch {
            #expect(error.kind == .maxPayloadExceeded)
        }
        try await client.publish("next", to: "after")
        #expect(try await server.nextOp() == .pub(subject: "ok", reply: nil, payload: [UInt8](repeating: 1, count: 16)))
        #expect(try await server.nextOp() == .pub(subject: "after", reply: nil, payload: Array("next".utf8)))
        #expect(client.isConnected)
        await client.close()
    }

    @Test func subjectValidation() async throws {
        let (client, _, _, _) = try await connectedPair()
        await #expect(throws: NATSError.self) { try await client.publish("x", to: "bad subject") }
        await #expect(throws: NATSError.self) { try await client.subscribe(to: "a..b") }
        await #expect(throws: NATSError.self) { try await client.subscribe(to: "ok", queue: "") }
        await client.close()
        let (lenient, server, _, _) = try await connectedPair(ConnectOptions().skipSubjectValidation())
        try await lenient.publish("x", to: "a..b")
        #expect(try await server.nextOp() == .pub(subject: "a..b", reply: nil, payload: Array("x".utf8)))
        await lenient.close()
    }

    @Test func subscribeReceivesAndLeavingTheLoopUnsubscribes() async throws {
        let (client, server, _, _) = try await connectedPair()
        let sub = try await client.subscribe(to: "foo.*", queue: "q")
        guard case .sub(let subject, let queue, let sid)? = try await server.nextOp() else { Issue.record(); return }
        #expect(subject == "foo.*" && queue == "q" && sid == sub.sid)
        try await server.send("MSG foo.a \(sid) reply.x 5\r\nhello\r\nHMSG foo.b \(sid) 18 20\r\nNATS/1.0\r\nA: 1\r\n\r\nhi\r\n")
        var got: [NATSMessage] = []
        for try await m in sub {
            got.append(m)
            if got.count == 2 { break }
        }
        #expect(got[0].subject == "foo.a" && got[0].replyTo == "reply.x" && got[0].string == "hello")
        #expect(got[1].headers?["A"] == "1" && got[1].string == "hi")
        #expect(try await server.nextOp() == .unsub(sid: sid, max: nil))
        await client.close()
    }

    @Test func interleavedMessagesReachTheirOwnSubscriptionAndNoneAfterUnsubscribe() async throws {
        let (client, server, _, _) = try await connectedPair()
        let a = try await client.subscribe(to: "a")
        let b = try await client.subscribe(to: "b")
        _ = try await server.nextOp()
        _ = try await server.nextOp()
        try await server.send("MSG a \(a.sid) 2\r\na1\r\nMSG a \(a.sid) 2\r\na2\r\nMSG b \(b.sid) 2\r\nb1\r\nMSG a \(a.sid) 2\r\na3\r\n")
        var inA = a.makeAsyncIterator()
        var inB = b.makeAsyncIterator()
        var gotA: [String] = []
        for _ in 0..<3 { gotA.append(try await inA.next()?.string ?? "end") }
        #expect(gotA == ["a1", "a2", "a3"])
        #expect(try await inB.next()?.string == "b1")
        try await a.unsubscribe()
        #expect(try await server.nextOp() == .unsub(sid: a.sid, max: nil))
        // One more for `a` was already on its way: it is not delivered; `b` still gets its own.
        try await server.send("MSG a \(a.sid) 2\r\na4\r\nMSG b \(b.sid) 2\r\nb2\r\n")
        #expect(try await inB.next()?.string == "b2")
        #expect(try await inA.next() == nil)
        #expect(a.pendingMessages == 0)
        await client.close()
    }

    @Test func cancellingTheIteratingTaskUnsubscribes() async throws {
        let (client, server, _, _) = try await connectedPair()
        let sub = try await client.subscribe(to: "foo")
        _ = try await server.nextOp()
        let task = Task { for try await _ in sub {} }
        try await Task.sleep(for: .milliseconds(20))
        task.cancel()
        _ = try? await task.value
        #expect(try await server.nextOp() == .unsub(sid: sub.sid, max: nil))
        await client.close()
    }

    @Test func unsubscribeAfterCount() async throws {
        let (client, server, _, _) = try await connectedPair()
        let sub = try await client.subscribe(to: "foo")
        _ = try await server.nextOp()
        try await sub.unsubscribe(after: 2)
        #expect(try await server.nextOp() == .unsub(sid: sub.sid, max: 2))
        try await server.send("MSG foo \(sub.sid) 1\r\na\r\nMSG foo \(sub.sid) 1\r\nb\r\nMSG foo \(sub.sid) 1\r\nc\r\n")
        var count = 0
        for try await _ in sub { count += 1 }
        #expect(count == 2)
        await client.close()
    }

    @Test func serverPingIsAnswered() async throws {
        let (client, server, _, _) = try await connectedPair()
        try await server.send("PING\r\n")
        #expect(try await server.nextOp() == .pong)
        await client.close()
    }

    @Test func flushIsAPingPongRoundTrip() async throws {
        let (client, server, _, _) = try await connectedPair()
        try await client.publish("a", to: "s")
        async let flushed: Void = client.flush()
        #expect(try await server.nextOp() == .pub(subject: "s", reply: nil, payload: Array("a".utf8)))
        #expect(try await server.nextOp() == .ping)
        try await server.send("PONG\r\n")
        try await flushed
        await client.close()
    }

    @Test func requestReplyAndNoResponders() async throws {
        let (client, server, _, _) = try await connectedPair()
        async let reply = client.request("ping", to: "svc")
        guard case .sub(let inbox, nil, let sid)? = try await server.nextOp() else { Issue.record(); return }
        #expect(inbox.hasPrefix("_INBOX.") && inbox.hasSuffix(".*"))
        guard case .pub("svc", let replyTo?, _)? = try await server.nextOp() else { Issue.record(); return }
        try await server.send("MSG \(replyTo) \(sid) 4\r\npong\r\n")
        #expect(try await reply.string == "pong")

        async let second = client.request("x", to: "nobody")
        guard case .pub("nobody", let replyTo2?, _)? = try await server.nextOp() else { Issue.record(); return }
        let status = "NATS/1.0 503\r\n\r\n"
        try await server.send("HMSG \(replyTo2) \(sid) \(status.utf8.count) \(status.utf8.count)\r\n\(status)\r\n")
        do {
            _ = try await second
            Issue.record("expected noResponders")
        } catch {
            #expect((error as? NATSError)?.kind == .noResponders)
        }
        await client.close()
    }

    @Test func requestTimesOutAndCanBeCancelled() async throws {
        let (client, _, _, _) = try await connectedPair()
        let start = ContinuousClock.now
        do {
            _ = try await client.request("x", to: "slow", timeout: .milliseconds(100))
            Issue.record("expected timeout")
        } catch {
            #expect(error.kind == .timeout)
        }
        #expect(ContinuousClock.now - start < .seconds(2))
        let task = Task { try await client.request("x", to: "slow", timeout: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(20))
        task.cancel()
        do {
            _ = try await task.value
            Issue.record("expected cancellation")
        } catch let error as NATSError {
            #expect(error.kind == .cancelled)
        }
        await client.close()
    }

    @Test func aShorterTimeoutFiresWhileALongerRequestWaits() async throws {
        let (client, _, _, _) = try await connectedPair()
        let long = Task { try await client.request("a", to: "slow", timeout: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(20))
        let start = ContinuousClock.now
        do {
            _ = try await client.request("b", to: "slow", timeout: .milliseconds(100))
            Issue.record("expected timeout")
        } catch {
            #expect(error.kind == .timeout)
        }
        #expect(ContinuousClock.now - start < .seconds(2))
        let many = try await withThrowingTaskGroup(of: NATSError.Kind?.self) { group in
            for i in 0..<50 {
                group.addTask {
                    do { _ = try await client.request("\(i)", to: "slow", timeout: .milliseconds(50 + i)); return nil } catch { return (error as? NATSError)?.kind }
                }
            }
            var kinds: [NATSError.Kind?] = []
            for try await k in group { kinds.append(k) }
            return kinds
        }
        #expect(many.allSatisfy { $0 == .timeout })
        long.cancel()
        await client.close()
    }

    @Test func permissionsViolationIsAnEventAndTheConnectionStays() async throws {
        let log = EventLog()
        let (client, server, _, _) = try await connectedPair(ConnectOptions().eventHandler(log.handler))
        try await server.send("-ERR 'Permissions Violation for Publish to \"secret\"'\r\n")
        #expect(await log.waitFor("server error: permissions-violation"))
        try await client.publish("x", to: "ok")
        #expect(try await server.nextOp() == .pub(subject: "ok", reply: nil, payload: Array("x".utf8)))
        #expect(client.isConnected)
        await client.close()
    }

    @Test func slowConsumerDropsAndReportsOncePerEpisode() async throws {
        let log = EventLog()
        var options = ConnectOptions().eventHandler(log.handler)
        options.subscriptionPendingMessages = 2
        let (client, server, _, _) = try await connectedPair(options)
        let sub = try await client.subscribe(to: "fast")
        _ = try await server.nextOp()
        for i in 0..<6 { try await server.send("MSG fast \(sub.sid) 1\r\n\(i)\r\n") }
        try await server.send("PING\r\n")
        #expect(try await server.nextOp() == .pong)
        #expect(sub.droppedMessages == 4)
        #expect(log.all.filter { $0.hasPrefix("slow consumer") }.count == 1)
        await client.close()
    }

    @Test func pendingLimitsApplyPerMessageWithinOneRead() async throws {
        let log = EventLog()
        var options = ConnectOptions().eventHandler(log.handler)
        options.subscriptionPendingMessages = 3
        options.subscriptionPendingBytes = 5
        let (client, server, _, _) = try await connectedPair(options)
        let sub = try await client.subscribe(to: "burst")
        _ = try await server.nextOp()
        func burst(_ payloads: [String]) -> String {
            payloads.map { "MSG burst \(sub.sid) \($0.utf8.count)\r\n\($0)\r\n" }.joined() + "PING\r\n"
        }
        // One read: 2 + 2 bytes fit, 3 more would pass the byte limit, 1 more fits again.
        try await server.send(burst(["aa", "bb", "ccc", "d"]))
        #expect(try await server.nextOp() == .pong)
        #expect(sub.droppedMessages == 1 && sub.pendingMessages == 3)
        var messages = sub.makeAsyncIterator()
        var got: [String] = []
        for _ in 0..<3 { got.append(try await messages.next()?.string ?? "end") }
        #expect(got == ["aa", "bb", "d"])
        // A second episode in one read: three fit, two are dropped, one more event.
        try await server.send(burst(["1", "2", "3", "4", "5"]))
        #expect(try await server.nextOp() == .pong)
        #expect(sub.droppedMessages == 3 && sub.pendingMessages == 3)
        got = []
        for _ in 0..<3 { got.append(try await messages.next()?.string ?? "end") }
        #expect(got == ["1", "2", "3"])
        #expect(log.all.filter { $0.hasPrefix("slow consumer") }.count == 2)
        await client.close()
    }

    @Test func authorizationViolationFailsAtOnceWithoutRetry() async throws {
        let cluster = FakeCluster()
        let options = ConnectOptions().dialer(cluster.dialer).with { $0.reconnect.retryOnFailedConnect = true }
        async let client = NATSClient.connect("nats://fake:4222", options: options)
        let server = await cluster.next()
        try await server.sendInfo()
        _ = try await server.nextOp()
        _ = try await server.nextOp()
        try await server.send("-ERR 'Authorization Violation'\r\n")
        do {
            _ = try await client
            Issue.record("expected authorizationViolation")
        } catch {
            #expect((error as? NATSError)?.kind == .authorizationViolation)
        }
        #expect(cluster.unclaimedCount == 0)
    }

    @Test func handshakeTimesOutWhenNoInfoComes() async throws {
        let cluster = FakeCluster()
        let options = ConnectOptions().dialer(cluster.dialer).connectionTimeout(.milliseconds(200))
        let start = ContinuousClock.now
        do {
            _ = try await NATSClient.connect("nats://silent:4222", options: options)
            Issue.record("expected timeout")
        } catch {
            #expect(error.kind == .timeout)
        }
        #expect(ContinuousClock.now - start < .seconds(3))
    }

    @Test func requiredTLSAgainstAPlaintextServerSendsNothing() async throws {
        let cluster = FakeCluster()
        let options = ConnectOptions().dialer(cluster.dialer).requireTLS()
        async let client = NATSClient.connect("nats://user:pw@fake:4222", options: options)
        let server = await cluster.next()
        try await server.sendInfo()
        do {
            _ = try await client
            Issue.record("expected secureConnectionRequired")
        } catch {
            #expect((error as? NATSError)?.kind == .secureConnectionRequired)
        }
        #expect(try await server.nextOp() == nil)
    }

    @Test func staleConnectionIsDetected() async throws {
        let log = EventLog()
        let options = ConnectOptions().pingInterval(.milliseconds(50)).eventHandler(log.handler).noReconnect()
            .with { $0.maxPingsOutstanding = 2 }
        let (client, server, _, _) = try await connectedPair(options)
        #expect(try await server.nextOp() == .ping)
        #expect(try await server.nextOp() == .ping)
        #expect(await log.waitFor("disconnected"))
        #expect(log.all.contains { $0.contains("stale connection") })
        #expect(await log.waitFor("closed"))
        #expect(client.isClosed)
    }

    @Test func reconnectResubscribesThenFlushesBufferedPublishes() async throws {
        let log = EventLog()
        let options = ConnectOptions().eventHandler(log.handler).with {
            $0.reconnect.wait = .milliseconds(10)
            $0.reconnect.jitter = .zero
        }
        let (client, server, cluster, _) = try await connectedPair(options)
        let sub = try await client.subscribe(to: "keep", queue: "g")
        #expect(try await server.nextOp() == .sub(subject: "keep", queue: "g", sid: sub.sid))
        await server.stream.close()
        #expect(await log.waitFor("disconnected"))
        try await client.publish("while-away", to: "buffered")
        let second = await cluster.next()
        try await second.acceptHandshake()
        #expect(try await second.nextOp() == .sub(subject: "keep", queue: "g", sid: sub.sid))
        #expect(try await second.nextOp() == .pub(subject: "buffered", reply: nil, payload: Array("while-away".utf8)))
        #expect(await log.waitFor("reconnected"))
        try await second.send("MSG keep \(sub.sid) 2\r\nok\r\n")
        var it = sub.makeAsyncIterator()
        #expect(try await it.next()?.string == "ok")
        await client.close()
    }

    @Test func drainDeliversBufferedMessagesThenCloses() async throws {
        let (client, server, _, _) = try await connectedPair()
        let sub = try await client.subscribe(to: "d")
        _ = try await server.nextOp()
        try await server.send("MSG d \(sub.sid) 1\r\n1\r\nMSG d \(sub.sid) 1\r\n2\r\n")
        let consumer = Task { () -> [String] in
            var got: [String] = []
            for try await m in sub { got.append(m.string) }
            return got
        }
        async let drained: Void = client.drain(timeout: .seconds(5))
        #expect(try await server.nextOp() == .unsub(sid: sub.sid, max: nil))
        #expect(try await server.nextOp() == .ping)
        try await server.send("MSG d \(sub.sid) 1\r\n3\r\nPONG\r\n")
        #expect(try await server.nextOp() == .ping)
        try await server.send("PONG\r\n")
        try await drained
        #expect(try await consumer.value == ["1", "2", "3"])
        #expect(client.isClosed)
    }

    @Test func invalidURLsAreConfigErrorsWithoutThePassword() async {
        do {
            _ = try await NATSClient.connect("nats://user:hunter2@host:99999")
            Issue.record("expected config error")
        } catch {
            #expect(error.kind == .config)
            #expect(!error.description.contains("hunter2"))
        }
        do {
            _ = try await NATSClient.connect(["nats://a:1", "ws://b:2"])
            Issue.record("expected config error")
        } catch {
            #expect(error.kind == .config)
        }
    }
}

@Suite(.timeLimit(.minutes(1))) struct DiscoveryTests {
    @Test func discoveredServersJoinThePoolUnlessIgnored() async throws {
        let log = EventLog()
        let (client, server, _, _) = try await connectedPair(ConnectOptions().eventHandler(log.handler))
        try await server.send("INFO {\"server_id\":\"X\",\"connect_urls\":[\"10.1.1.1:4222\",\"10.1.1.2:4222\"]}\r\n")
        #expect(await log.waitFor("discovered servers"))
        await client.close()

        let quiet = EventLog()
        let (other, server2, _, _) = try await connectedPair(ConnectOptions().eventHandler(quiet.handler).with { $0.reconnect.ignoreDiscoveredServers = true })
        try await server2.send("INFO {\"server_id\":\"X\",\"connect_urls\":[\"10.1.1.1:4222\"]}\r\nPING\r\n")
        #expect(try await server2.nextOp() == .pong)
        #expect(!quiet.all.contains { $0.hasPrefix("discovered") })
        await other.close()
    }

    @Test func discoveredIPServersAreVerifiedAgainstTheGivenHostName() throws {
        var rng = SystemRandomNumberGenerator()
        let given = try ServerURL("tls://nats.example.com:4222")
        var pool = ServerPool(urls: [given], shuffle: false, using: &rng)
        _ = pool.mergeDiscovered(["10.0.0.7:4222", "other.example.com:4222"], template: given, using: &rng, shuffle: false)
        let connection = Connection(options: ConnectOptions(), pool: pool, connector: Connector())
        #expect(connection.verifyHost(for: given) == "nats.example.com")
        #expect(connection.verifyHost(for: try ServerURL("tls://10.0.0.7:4222")) == "nats.example.com")
        #expect(connection.verifyHost(for: try ServerURL("tls://other.example.com:4222")) == "other.example.com")
        let ipOnly = ServerPool(urls: [try ServerURL("tls://127.0.0.1:4222")], shuffle: false, using: &rng)
        let direct = Connection(options: ConnectOptions(), pool: ipOnly, connector: Connector())
        #expect(direct.verifyHost(for: try ServerURL("tls://127.0.0.1:4222")) == "127.0.0.1")
    }
}
