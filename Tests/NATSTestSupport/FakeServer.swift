import Foundation
public import NATSTransport
public import NIOCore
import Synchronization

/// An operation a client sent, as a test server reads it.
public enum ClientOp: Sendable, Equatable {
    case connect(String)
    case pub(subject: String, reply: String?, payload: [UInt8])
    case hpub(subject: String, reply: String?, headers: [UInt8], payload: [UInt8])
    case sub(subject: String, queue: String?, sid: UInt64)
    case unsub(sid: UInt64, max: UInt64?)
    case ping
    case pong
}

/// Parses what a client sends (the server side of the protocol), for tests.
public struct ClientOpParser: Sendable {
    private var buffer = ByteBuffer()

    public init() {}

    public mutating func append(_ chunk: ByteBuffer) {
        var chunk = chunk
        buffer.writeBuffer(&chunk)
    }

    public struct Malformed: Error, CustomStringConvertible {
        public let line: String
        public var description: String { "malformed client op: \(line)" }
    }

    public mutating func next() throws -> ClientOp? {
        let view = buffer.readableBytesView
        guard let lf = view.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let lineLength = lf - view.startIndex + 1
        var contentLength = lineLength - 1
        if contentLength > 0, buffer.getInteger(at: buffer.readerIndex + contentLength - 1, as: UInt8.self) == UInt8(ascii: "\r") {
            contentLength -= 1
        }
        guard let line = buffer.getString(at: buffer.readerIndex, length: contentLength) else { return nil }
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let op = parts.first?.uppercased() else { throw Malformed(line: line) }
        func payload(_ size: Int) -> [UInt8]? {
            guard buffer.readableBytes >= lineLength + size + 2 else { return nil }
            return buffer.getBytes(at: buffer.readerIndex + lineLength, length: size)
        }
        switch op {
        case "CONNECT":
            buffer.moveReaderIndex(forwardBy: lineLength)
            return .connect(String(line.dropFirst(8)))
        case "PING":
            buffer.moveReaderIndex(forwardBy: lineLength)
            return .ping
        case "PONG":
            buffer.moveReaderIndex(forwardBy: lineLength)
            return .pong
        case "SUB":
            guard parts.count == 3 || parts.count == 4, let sid = UInt64(parts.last!) else { throw Malformed(line: line) }
            buffer.moveReaderIndex(forwardBy: lineLength)
            return .sub(subject: parts[1], queue: parts.count == 4 ? parts[2] : nil, sid: sid)
        case "UNSUB":
            guard parts.count == 2 || parts.count == 3, let sid = UInt64(parts[1]) else { throw Malformed(line: line) }
            buffer.moveReaderIndex(forwardBy: lineLength)
            return .unsub(sid: sid, max: parts.count == 3 ? UInt64(parts[2]) : nil)
        case "PUB":
            guard parts.count == 3 || parts.count == 4, let size = Int(parts.last!) else { throw Malformed(line: line) }
            guard let body = payload(size) else { return nil }
            buffer.moveReaderIndex(forwardBy: lineLength + size + 2)
            return .pub(subject: parts[1], reply: parts.count == 4 ? parts[2] : nil, payload: body)
        case "HPUB":
            guard parts.count == 4 || parts.count == 5, let total = Int(parts.last!), let hsize = Int(parts[parts.count - 2]), hsize <= total else {
                throw Malformed(line: line)
            }
            guard let body = payload(total) else { return nil }
            buffer.moveReaderIndex(forwardBy: lineLength + total + 2)
            return .hpub(subject: parts[1], reply: parts.count == 5 ? parts[2] : nil,
                         headers: Array(body[0..<hsize]), payload: Array(body[hsize...]))
        default:
            throw Malformed(line: line)
        }
    }
}

/// A dialer whose connections are in-memory pairs; each server side goes to `accept`.
public struct InMemoryDialer: Dialer {
    private let accept: @Sendable (InMemoryByteStream, ServerAddress) -> Void
    private let immediateWriteLimit: Int?
    private let eventLoop: (any EventLoop)?

    /// Creates a dialer; `accept` receives the server side of every dialed connection. With
    /// `immediateWriteLimit`, the client side takes synchronous sends of at most that many
    /// bytes, and offers `eventLoop` for timers (see
    /// ``InMemoryByteStream/pair(immediateWriteLimit:eventLoop:)``).
    public init(immediateWriteLimit: Int? = nil, eventLoop: (any EventLoop)? = nil, accept: @escaping @Sendable (InMemoryByteStream, ServerAddress) -> Void) {
        self.accept = accept
        self.immediateWriteLimit = immediateWriteLimit
        self.eventLoop = eventLoop
    }

    public func dial(_ address: ServerAddress, timeout: Duration) async throws -> any ByteStream {
        let (client, server) = InMemoryByteStream.pair(immediateWriteLimit: immediateWriteLimit, eventLoop: eventLoop)
        accept(server, address)
        return client
    }
}

/// The server side of one in-memory connection, scripted by a test.
public final class FakeServerConnection: Sendable {
    public let stream: InMemoryByteStream
    private let parser = Mutex(ClientOpParser())

    public init(_ stream: InMemoryByteStream) {
        self.stream = stream
    }

    /// Sends raw protocol text.
    public func send(_ text: String) async throws {
        try await stream.write(ByteBuffer(string: text))
    }

    /// Sends a minimal INFO, with extra JSON members if given (e.g. `"max_payload":1024`).
    public func sendInfo(_ extra: String = "") async throws {
        var members = #""server_id":"FAKE","server_name":"fake","version":"2.15.0","proto":1,"headers":true"#
        if !extra.contains("\"max_payload\"") { members += #","max_payload":1048576"# }
        if !extra.isEmpty { members += "," + extra }
        try await send("INFO {\(members)}\r\n")
    }

    /// The next operation from the client, or `nil` when it closed; throws on timeout.
    public func nextOp(timeout: Duration = .seconds(5)) async throws -> ClientOp? {
        // One already read needs no reader and timer tasks (a test reading thousands of
        // operations made them a load of their own).
        if let op = try parser.withLock({ try $0.next() }) { return op }
        return try await withThrowingTaskGroup(of: ClientOp?.self) { group in
            group.addTask {
                while true {
                    if let op = try self.parser.withLock({ try $0.next() }) { return op }
                    guard let chunk = try await self.stream.read() else { return nil }
                    self.parser.withLock { $0.append(chunk) }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw FakeServerTimeout()
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
    }

    /// Reads INFO→CONNECT→PING and answers PONG: a successful handshake. Returns the CONNECT JSON.
    @discardableResult
    public func acceptHandshake(info extra: String = "") async throws -> String {
        try await sendInfo(extra)
        guard case .connect(let json)? = try await nextOp() else { throw FakeServerUnexpected() }
        guard case .ping? = try await nextOp() else { throw FakeServerUnexpected() }
        try await send("PONG\r\n")
        return json
    }
}

public struct FakeServerTimeout: Error {}
public struct FakeServerUnexpected: Error {}

/// Free loopback ports for tests (e.g. a port nothing listens on).
public enum LocalPorts {
    /// A port that was free on 127.0.0.1 a moment ago.
    public static func freePort() throws -> Int {
        try FreePorts.allocate(1)[0]
    }

    /// Runs `body` with a loopback port that refuses connections throughout: it stays bound
    /// (not listening) until `body` returns, so no server or outgoing connection can take it.
    public static func withRefusingPort<T>(isolation: isolated (any Actor)? = #isolation, _ body: (Int) async throws -> T) async throws -> T {
        let (fd, port) = try FreePorts.bindLoopback()
        defer { close(fd) }
        return try await body(port)
    }
}

/// Runs blocking work (waiting for a process, blocking file or socket I/O) on a thread of its
/// own, so it never occupies one of the few threads of Swift's cooperative pool.
public func runOffCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(with: Result { try body() })
        }.start()
    }
}

/// Reads `handle` to its end, retrying reads that a signal interrupted.
///
/// `FileHandle.readDataToEndOfFile()` traps on any error, and tests that start processes get
/// SIGCHLD often enough for a blocking read to fail with EINTR.
public func readToEndRetryingInterrupts(_ handle: FileHandle) -> Data {
    var data = Data()
    var failures = 0
    while true {
        do {
            guard let chunk = try handle.read(upToCount: 64 * 1024), !chunk.isEmpty else { return data }
            data.append(chunk)
        } catch {
            failures += 1
            if failures > 1000 { return data }
        }
    }
}
