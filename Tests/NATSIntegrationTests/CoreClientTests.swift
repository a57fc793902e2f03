import Foundation
import NATSClient
import NATSTestSupport
import NATSTransport
import NATSWire
import NIOCore
import Synchronization
import Testing

/// Collects events for assertions, with a bounded wait.
final class Events: Sendable {
    private let list = Mutex<[NATSEvent]>([])
    var handler: @Sendable (NATSEvent) -> Void { { [self] e in list.withLock { $0.append(e) } } }
    var all: [NATSEvent] { list.withLock { $0 } }

    func wait(timeout: Duration = .seconds(10), until predicate: (NATSEvent) -> Bool) async -> NATSEvent? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let e = all.first(where: predicate) { return e }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    func count(where predicate: (NATSEvent) -> Bool) -> Int { all.filter(predicate).count }
}

/// Receives `count` messages or fails after `timeout`.
func collect(_ sub: NATSSubscription, count: Int, timeout: Duration = .seconds(10)) async throws -> [NATSMessage] {
    try await withThrowingTaskGroup(of: [NATSMessage]?.self) { group in
        group.addTask {
            var got: [NATSMessage] = []
            var it = sub.makeAsyncIterator()
            while got.count < count, let m = try await it.next() { got.append(m) }
            return got
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        guard let first else { throw CollectTimeout(expected: count) }
        return first
    }
}

struct CollectTimeout: Error, CustomStringConvertible {
    let expected: Int
    var description: String { "did not receive \(expected) messages in time" }
}

@Suite(.timeLimit(.minutes(2))) struct WireAgainstServerTests {
    @Test func rawHandshakeWithNATSWire() async throws {
        try await withNATSServer { server in
            let stream = try await TCPDialer().dial(server.address, timeout: .seconds(5))
            var parser = ServerOpParser()
            func nextOp() async throws -> ServerOp {
                while true {
                    if let op = try parser.next() { return op }
                    guard let chunk = try await stream.read() else { throw CollectTimeout(expected: 1) }
                    parser.append(chunk)
                }
            }
            guard case .info(let info) = try await nextOp() else { Issue.record("no INFO"); return }
            #expect(!info.serverID.isEmpty)
            #expect(info.headers)
            var out = ByteBuffer()
            ClientOpEncoder.writeConnect(ConnectInfo(), to: &out)
            ClientOpEncoder.writePing(to: &out)
            try await stream.write(out)
            #expect(try await nextOp() == .pong)
            await stream.close()
        }
    }
}

@Suite(.timeLimit(.minutes(2))) struct CoreClientTests {
    @Test(arguments: [0, 1, 1024, 64 * 1024, 1024 * 1024 - 200])
    func pubSubRoundTrip(size: Int) async throws {
        try await withNATSServer { server in
            let client = try await NATSClient.connect(server.clientURL)
            let sub = try await client.subscribe(to: "rt.>")
            try await client.flush()
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try await client.publish(payload, to: "rt.x", reply: "answer.here")
            let got = try await collect(sub, count: 1)
            #expect(got[0].subject == "rt.x")
            #expect(got[0].replyTo == "answer.here")
            #expect(got[0].bytes == payload)
            await client.close()
        }
    }

    @Test func queueGroupsSpreadMessages() async throws {
        try await withNATSServer { server in
            let client = try await NATSClient.connect(server.clientURL)
            let a = try await client.subscribe(to: "work", queue: "workers")
            let b = try await client.subscribe(to: "work", queue: "workers")
            try await client.flush()
            let publisher = try await NATSClient.connect(server.clientURL)
            for i in 0..<200 { try await publisher.publish("\(i)", to: "work") }
            try await publisher.flush()
            try await client.flush()
            let total = a.pendingMessages + b.pendingMessages
            #expect(total == 200)
            #expect(a.pendingMessages > 0 && b.pendingMessages > 0)
            await publisher.close()
            await client.close()
        }
    }

    @Test func requestReplyAndNoResponders() async throws {
        try await withNATSServer { server in
            let service = try await NATSClient.connect(server.clientURL)
            let requests = try await service.subscribe(to: "svc.echo")
            try await service.flush()
            let responder = Task {
                for try await m in requests {
                    guard let reply = m.replyTo else { continue }
                    var h = NATSHeaders()
                    h["Echo"] = m.headers?["In"] ?? "none"
                    try await service.publish(m.payload, to: reply, headers: h)
                }
            }
            let client = try await NATSClient.connect(server.clientURL)
            var h = NATSHeaders()
            h["In"] = "x"
            let reply = try await client.request("hi", to: "svc.echo", headers: h, timeout: .seconds(5))
            #expect(reply.string == "hi")
            #expect(reply.headers?["Echo"] == "x")
            for i in 0..<20 {
                #expect(try await client.request("\(i)", to: "svc.echo", timeout: .seconds(5)).string == "\(i)")
            }
            let start = ContinuousClock.now
            do {
                _ = try await client.request("x", to: "nobody.home", timeout: .seconds(5))
                Issue.record("expected no responders")
            } catch {
                #expect((error as? NATSError)?.kind == .noResponders)
            }
            #expect(ContinuousClock.now - start < .seconds(2))
            responder.cancel()
            await client.close()
            await service.close()
        }
    }

    /// `respond(to:with:)` answers on the request's reply subject (with headers, and with
    /// every payload type); a message that was not a request cannot be answered.
    @Test func respondAnswersRequests() async throws {
        try await withNATSServer { server in
            let service = try await NATSClient.connect(server.clientURL)
            let requests = try await service.subscribe(to: "svc.respond")
            try await service.flush()
            let responder = Task {
                for try await m in requests {
                    switch m.string {
                    case "bytes": try await service.respond(to: m, with: [UInt8]("b".utf8))
                    case "string": try await service.respond(to: m, with: "s")
                    default:
                        var h = NATSHeaders()
                        h["Seen"] = m.string
                        try await service.respond(to: m, with: m.payload, headers: h)
                    }
                }
            }
            let client = try await NATSClient.connect(server.clientURL)
            let echoed = try await client.request("hi", to: "svc.respond", timeout: .seconds(5))
            #expect(echoed.string == "hi")
            #expect(echoed.headers?["Seen"] == "hi")
            #expect(try await client.request("bytes", to: "svc.respond", timeout: .seconds(5)).string == "b")
            #expect(try await client.request("string", to: "svc.respond", timeout: .seconds(5)).string == "s")

            let plain = try await client.subscribe(to: "plain")
            try await client.flush()
            try await client.publish("no reply", to: "plain")
            var iterator = plain.makeAsyncIterator()
            let message = try #require(try await iterator.next())
            #expect(!message.hasReply)
            let error = await #expect(throws: NATSError.self) { try await client.respond(to: message, with: "x") }
            #expect(error?.kind == .invalidSubject)
            responder.cancel()
            await client.close()
            await service.close()
        }
    }

    /// A request handler in a task that prefers the client's executor (its event loop)
    /// answers like any other; the executor is gone once the client is closed.
    @Test func handlerOnThePreferredExecutor() async throws {
        try await withNATSServer { server in
            let service = try await NATSClient.connect(server.clientURL)
            let requests = try await service.subscribe(to: "svc.loop")
            try await service.flush()
            let executor = try #require(service.preferredExecutor)
            let responder = Task(executorPreference: executor) {
                for try await m in requests { try await service.respond(to: m, with: m.payload) }
            }
            let client = try await NATSClient.connect(server.clientURL)
            for i in 0..<50 {
                #expect(try await client.request("\(i)", to: "svc.loop", timeout: .seconds(5)).string == "\(i)")
            }
            responder.cancel()
            await client.close()
            await service.close()
            #expect(service.preferredExecutor == nil)
        }
    }

    /// A requester whose event loop polls before it sleeps (`TCPDialer.busyPoll`), sending
    /// from that loop as the option's documentation suggests, gets every answer, in order.
    @Test func busyPollingRequester() async throws {
        try await withNATSServer { server in
            let service = try await NATSClient.connect(server.clientURL)
            let requests = try await service.subscribe(to: "svc.poll")
            try await service.flush()
            let responder = Task {
                for try await m in requests { try await service.respond(to: m, with: m.payload) }
            }
            let options = ConnectOptions().dialer(TCPDialer(busyPoll: .microseconds(200)))
            let client = try await NATSClient.connect(server.clientURL, options: options)
            let executor = try #require(client.preferredExecutor)
            let answers = try await Task(executorPreference: executor) { () throws -> [String] in
                var answers: [String] = []
                for i in 0..<200 {
                    answers.append(try await client.request("\(i)", to: "svc.poll", timeout: .seconds(5)).string)
                }
                return answers
            }.value
            #expect(answers == (0..<200).map { "\($0)" })
            responder.cancel()
            await client.close()
            await service.close()
        }
    }

    @Test func headersRoundTrip() async throws {
        try await withNATSServer { server in
            let client = try await NATSClient.connect(server.clientURL)
            let sub = try await client.subscribe(to: "h")
            try await client.flush()
            var h = NATSHeaders()
            h.append("1", for: "Multi")
            h.append("2", for: "Multi")
            h["Single"] = "value with spaces"
            h.status = 409
            h.statusDescription = "Custom Status"
            try await client.publish("body", to: "h", headers: h)
            let got = try await collect(sub, count: 1)
            #expect(got[0].headers?.values(for: "Multi") == ["1", "2"])
            #expect(got[0].headers?["Single"] == "value with spaces")
            #expect(got[0].status == 409)
            #expect(got[0].headers?.statusDescription == "Custom Status")
            #expect(got[0].string == "body")
            await client.close()
        }
    }

    @Test func flushMeansTheServerHasEverything() async throws {
        try await withNATSServer { server in
            let receiver = try await NATSClient.connect(server.clientURL)
            let sub = try await receiver.subscribe(to: "f")
            try await receiver.flush()
            let sender = try await NATSClient.connect(server.clientURL)
            for i in 0..<1000 { try await sender.publish("\(i)", to: "f") }
            try await sender.flush()
            // The server has routed all 1000 once the sender's flush returns; the
            // receiver's own flush then returns after they were delivered to it.
            try await receiver.flush()
            #expect(sub.pendingMessages == 1000)
            await sender.close()
            await receiver.close()
        }
    }

    @Test func drainDeliversEverythingInFlight() async throws {
        try await withNATSServer { server in
            let receiver = try await NATSClient.connect(server.clientURL)
            let sub = try await receiver.subscribe(to: "d")
            try await receiver.flush()
            let consumer = Task { () -> Int in
                var n = 0
                for try await _ in sub { n += 1 }
                return n
            }
            let sender = try await NATSClient.connect(server.clientURL)
            for i in 0..<5000 { try await sender.publish("\(i)", to: "d") }
            try await sender.flush()
            try await receiver.drain()
            #expect(try await consumer.value == 5000)
            #expect(receiver.isClosed)
            await sender.close()
        }
    }

    @Test func maxPayloadBoundary() async throws {
        try await withNATSServer(config: "max_payload: 1024") { server in
            let client = try await NATSClient.connect(server.clientURL)
            #expect(client.serverInfo?.maxPayload == 1024)
            let sub = try await client.subscribe(to: "mp")
            try await client.flush()
            try await client.publish([UInt8](repeating: 7, count: 1024), to: "mp")
            do {
                try await client.publish([UInt8](repeating: 7, count: 1025), to: "mp")
                Issue.record("expected maxPayloadExceeded")
            } catch {
                #expect((error as? NATSError)?.kind == .maxPayloadExceeded)
            }
            var h = NATSHeaders()
            h["K"] = "v"
            let room = 1024 - h.wireLength
            try await client.publish([UInt8](repeating: 1, count: room), to: "mp", headers: h)
            do {
                try await client.publish([UInt8](repeating: 1, count: room + 1), to: "mp", headers: h)
                Issue.record("expected maxPayloadExceeded with headers")
            } catch {
                #expect((error as? NATSError)?.kind == .maxPayloadExceeded)
            }
            let got = try await collect(sub, count: 2)
            #expect(got[0].payload.readableBytes == 1024)
            #expect(got[1].payload.readableBytes == room)
            try await client.flush()
            #expect(client.isConnected)
            await client.close()
        }
    }

    @Test func noEcho() async throws {
        try await withNATSServer { server in
            let quiet = try await ConnectOptions().noEcho().connect(server.clientURL)
            let other = try await NATSClient.connect(server.clientURL)
            let mine = try await quiet.subscribe(to: "echo")
            let theirs = try await other.subscribe(to: "echo")
            try await quiet.flush()
            try await other.flush()
            try await quiet.publish("from quiet", to: "echo")
            try await quiet.flush()
            let got = try await collect(theirs, count: 1)
            #expect(got[0].string == "from quiet")
            try await quiet.flush()
            #expect(mine.pendingMessages == 0)
            await quiet.close()
            await other.close()
        }
    }

    @Test func subjectValidationAgainstARealServer() async throws {
        try await withNATSServer { server in
            let client = try await NATSClient.connect(server.clientURL)
            do { try await client.publish("x", to: "has space"); Issue.record() } catch { #expect((error as? NATSError)?.kind == .invalidSubject) }
            do { _ = try await client.subscribe(to: "a..b"); Issue.record() } catch { #expect((error as? NATSError)?.kind == .invalidSubject) }
            do { _ = try await client.subscribe(to: "q", queue: ""); Issue.record() } catch { #expect((error as? NATSError)?.kind == .invalidSubject) }
            try await client.flush()
            #expect(client.isConnected)
            await client.close()
        }
    }

    /// Each publish form refuses an empty subject and whitespace in the subject or the reply,
    /// sending nothing; a subject with a control byte that is not whitespace takes the full
    /// check's way and arrives, and the connection stays up throughout.
    @Test func publishRefusesWhatBreaksFramingAndSendsTheRest() async throws {
        try await withNATSServer { server in
            let client = try await NATSClient.connect(server.clientURL)
            let all = try await client.subscribe(to: ">")
            try await client.flush()
            for (subject, reply) in [("has space", nil), ("", nil), ("tab\there", nil), ("crlf\r\nPUB x 1", nil),
                                     ("ok", "has space"), ("ok", "line\n")] as [(String, String?)] {
                let forms: [(String, () async throws -> Void)] = [
                    ("ByteBuffer", { try await client.publish(ByteBuffer(string: "x"), to: subject, reply: reply) }),
                    ("String", { try await client.publish("x", to: subject, reply: reply) }),
                    ("bytes", { try await client.publish([UInt8](repeating: 1, count: 3), to: subject, reply: reply) }),
                ]
                for (form, publish) in forms {
                    do {
                        try await publish()
                        Issue.record("\(form) to \(subject.debugDescription) reply \(String(describing: reply)) was sent")
                    } catch {
                        #expect((error as? NATSError)?.kind == .invalidSubject, "\(form): \(error)")
                    }
                }
            }
            let control = "ctl\u{01}x"
            try await client.publish("a", to: control)
            try await client.publish("b", to: control, reply: "r\u{7F}")
            try await client.publish([UInt8](repeating: 0x63, count: 1), to: control)
            try await client.publish("last", to: "done")
            let got = try await collect(all, count: 4).map { "\($0.subject) \($0.replyTo ?? "-") \($0.string)" }
            #expect(got == ["\(control) - a", "\(control) r\u{7F} b", "\(control) - c", "done - last"])
            #expect(client.isConnected)
            await client.close()
        }
    }

    @Test func permissionsViolationIsAnEvent() async throws {
        let config = """
        authorization {
          users = [ { user: limited, password: pw, permissions: { publish: { deny: ["secret.>"] } } } ]
        }
        """
        try await withNATSServer(config: config) { server in
            let events = Events()
            let url = server.clientURL.replacingOccurrences(of: "nats://", with: "nats://limited:pw@")
            let client = try await ConnectOptions().eventHandler(events.handler).connect(url)
            try await client.publish("x", to: "secret.plans")
            let e = await events.wait { if case .serverError(let err) = $0 { return err.kind == .permissionsViolation } else { return false } }
            #expect(e != nil)
            try await client.flush()
            #expect(client.isConnected)
            await client.close()
        }
    }

    @Test func closedPortFailsFast() async throws {
        try await LocalPorts.withRefusingPort { port in
            let start = ContinuousClock.now
            do throws(NATSError) {
                _ = try await NATSClient.connect("nats://127.0.0.1:\(port)")
                Issue.record("expected a connection error")
            } catch {
                #expect(error.kind == .connection)
            }
            #expect(ContinuousClock.now - start < .seconds(2))
        }
    }

    @Test func statisticsCount() async throws {
        try await withNATSServer { server in
            let client = try await NATSClient.connect(server.clientURL)
            let sub = try await client.subscribe(to: "s")
            for _ in 0..<10 { try await client.publish("12345", to: "s") }
            _ = try await collect(sub, count: 10)
            let stats = client.statistics
            #expect(stats.outMessages == 10 && stats.outBytes == 50)
            #expect(stats.inMessages == 10 && stats.inBytes == 50)
            await client.close()
        }
    }
}
