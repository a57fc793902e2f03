import NATSTestSupport
@testable import NATSTransport
import NIOCore
import Testing

@Suite(.timeLimit(.minutes(1)))
struct TCPStreamTests {
    private func dial(_ server: LocalTCPServer, limit: Int = 1 << 20) async throws -> TCPStream {
        try await TCPDialer(receiveBufferLimit: limit)
            .connect(ServerAddress(host: server.host, port: server.port), timeout: .seconds(5))
    }

    /// Reads until `count` bytes arrived or the stream ended.
    private func readBytes(_ stream: TCPStream, count: Int) async throws -> [UInt8] {
        var received: [UInt8] = []
        received.reserveCapacity(count)
        while received.count < count, let chunk = try await stream.read() {
            received.append(contentsOf: chunk.readableBytesView)
        }
        return received
    }

    @Test func echoesOneByte() async throws {
        let server = try await LocalTCPServer.start(.echo)
        let stream = try await dial(server)
        try await stream.write(ByteBuffer(bytes: [42]))
        let chunk = try #require(try await stream.read())
        #expect(Array(chunk.readableBytesView) == [42])
        await stream.close()
        await server.stop()
    }

    @Test(arguments: [1 << 20, 4096])
    func echoesOneMebibyte(receiveBufferLimit: Int) async throws {
        let server = try await LocalTCPServer.start(.echo)
        let stream = try await dial(server, limit: receiveBufferLimit)
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        let received = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            group.addTask { try await readBytes(stream, count: payload.count) }
            // Several writes, as the client's writer loop would do.
            for start in stride(from: 0, to: payload.count, by: 64 * 1024) {
                try await stream.write(ByteBuffer(bytes: payload[start..<min(start + 64 * 1024, payload.count)]))
            }
            return try await group.next() ?? []
        }
        #expect(received.count == payload.count)
        #expect(received == payload)
        await stream.close()
        await server.stop()
    }

    /// Writes from the event loop (the client's writer runs there) return once NIO took the
    /// bytes, and wait while the channel is over its high-water mark: 4 MiB in 256 KiB
    /// writes arrive whole and in order.
    @Test func writesFromTheEventLoopKeepOrderUnderBackpressure() async throws {
        let server = try await LocalTCPServer.start(.echo)
        let stream = try await dial(server)
        let total = 4 << 20
        let payload = (0..<total).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 12) }
        let executor = try #require(stream.preferredExecutor)
        let received = try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
            group.addTask { try await readBytes(stream, count: total) }
            group.addTask(executorPreference: executor) {
                for start in stride(from: 0, to: total, by: 256 * 1024) {
                    try await stream.write(ByteBuffer(bytes: payload[start..<start + 256 * 1024]))
                }
                return nil
            }
            var bytes: [UInt8] = []
            for try await result in group { if let result { bytes = result } }
            return bytes
        }
        #expect(received.count == total)
        #expect(received == payload)
        await stream.close()
        await server.stop()
    }

    /// A writer parked on the event loop because the peer reads nothing fails once the
    /// stream is closed, instead of waiting for ever.
    @Test func parkedWriterFailsWhenTheStreamCloses() async throws {
        let server = try await LocalTCPServer.start(.silent)
        let stream = try await dial(server)
        let executor = try #require(stream.preferredExecutor)
        let writer = Task(executorPreference: executor) { () -> (any Error)? in
            let chunk = ByteBuffer(repeating: 0x61, count: 1 << 20)
            do {
                for _ in 0..<1024 { try await stream.write(chunk) }
                return nil
            } catch {
                return error
            }
        }
        // The socket buffers fill within a few MiB; then a write parks (bounded wait).
        let deadline = ContinuousClock.now + .seconds(10)
        while !stream.hasParkedWriter && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(stream.hasParkedWriter)
        await stream.close()
        let failure = await writer.value
        #expect(failure as? TransportError == .closed)
        await server.stop()
    }

    /// Writes go to a duplicate of the socket's descriptor; closing must still end the
    /// connection for the peer, whether we close or the peer does.
    @Test func closingEndsTheConnectionForThePeer() async throws {
        let server = try await LocalTCPServer.start(.echo)
        let stream = try await dial(server)
        try await stream.write(ByteBuffer(string: "x"))
        #expect(try await readBytes(stream, count: 1) == [UInt8(ascii: "x")])
        await stream.close()
        #expect(try await server.waitForClosedConnections(1))
        #expect(stream.writeImmediately(UnsafeRawBufferPointer(start: nil, count: 0)) == nil)
        await #expect(throws: TransportError.closed) { try await stream.write(ByteBuffer(string: "y")) }
        await server.stop()

        // The peer closes first: reading ends, and a later write fails instead of vanishing.
        let closer = try await LocalTCPServer.start(.closeImmediately)
        let other = try await dial(closer)
        #expect(try await other.read() == nil)
        var failed = false
        for _ in 0..<100 where !failed {
            do { try await other.write(ByteBuffer(string: "z")) } catch { failed = true }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(failed)
        await other.close()
        await closer.stop()
    }

    @Test func slowReaderBoundsTheQueue() async throws {
        let limit = 64 * 1024
        let total = 8 << 20
        let server = try await LocalTCPServer.start(.flood(total))
        let stream = try await dial(server, limit: limit)
        // Bounded wait until the queue is full, i.e. the stream had to stop reading.
        let deadline = ContinuousClock.now + .seconds(10)
        while stream.bufferedByteCount < limit, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(stream.bufferedByteCount >= limit)
        // Give a broken implementation time to keep reading; a correct one stays put at
        // the limit plus at most one read cycle (a few 64 KiB reads).
        try await Task.sleep(for: .milliseconds(100))
        #expect(stream.bufferedByteCount <= limit + 512 * 1024)
        // Draining re-arms reading; everything arrives, in order.
        let received = try await readBytes(stream, count: total)
        #expect(received.count == total)
        #expect(received.enumerated().allSatisfy { $0.element == UInt8(truncatingIfNeeded: $0.offset) })
        await stream.close()
        await server.stop()
    }

    @Test func exposesAddresses() async throws {
        let server = try await LocalTCPServer.start(.echo)
        let stream = try await dial(server)
        #expect(stream.remoteAddress == "127.0.0.1:\(server.port)")
        #expect(stream.localAddress?.hasPrefix("127.0.0.1:") == true)
        await stream.close()
        await server.stop()
    }

    @Test func dialsHostName() async throws {
        let server = try await LocalTCPServer.start(.greet("hello"))
        let stream = try await TCPDialer().dial(ServerAddress(host: "localhost", port: server.port), timeout: .seconds(5))
        let chunk = try #require(try await stream.read())
        #expect(String(buffer: chunk) == "hello")
        await stream.close()
        await server.stop()
    }

    @Test func dialsIPv6Literal() async throws {
        let server: LocalTCPServer
        do {
            server = try await LocalTCPServer.start(.greet("v6"), host: "::1")
        } catch {
            // No IPv6 loopback on this machine: nothing to test.
            return
        }
        let stream = try await TCPDialer().connect(ServerAddress(host: "::1", port: server.port), timeout: .seconds(5))
        #expect(stream.remoteAddress == "[::1]:\(server.port)")
        let chunk = try #require(try await stream.read())
        #expect(String(buffer: chunk) == "v6")
        await stream.close()
        await server.stop()
    }

    @Test func closedPortFailsFastWithConnectionRefused() async throws {
        let server = try await LocalTCPServer.start(.echo)
        let port = server.port
        await server.stop()
        let clock = ContinuousClock()
        let start = clock.now
        await #expect(throws: TransportError.connectionRefused) {
            _ = try await TCPDialer().dial(ServerAddress(host: "127.0.0.1", port: port), timeout: .seconds(10))
        }
        #expect(clock.now - start < .seconds(5))
    }

    @Test func unknownHostFails() async throws {
        do {
            _ = try await TCPDialer().dial(ServerAddress(host: "nonexistent.invalid", port: 4222), timeout: .seconds(5))
            Issue.record("dialing a .invalid host must fail")
        } catch let error as TransportError {
            // NXDOMAIN gives hostNotFound; a resolver that does not answer gives timeout.
            #expect(error == .hostNotFound("nonexistent.invalid") || error == .timeout, "\(error)")
        }
    }

    @Test func closeUnblocksPendingRead() async throws {
        let server = try await LocalTCPServer.start(.silent)
        let stream = try await dial(server)
        let reader = Task { try await stream.read() }
        // Let the reader park first; either order must end the read, this makes the
        // parked case the likely one.
        await Task.yield()
        await stream.close()
        let result = try await reader.value
        #expect(result == nil)
        await #expect(throws: TransportError.closed) { try await stream.write(ByteBuffer(string: "x")) }
        #expect(try await stream.read() == nil)
        await stream.close()  // idempotent
        await server.stop()
    }

    @Test func peerCloseEndsTheStream() async throws {
        let server = try await LocalTCPServer.start(.closeImmediately)
        let stream = try await dial(server)
        #expect(try await stream.read() == nil)
        await stream.close()
        await server.stop()
    }

    @Test func cancellingAReadThrowsCancellationError() async throws {
        let server = try await LocalTCPServer.start(.silent)
        let stream = try await dial(server)
        let reader = Task { try await stream.read() }
        reader.cancel()
        await #expect(throws: CancellationError.self) { _ = try await reader.value }
        await stream.close()
        await server.stop()
    }

    @Test func transportErrorsDescribeTheProblem() {
        #expect(TransportError.connectionRefused.description.contains("refused"))
        #expect(TransportError.hostNotFound("nope.invalid").description.contains("nope.invalid"))
        #expect(TransportError.hostNotFound("a") != TransportError.hostNotFound("b"))
        #expect(TransportError.timeout != TransportError.closed)
    }
}
