import Foundation
import NATSClient
import NATSTestSupport
import Synchronization
import Testing

/// Iterates one subscription for the whole test (releasing an iterator unsubscribes), keeping
/// what arrived for assertions with bounded waits.
final class Collector: Sendable {
    private let task: Task<Void, Never>

    init(_ sub: NATSSubscription) {
        let box = Box()
        self.task = Task { [box] in
            do {
                for try await m in sub { box.append(m.string) }
            } catch {}
        }
        self.box = box
    }

    private let box: Box

    final class Box: Sendable {
        let items = Mutex<[String]>([])
        func append(_ s: String) { items.withLock { $0.append(s) } }
    }

    deinit { task.cancel() }

    var all: [String] { box.items.withLock { $0 } }
    /// Everything but the interest probes.
    var payloads: [String] { all.filter { $0 != "probe" } }

    /// Waits until `predicate` holds for what arrived, or `timeout` passes.
    func wait(timeout: Duration = .seconds(15), until predicate: ([String]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if predicate(all) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return predicate(all)
    }

    func waitForPayloads(_ count: Int, timeout: Duration = .seconds(15)) async -> [String] {
        _ = await wait(timeout: timeout) { $0.filter { $0 != "probe" }.count >= count }
        return payloads
    }
}

/// Publishes probes on `subject` until `collector` sees one: the subscription's interest has
/// reached the publisher's server through the cluster's routes.
func awaitInterest(_ publisher: NATSClient, _ subject: String, _ collector: Collector, timeout: Duration = .seconds(10)) async throws {
    let deadline = ContinuousClock.now + timeout
    let before = collector.all.filter { $0 == "probe" }.count
    while ContinuousClock.now < deadline {
        try await publisher.publish("probe", to: subject)
        try await publisher.flush()
        if await collector.wait(timeout: .milliseconds(200), until: { $0.filter { $0 == "probe" }.count > before }) { return }
    }
    throw CollectTimeout(expected: 1)
}

func fastReconnect(_ events: Events) -> ConnectOptions {
    ConnectOptions().eventHandler(events.handler).with {
        $0.reconnect.wait = .milliseconds(50)
        $0.reconnect.jitter = .zero
        $0.reconnect.jitterTLS = .zero
    }
}

func isReconnected(_ e: NATSEvent) -> Bool { if case .reconnected = e { return true } else { return false } }

@Suite(.timeLimit(.minutes(2))) struct ClusterTests {
    @Test func failoverThroughDiscoveredServersKeepsSubscriptions() async throws {
        try await withNATSCluster { cluster in
            let a = cluster.servers[0], c = cluster.servers[2]
            let events = Events()
            let client = try await fastReconnect(events).connect(a.clientURL)
            let plain = Collector(try await client.subscribe(to: "fo.plain"))
            let queued = Collector(try await client.subscribe(to: "fo.queue", queue: "workers"))
            try await client.flush()
            let discovered = await events.wait { if case .discoveredServers = $0 { return true } else { return false } }
            #expect(discovered != nil)
            let publisher = try await NATSClient.connect(c.clientURL)
            try await awaitInterest(publisher, "fo.plain", plain)

            let killed = ContinuousClock.now
            a.kill()
            let back = await events.wait(timeout: .seconds(10), until: isReconnected)
            #expect(back != nil)
            #expect(ContinuousClock.now - killed < .seconds(3))
            #expect(client.connectedServer?.contains(":\(a.port)") == false)

            try await awaitInterest(publisher, "fo.plain", plain)
            try await awaitInterest(publisher, "fo.queue", queued)
            for i in 0..<50 {
                try await publisher.publish("p\(i)", to: "fo.plain")
                try await publisher.publish("q\(i)", to: "fo.queue")
            }
            try await publisher.flush()
            #expect(await plain.waitForPayloads(50) == (0..<50).map { "p\($0)" })
            #expect(await queued.waitForPayloads(50) == (0..<50).map { "q\($0)" })
            await publisher.close()
            await client.close()
        }
    }

    @Test func publishesWhileDisconnectedArriveInOrder() async throws {
        try await withNATSCluster { cluster in
            let a = cluster.servers[0], b = cluster.servers[1]
            let subscriber = try await NATSClient.connect(b.clientURL)
            let sub = Collector(try await subscriber.subscribe(to: "buffered"))
            try await subscriber.flush()
            let events = Events()
            let publisher = try await fastReconnect(events).connect(a.clientURL)
            try await awaitInterest(publisher, "buffered", sub)

            a.kill()
            let down = await events.wait { if case .disconnected = $0 { return true } else { return false } }
            #expect(down != nil)
            let count = 500
            for i in 0..<count { try await publisher.publish("m\(i)", to: "buffered") }
            #expect(await events.wait(until: isReconnected) != nil)
            try await publisher.flush()
            #expect(await sub.waitForPayloads(count) == (0..<count).map { "m\($0)" })
            await publisher.close()
            await subscriber.close()
        }
    }

    @Test func serverRestartedOnTheSamePort() async throws {
        try await withNATSServer { server in
            let calls = Mutex(0)
            let events = Events()
            let options = fastReconnect(events).authCallback { _ in
                calls.withLock { $0 += 1 }
                return Auth()
            }
            let client = try await options.connect(server.clientURL)
            let sub = Collector(try await client.subscribe(to: "restart"))
            try await client.flush()
            try await server.restart()
            #expect(await events.wait(until: isReconnected) != nil)
            #expect(calls.withLock { $0 } >= 2)
            try await client.publish("after", to: "restart")
            #expect(await sub.waitForPayloads(1) == ["after"])
            await client.close()
        }
    }

    @Test func lameDuckMigrationLosesNothing() async throws {
        try await withNATSCluster { cluster in
            let a = cluster.servers[0]
            let subEvents = Events(), pubEvents = Events()
            func migrating(_ events: Events) -> ConnectOptions {
                fastReconnect(events).with {
                    $0.reconnect.migrateOnLameDuck = true
                    $0.reconnect.lameDuckMigrationWindow = .milliseconds(200)
                }
            }
            let subscriber = try await migrating(subEvents).connect(a.clientURL)
            let sub = Collector(try await subscriber.subscribe(to: "ldm.data"))
            try await subscriber.flush()
            let publisher = try await migrating(pubEvents).connect(a.clientURL)
            try await awaitInterest(publisher, "ldm.data", sub)

            let total = 1500
            for i in 0..<total {
                if i == 300 { try a.enterLameDuckMode() }
                try await publisher.publish("\(i)", to: "ldm.data")
                if i % 10 == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
            try await publisher.flush()
            #expect(await subEvents.wait { if case .lameDuckMode = $0 { return true } else { return false } } != nil)
            #expect(await subEvents.wait(until: isReconnected) != nil)
            #expect(await pubEvents.wait(until: isReconnected) != nil)
            _ = await sub.wait { Set($0).subtracting(["probe"]).count >= total }
            let seen = Set(sub.payloads)
            #expect(seen.count == total, "missing: \(Set((0..<total).map(String.init)).subtracting(seen).sorted().prefix(20))")
            #expect(subscriber.connectedServer?.contains(":\(a.port)") == false)
            await publisher.close()
            await subscriber.close()
        }
    }

    @Test func maxReconnectsExhaustedClosesWithThatReason() async throws {
        let server = try await NATSServer.start()
        let events = Events()
        let options = fastReconnect(events).with { $0.reconnect.maxAttemptsPerServer = 2 }
        let client = try await options.connect(server.clientURL)
        await server.stop()
        let closed = await events.wait { if case .closed = $0 { return true } else { return false } }
        guard case .closed(let reason)? = closed else { Issue.record("no closed event"); return }
        #expect(reason?.kind == .connection)
        #expect(reason?.message.contains("maxReconnects") == true)
        #expect(events.count { if case .reconnecting = $0 { return true } else { return false } } == 2)
        #expect(client.isClosed)
    }

    @Test func reconnectBufferOverflowIsAnError() async throws {
        try await withNATSServer { server in
            let events = Events()
            let options = fastReconnect(events).with {
                $0.reconnect.bufferSize = 1000
                $0.reconnect.wait = .seconds(30)
            }
            let client = try await options.connect(server.clientURL)
            await server.stop()
            #expect(await events.wait { if case .disconnected = $0 { return true } else { return false } } != nil)
            var accepted = 0
            do {
                for _ in 0..<100 {
                    try await client.publish([UInt8](repeating: 0, count: 100), to: "overflow")
                    accepted += 1
                }
                Issue.record("expected reconnectBufferExceeded")
            } catch {
                #expect((error as? NATSError)?.kind == .reconnectBufferExceeded)
            }
            #expect(accepted > 0 && accepted < 10)
            await client.close()
        }
    }
}

@Suite(.timeLimit(.minutes(2))) struct ReconnectOptionTests {
    @Test func retryOnFailedConnectKeepsTryingUntilTheServerIsUp() async throws {
        let server = try await NATSServer.start()
        await server.stop()
        let events = Events()
        let options = fastReconnect(events).with { $0.reconnect.retryOnFailedConnect = true }
        let client = try await options.connect(server.clientURL)
        #expect(!client.isConnected)
        let sub = Collector(try await client.subscribe(to: "early"))
        try await client.publish("queued before the server existed", to: "early")
        try await server.restart()
        #expect(await events.wait(until: isReconnected) != nil)
        #expect(await sub.waitForPayloads(1) == ["queued before the server existed"])
        #expect(client.isConnected)
        await client.close()
        await server.stop()
    }

    @Test func forceReconnectComesBack() async throws {
        try await withNATSServer { server in
            let events = Events()
            let client = try await fastReconnect(events).connect(server.clientURL)
            let sub = Collector(try await client.subscribe(to: "forced"))
            try await client.flush()
            await client.forceReconnect()
            #expect(await events.wait(until: isReconnected) != nil)
            try await client.publish("still here", to: "forced")
            #expect(await sub.waitForPayloads(1) == ["still here"])
            await client.close()
        }
    }
}
