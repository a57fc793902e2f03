public import NATSTransport
public import NIOCore
import Synchronization

/// An RFC 6455 WebSocket client connection over any ``ByteStream``, itself a byte stream.
///
/// Each `write(_:)` sends one binary message (split into frames above
/// ``WebSocketConfiguration/maxFrameSize``); each `read()` returns the payload of the next
/// text or binary message. Pings are answered and the close handshake is handled inside.
/// One reader task and one writer task may use the stream at the same time.
///
/// ```swift
/// let tcp = try await dialer.dial(address, timeout: .seconds(5))
/// let ws = try await WebSocketStream.connect(
///     over: tcp, host: "demo.nats.io", port: 8080, secure: false,
///     configuration: WebSocketConfiguration(compression: true), timeout: .seconds(5))
/// try await ws.write(ByteBuffer(string: "PING\r\n"))
/// ```
public final class WebSocketStream: ByteStream {
    private let transport: any ByteStream
    private let parameters: PerMessageDeflate.Parameters?
    private let closeTimeout: Duration
    /// Outbound state, including the writer lock that keeps frames from interleaving.
    private let writeState: Mutex<WriteState>
    private let readState: Mutex<ReadState>
    private let life = Mutex(Life())

    /// Whether the server accepted permessage-deflate for this connection.
    public var negotiatedCompression: Bool { parameters != nil }

    /// Performs the opening handshake over `transport` and returns the open connection.
    ///
    /// - Parameters:
    ///   - transport: A connected stream (TCP, or TLS for `wss://`). On failure it is closed.
    ///   - host: The server's host name or IP literal, for the `Host` header.
    ///   - port: The server's port; left out of `Host` when it is the scheme default.
    ///   - secure: Whether this is `wss://` (default port 443 instead of 80).
    ///   - configuration: Path, headers, compression and limits.
    ///   - timeout: Limit for the whole handshake; `nil` waits indefinitely.
    /// - Throws: ``WebSocketError`` for a bad configuration or a failed handshake, or the
    ///   transport's error.
    public static func connect(
        over transport: any ByteStream,
        host: String,
        port: Int,
        secure: Bool,
        configuration: WebSocketConfiguration = WebSocketConfiguration(),
        timeout: Duration? = nil
    ) async throws -> WebSocketStream {
        try await connect(
            over: transport, host: host, port: port, secure: secure, configuration: configuration,
            timeout: timeout, generator: SystemRandomNumberGenerator())
    }

    /// `connect` with an injectable generator for the handshake key and masking keys.
    static func connect(
        over transport: any ByteStream,
        host: String,
        port: Int,
        secure: Bool,
        configuration: WebSocketConfiguration,
        timeout: Duration?,
        generator: some RandomNumberGenerator & Sendable
    ) async throws -> WebSocketStream {
        var generator = generator
        do {
            let key = ClientHandshake.makeKey(using: &generator)
            let request = try ClientHandshake.request(
                host: host, port: port, secure: secure, configuration: configuration, key: key)
            let handshake = ClientHandshake(
                key: key, offeredDeflate: configuration.compression ? configuration.deflate : nil)
            let result = try await runHandshake(handshake, request: request, over: transport, timeout: timeout)
            return try WebSocketStream(
                transport: transport, configuration: configuration, handshake: result, generator: generator)
        } catch {
            await transport.close()
            throw error
        }
    }

    private init(
        transport: any ByteStream,
        configuration: WebSocketConfiguration,
        handshake: ClientHandshake.Result,
        generator: some RandomNumberGenerator & Sendable
    ) throws(WebSocketError) {
        self.transport = transport
        self.closeTimeout = configuration.closeTimeout
        let parameters = handshake.deflate
        self.parameters = parameters
        var compressor: PerMessageDeflate.Compressor?
        var decompressor: PerMessageDeflate.Decompressor?
        if let parameters {
            if PerMessageDeflate.Compressor.canCompress(windowBits: parameters.clientMaxWindowBits) {
                compressor = try PerMessageDeflate.Compressor(
                    windowBits: parameters.clientMaxWindowBits, noContextTakeover: parameters.clientNoContextTakeover)
            }
            decompressor = try PerMessageDeflate.Decompressor(noContextTakeover: parameters.serverNoContextTakeover)
        }
        writeState = Mutex(
            WriteState(
                generator: generator,
                compressor: compressor,
                threshold: configuration.deflate.compressionThreshold,
                maxFrameSize: configuration.maxFrameSize))
        readState = Mutex(
            ReadState(
                cumulation: handshake.leftover,
                parser: FrameParser(
                    role: .client, maxFrameSize: configuration.maxMessageSize, allowsCompression: parameters != nil),
                assembler: MessageAssembler(maxMessageSize: configuration.maxMessageSize),
                decompressor: decompressor,
                maxInflated: min(configuration.maxMessageSize, configuration.deflate.maxInflatedMessageSize)))
    }

    // MARK: - ByteStream

    /// The stream below's preferred executor: this layer adds no thread of its own.
    public var preferredExecutor: (any TaskExecutor)? { transport.preferredExecutor }

    /// The payload of the next text or binary message, or `nil` once the connection closed
    /// normally (close code 1000/1001, no code, end of stream, or after ``close()``).
    ///
    /// - Throws: ``WebSocketError`` when the server breaks the protocol (the connection is
    ///   then closed with the matching close code) or closes with an error code.
    public nonisolated(nonsending) func read() async throws -> ByteBuffer? {
        let admitted = life.withLock { life in
            guard life.phase != .closed, !life.readerActive else { return false }
            life.readerActive = true
            return true
        }
        guard admitted else { return nil }
        defer { life.withLock { $0.readerActive = false } }
        return try await receive(draining: false)
    }

    /// Sends `bytes` as one binary message (compressed if negotiated and large enough).
    /// An empty buffer sends nothing.
    ///
    /// - Throws: ``WebSocketError/Code/connectionClosed`` after close, or the transport's error.
    public nonisolated(nonsending) func write(_ bytes: ByteBuffer) async throws {
        guard life.withLock({ $0.phase == .open }) else { throw WebSocketError.connectionClosed }
        guard bytes.readableBytes > 0 else { return }
        await acquireWriter()
        let outcome: Result<Void, any Error>
        do {
            let frames = try writeState.withLock { state throws(WebSocketError) in try state.encodeMessage(bytes) }
            try await transport.write(frames)
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        await releaseWriter()
        try outcome.get()
    }

    /// Runs the close handshake: sends close 1000, waits up to
    /// ``WebSocketConfiguration/closeTimeout`` for the server's close frame, then closes
    /// the transport. Idempotent.
    public func close() async {
        enum Mode { case alreadyClosing, awaitReader, drain }
        let mode: Mode = life.withLock { life in
            guard life.phase == .open else { return .alreadyClosing }
            life.phase = .closing
            if life.readerActive { return .awaitReader }
            life.readerActive = true  // close() reads the echo itself
            return .drain
        }
        if case .alreadyClosing = mode { return }

        // The timer bounds everything below, including a write stuck in the transport:
        // closing the transport makes pending reads and writes finish.
        let timeout = closeTimeout
        let timer = Task {
            try? await Task.sleep(for: timeout)
            if Task.isCancelled { return }
            self.fireCloseSignal()
            await self.transport.close()
        }
        var body = ByteBuffer()
        body.writeInteger(WebSocketCloseCode.normalClosure.rawValue)
        if (try? await sendControl(.close, payload: body)) != nil {
            switch mode {
            case .drain: _ = try? await receive(draining: true)
            case .awaitReader: await waitForCloseSignal()
            case .alreadyClosing: break
            }
        }
        timer.cancel()
        life.withLock { life in
            life.phase = .closed
            if case .drain = mode { life.readerActive = false }
        }
        fireCloseSignal()
        await transport.close()
    }

    // MARK: - Reading

    private nonisolated(nonsending) func receive(draining: Bool) async throws -> ByteBuffer? {
        while true {
            let event: MessageAssembler.Event?
            do throws(WebSocketError) {
                event = try readState.withLock { state throws(WebSocketError) in try state.nextEvent() }
            } catch {
                await fail(with: error)
                throw error
            }
            guard let event else {
                let chunk: ByteBuffer?
                do {
                    chunk = try await transport.read()
                } catch {
                    await finish()
                    throw error
                }
                guard let chunk else {
                    await finish()
                    return nil
                }
                readState.withLock { $0.append(chunk) }
                continue
            }
            switch event {
            case .message(let payload, _):
                if draining || payload.readableBytes == 0 { continue }
                return payload
            case .ping(let payload):
                await sendPong(payload)
            case .pong:
                continue
            case .close(let code, let reason):
                let initiatedByUs = life.withLock { $0.phase == .closing }
                // RFC 6455 §5.5.1: echo the status code (a no-op if we sent our close already).
                var body = ByteBuffer()
                if let code { body.writeInteger(code.rawValue) }
                try? await sendControl(.close, payload: body)
                await finish()
                if let code, !initiatedByUs, code != .normalClosure, code != .goingAway {
                    throw WebSocketError.closedByServer(code, reason: reason)
                }
                return nil
            }
        }
    }

    /// Fails the connection (RFC 6455 §7.1.7): send a close with the error's code, close.
    private nonisolated(nonsending) func fail(with error: WebSocketError) async {
        if let code = error.closeCode {
            var body = ByteBuffer()
            body.writeInteger(code.rawValue)
            try? await sendControl(.close, payload: body)
        }
        await finish()
    }

    private nonisolated(nonsending) func finish() async {
        life.withLock { $0.phase = .closed }
        fireCloseSignal()
        await transport.close()
    }

    // MARK: - Writing
    //
    // One writer at a time owns the transport's write side (`WriteState.locked`); others
    // wait in FIFO order. A pong never waits: if the writer is busy, the pong is queued in
    // `WriteState.pending` and the current writer sends it before giving up the lock.
    // Frames are encoded in order under the mutex and queued pongs always precede frames
    // encoded later, so nothing follows our close frame. The mutex is never held across
    // an `await`.

    private nonisolated(nonsending) func acquireWriter() async {
        let acquired = writeState.withLock { state in
            if state.locked { return false }
            state.locked = true
            return true
        }
        if acquired { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquiredNow = writeState.withLock { state in
                if !state.locked {
                    state.locked = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if acquiredNow { continuation.resume() }
        }
    }

    /// Sends pongs queued while we held the lock, then hands the lock to the next writer.
    private nonisolated(nonsending) func releaseWriter() async {
        enum Next {
            case flush(ByteBuffer)
            case handOff(CheckedContinuation<Void, Never>?)
        }
        while true {
            let next: Next = writeState.withLock { state in
                if let pending = state.takePending() { return .flush(pending) }
                if let waiter = state.waiters.popFirst() { return .handOff(waiter) }
                state.locked = false
                return .handOff(nil)
            }
            switch next {
            case .flush(let bytes):
                // A failed write surfaces on the next read or write.
                try? await transport.write(bytes)
            case .handOff(let waiter):
                waiter?.resume()
                return
            }
        }
    }

    /// Writes one control frame (waiting for the writer lock) unless our close frame has
    /// gone out already.
    private nonisolated(nonsending) func sendControl(_ opcode: WebSocketOpcode, payload: ByteBuffer) async throws {
        await acquireWriter()
        let outcome: Result<Void, any Error>
        do {
            if let frame = writeState.withLock({ $0.encodeControl(opcode, payload: payload) }) {
                try await transport.write(frame)
            }
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        await releaseWriter()
        try outcome.get()
    }

    /// Answers a ping (RFC 6455 §5.5.2) without waiting for a busy writer.
    private nonisolated(nonsending) func sendPong(_ payload: ByteBuffer) async {
        let frame: ByteBuffer? = writeState.withLock { state in
            if state.locked {
                state.queuePong(payload)
                return nil
            }
            guard let frame = state.encodeControl(.pong, payload: payload) else { return nil }
            state.locked = true
            return frame
        }
        guard let frame else { return }
        try? await transport.write(frame)
        await releaseWriter()
    }

    // MARK: - Close signal

    private func waitForCloseSignal() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = life.withLock { life in
                if life.closeSignalled { return true }
                life.closeWaiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    private func fireCloseSignal() {
        let waiter = life.withLock { life in
            life.closeSignalled = true
            let waiter = life.closeWaiter
            life.closeWaiter = nil
            return waiter
        }
        waiter?.resume()
    }

    // MARK: - Handshake

    private static func runHandshake(
        _ handshake: ClientHandshake,
        request: String,
        over transport: any ByteStream,
        timeout: Duration?
    ) async throws -> ClientHandshake.Result {
        guard let timeout else { return try await performHandshake(handshake, request: request, over: transport) }
        return try await withThrowingTaskGroup(of: ClientHandshake.Result?.self) { group in
            group.addTask { try await performHandshake(handshake, request: request, over: transport) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            if let result = try await group.next() ?? nil { return result }
            // Timed out: closing the transport makes a read that ignores cancellation finish.
            await transport.close()
            throw WebSocketError.handshakeTimedOut(timeout)
        }
    }

    private static func performHandshake(
        _ handshake: ClientHandshake,
        request: String,
        over transport: any ByteStream
    ) async throws -> ClientHandshake.Result {
        var handshake = handshake
        try await transport.write(ByteBuffer(string: request))
        while true {
            guard let chunk = try await transport.read() else { throw WebSocketError.closedDuringHandshake }
            if let result = try handshake.receive(chunk) { return result }
        }
    }
}

// MARK: - State

/// Where the connection is in its life. Guarded by `WebSocketStream.life`.
private struct Life {
    enum Phase { case open, closing, closed }
    var phase = Phase.open
    /// A `read()` (or `close()` reading the echo itself) is consuming the transport.
    var readerActive = false
    var closeSignalled = false
    var closeWaiter: CheckedContinuation<Void, Never>?
}

/// Outbound state and the writer lock. Guarded by its mutex.
private struct WriteState {
    /// A writer owns the transport's write side.
    var locked = false
    /// Writers waiting for `locked`, in arrival order.
    var waiters = CircularBuffer<CheckedContinuation<Void, Never>>()
    /// Pongs encoded while another writer held the lock; sent before anything newer.
    var pending = ByteBuffer()
    var generator: any RandomNumberGenerator
    var compressor: PerMessageDeflate.Compressor?
    let threshold: Int
    let maxFrameSize: Int
    /// Reused output of the compressor.
    var scratch = ByteBuffer()
    var closeSent = false
    let allocator = ByteBufferAllocator()

    init(generator: any RandomNumberGenerator, compressor: PerMessageDeflate.Compressor?, threshold: Int, maxFrameSize: Int) {
        self.generator = generator
        self.compressor = compressor
        self.threshold = threshold
        self.maxFrameSize = maxFrameSize
    }

    mutating func nextKey() -> MaskingKey {
        MaskingKey(value: UInt32(truncatingIfNeeded: generator.next()))
    }

    mutating func encodeMessage(_ payload: ByteBuffer) throws(WebSocketError) -> ByteBuffer {
        guard !closeSent else { throw .connectionClosed }
        var compressed = false
        if let compressor, payload.readableBytes >= threshold,
            payload.readableBytes <= PerMessageDeflate.Compressor.maxInput
        {
            scratch.clear()
            try compressor.compress(payload, into: &scratch)
            compressed = true
        }
        let output = encodeFrames(compressed ? scratch : payload, compressed: compressed)
        if scratch.capacity > 4 * 1024 * 1024 { scratch = ByteBuffer() }
        return output
    }

    private mutating func encodeFrames(_ body: ByteBuffer, compressed: Bool) -> ByteBuffer {
        let frameCount = max(1, body.readableBytes / maxFrameSize + 1)
        var output = allocator.buffer(capacity: pending.readableBytes + body.readableBytes + frameCount * 14)
        output.writeBuffer(&pending)
        FrameEncoder.encodeMessage(
            opcode: .binary, payload: body, compressed: compressed, maxFrameSize: maxFrameSize, into: &output
        ) { nextKey() }
        return output
    }

    /// Queued pongs, if any; leaves `pending` empty.
    mutating func takePending() -> ByteBuffer? {
        guard pending.readableBytes > 0 else { return nil }
        defer { pending = ByteBuffer() }
        return pending
    }

    /// Encodes a pong into `pending` for the current writer to send.
    mutating func queuePong(_ payload: ByteBuffer) {
        guard !closeSent else { return }
        var output = pending
        pending = ByteBuffer()  // keep `output` uniquely referenced while appending
        appendControl(.pong, payload: payload, to: &output)
        pending = output
    }

    /// Queued pongs followed by a masked control frame, or nil once our close frame was
    /// sent (RFC 6455 §5.5.1).
    mutating func encodeControl(_ opcode: WebSocketOpcode, payload: ByteBuffer) -> ByteBuffer? {
        guard !closeSent else { return nil }
        var output = allocator.buffer(capacity: pending.readableBytes + 6 + payload.readableBytes)
        output.writeBuffer(&pending)
        appendControl(opcode, payload: payload, to: &output)
        return output
    }

    private mutating func appendControl(_ opcode: WebSocketOpcode, payload: ByteBuffer, to output: inout ByteBuffer) {
        if opcode == .close { closeSent = true }
        var body = payload
        if body.readableBytes > FrameParser.maxControlPayload {
            body = body.getSlice(at: body.readerIndex, length: FrameParser.maxControlPayload) ?? ByteBuffer()
        }
        FrameEncoder.encode(opcode: opcode, payload: body, maskingKey: nextKey(), into: &output)
    }
}

/// Inbound state, touched only by the one reader. Guarded by its mutex.
private struct ReadState {
    var cumulation: ByteBuffer
    var parser: FrameParser
    var assembler: MessageAssembler
    var decompressor: PerMessageDeflate.Decompressor?
    let maxInflated: Int

    mutating func append(_ chunk: ByteBuffer) {
        if cumulation.readableBytes == 0 {
            cumulation = chunk  // common case: no copy
            return
        }
        if cumulation.readerIndex > 64 * 1024 && cumulation.readerIndex > cumulation.readableBytes {
            cumulation.discardReadBytes()
        }
        cumulation.writeImmutableBuffer(chunk)
    }

    mutating func nextEvent() throws(WebSocketError) -> MessageAssembler.Event? {
        while let frame = try parser.next(from: &cumulation) {
            guard let event = try assembler.receive(frame) else { continue }
            if case .message(let payload, compressed: true) = event {
                guard let decompressor else { throw .protocolError("a compressed message without negotiation") }
                let inflated = try decompressor.decompress(payload, maxSize: maxInflated)
                return .message(inflated, compressed: false)
            }
            return event
        }
        return nil
    }
}
