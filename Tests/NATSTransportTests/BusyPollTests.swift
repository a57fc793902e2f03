import NATSTestSupport
@testable import NATSTransport
import NIOCore
import NIOPosix
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The event loop's busy polling (``TCPDialer/busyPoll``): after its jobs ran, the loop keeps
/// checking the socket, and stops as soon as there is something to do.
///
/// The loop polls for far longer than any of these tests waits, so only what ends the
/// polling early lets work handed to the loop run in time; a pipe's read end stands for the
/// socket.
@Suite(.timeLimit(.minutes(1)))
struct BusyPollTests {
    private static let longPoll: Duration = .seconds(20)
    private static let promptly: Duration = .seconds(10)

    private final class Pipe: Sendable {
        let reader: DirectSocket
        private let writeFD: Int32

        init() throws {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { throw PipeFailed() }
            reader = DirectSocket(fd: fds[0])
            writeFD = fds[1]
        }

        func writeByte() {
            var byte: UInt8 = 1
            _ = write(writeFD, &byte, 1)
        }

        deinit { close(writeFD) }
    }

    private struct PipeFailed: Error {}

    /// Runs `body` with a one-thread event loop, a pipe, and an executor on that loop that
    /// polls the pipe for `duration` after its jobs ran.
    private func withPollingExecutor(
        _ duration: Duration,
        _ body: (any EventLoop, Pipe, EventLoopTaskExecutor) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let loop = group.next()
            let pipe = try Pipe()
            // Kept until the body is done: closing the write end would end the polling by itself.
            defer { withExtendedLifetime(pipe) {} }
            try await body(loop, pipe, EventLoopTaskExecutor(loop, busyPoll: .init(socket: pipe.reader, duration: duration)))
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    @Test func pollingEndsWhenTheSocketHasInput() async throws {
        try await withPollingExecutor(Self.longPoll) { loop, pipe, executor in
            await Task(executorPreference: executor) {}.value
            let start = ContinuousClock.now
            pipe.writeByte()
            // Work handed to NIO from another thread runs once the loop stopped polling.
            try await loop.submit {}.get()
            #expect(ContinuousClock.now - start < Self.promptly)
        }
    }

    @Test func pollingEndsWhenATaskHasWork() async throws {
        try await withPollingExecutor(Self.longPoll) { _, _, executor in
            await Task(executorPreference: executor) {}.value
            let start = ContinuousClock.now
            let ran = await Task(executorPreference: executor) { true }.value
            #expect(ran)
            #expect(ContinuousClock.now - start < Self.promptly)
        }
    }

    @Test func pollingEndsWhileNIOHoldsAWrite() async throws {
        try await withPollingExecutor(Self.longPoll) { loop, pipe, executor in
            // As TCPStream.write does when the socket did not take everything: NIO has to
            // wait for the socket to drain, so the loop must not poll.
            pipe.reader.beginNIOWrite()
            defer { pipe.reader.endNIOWrite() }
            await Task(executorPreference: executor) {}.value
            let start = ContinuousClock.now
            try await loop.submit {}.get()
            #expect(ContinuousClock.now - start < Self.promptly)
        }
    }

    /// With nothing to do, the loop does poll for the whole duration before other work runs.
    /// Timed from before the job: the polling starts after the job, and this test's task may
    /// resume on a busy machine only long after that.
    @Test func pollingLastsItsDuration() async throws {
        let duration: Duration = .milliseconds(300)
        try await withPollingExecutor(duration) { loop, _, executor in
            let start = ContinuousClock.now
            await Task(executorPreference: executor) {}.value
            try await loop.submit {}.get()
            let waited = ContinuousClock.now - start
            #expect(waited >= duration)
            #expect(waited < Self.promptly)
        }
    }

    @Test func dialerKeepsBusyPollWithinItsBounds() {
        #expect(TCPDialer().busyPoll == .zero)
        #expect(TCPDialer(busyPoll: .microseconds(150)).busyPoll == .microseconds(150))
        #expect(TCPDialer(busyPoll: .microseconds(-5)).busyPoll == .zero)
        #expect(TCPDialer(busyPoll: .seconds(3)).busyPoll == TCPDialer.maximumBusyPoll)
        var dialer = TCPDialer()
        dialer.busyPoll = .seconds(-1)
        #expect(dialer.busyPoll == .zero)
        dialer.busyPoll = .milliseconds(5)
        #expect(dialer.busyPoll == TCPDialer.maximumBusyPoll)
    }

    /// Over a real socket, with the requests sent from the loop as a request loop would: every
    /// answer arrives whole.
    @Test func busyPollingStreamAnswersRoundTrips() async throws {
        let server = try await LocalTCPServer.start(.echo)
        let stream = try await TCPDialer(busyPoll: TCPDialer.maximumBusyPoll)
            .connect(ServerAddress(host: server.host, port: server.port), timeout: .seconds(5))
        let executor = try #require(stream.preferredExecutor)
        let answered = try await Task(executorPreference: executor) { () throws -> Int in
            var answered = 0
            for i in 0..<300 {
                let bytes = (0..<(1 + i % 50)).map { UInt8(truncatingIfNeeded: i &+ $0) }
                try await stream.write(ByteBuffer(bytes: bytes))
                var received: [UInt8] = []
                while received.count < bytes.count, let chunk = try await stream.read() {
                    received.append(contentsOf: chunk.readableBytesView)
                }
                if received == bytes { answered += 1 }
            }
            return answered
        }.value
        #expect(answered == 300)
        await stream.close()
        #expect(try await stream.read() == nil)
        await server.stop()
    }
}
