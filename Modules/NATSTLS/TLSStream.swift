public import NATSTransport
public import NIOCore
import Synchronization

/// A TLS connection over any ``ByteStream``, itself a ``ByteStream``.
///
/// One reader task and one writer task may use it at the same time. OpenSSL calls are
/// serialised by a lock that is never held across an `await`; ciphertext is written to
/// the underlying stream by one task at a time, in the order OpenSSL produced it.
///
/// ```swift
/// let context = try TLSContext(configuration: TLSConfiguration())
/// let tls = try await TLSStream.connect(over: tcp, context: context, serverHostname: "demo.nats.io", timeout: .seconds(5))
/// try await tls.write(ByteBuffer(string: "PING\r\n"))
/// ```
public final class TLSStream: ByteStream {
    private struct State {
        var session: TLSSession
        /// The first fatal error; every later call reports it.
        var failure: TLSError?
        var closedLocally = false
        var peerClosed = false
        /// True while one task owns writing ciphertext to `underlying`.
        var flushing = false
        var flushWaiters: [CheckedContinuation<TLSError?, Never>] = []
        /// An allocated but unused read buffer, kept for the next read.
        var spareReadBuffer: ByteBuffer?
    }

    private let underlying: any ByteStream
    private let state: Mutex<State>
    private let info: Mutex<TLSConnectionInfo?>

    /// Largest plaintext slice encrypted per flush, so a huge write does not buffer its
    /// whole ciphertext at once.
    private static let writeSliceSize = 256 * 1024
    /// Largest buffer one `read()` returns.
    private static let maximumReadSize = 256 * 1024
    private static let minimumReadSize = 256

    private init(underlying: any ByteStream, session: consuming sending TLSSession) {
        self.underlying = underlying
        self.state = Mutex(State(session: session))
        self.info = Mutex(nil)
    }

    /// Facts about the established connection: version, cipher and peer subject.
    public var connectionInfo: TLSConnectionInfo {
        info.withLock { $0 } ?? TLSConnectionInfo(version: "none", cipher: "none", peerSubject: nil)
    }

    // MARK: - Handshakes

    /// Runs the client handshake over `stream` and returns the secure stream.
    ///
    /// The server certificate is verified as ``TLSConfiguration/certificateVerification`` says:
    /// a DNS name against the certificate's DNS names (and sent as SNI), an IP literal
    /// against its IP addresses (no SNI). Then ``TLSConfiguration/verifyCallback`` runs.
    /// On failure `stream` is closed.
    ///
    /// - Parameters:
    ///   - stream: A connected stream, e.g. TCP.
    ///   - context: The client context.
    ///   - serverHostname: The host connected to; ``TLSConfiguration/serverNameOverride`` wins.
    ///   - timeout: Time limit for the handshake, or nil for none.
    /// - Throws: ``TLSError`` (for example ``TLSError/Kind/unknownCA``,
    ///   ``TLSError/Kind/hostnameMismatch``, ``TLSError/Kind/handshakeTimeout``).
    public static func connect(
        over stream: any ByteStream,
        context: TLSContext,
        serverHostname: String?,
        timeout: Duration?
    ) async throws(TLSError) -> TLSStream {
        let hostname = context.configuration.serverNameOverride ?? serverHostname
        let session: TLSSession
        do throws(TLSError) {
            session = try TLSSession.client(context: context, hostname: hostname)
        } catch {
            await stream.close()
            throw error
        }
        let tls = TLSStream(underlying: stream, session: session)
        do throws(TLSError) {
            try await tls.handshake(timeout: timeout)
            if let verify = context.configuration.verifyCallback {
                let peer = tls.state.withLock { $0.session.peerCertificateInfo }
                guard let peer, verify(peer) else {
                    throw TLSError(.verificationRejected, "verifyCallback rejected the server's certificate \(peer?.subject ?? "(none)")")
                }
            }
        } catch {
            await tls.abort()
            throw error
        }
        return tls
    }

    /// Runs the server handshake over `stream` (for tests and fake servers).
    ///
    /// - Parameters:
    ///   - stream: A connected stream.
    ///   - context: The server context.
    ///   - timeout: Time limit for the handshake, or nil for none.
    /// - Throws: ``TLSError``; on failure `stream` is closed.
    public static func accept(
        over stream: any ByteStream,
        context: TLSServerContext,
        timeout: Duration? = nil
    ) async throws(TLSError) -> TLSStream {
        let session: TLSSession
        do throws(TLSError) {
            session = try TLSSession.server(context: context)
        } catch {
            await stream.close()
            throw error
        }
        let tls = TLSStream(underlying: stream, session: session)
        do throws(TLSError) {
            try await tls.handshake(timeout: timeout)
        } catch {
            await tls.abort()
            throw error
        }
        return tls
    }

    private func handshake(timeout: Duration?) async throws(TLSError) {
        guard let timeout else {
            return try await handshakeLoop()
        }
        let outcome: TLSError? = await withTaskGroup(of: TLSError??.self) { group in
            group.addTask {
                do throws(TLSError) {
                    try await self.handshakeLoop()
                    return .some(nil)
                } catch {
                    return .some(error)
                }
            }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                } catch {
                    return nil  // cancelled: the handshake finished first
                }
                return .some(TLSError(.handshakeTimeout, "the TLS handshake did not finish within \(timeout)"))
            }
            var first: TLSError?? = nil
            for await result in group {
                guard let result else { continue }
                first = result
                break
            }
            group.cancelAll()
            if case .some(.some(let error)) = first, error.kind == .handshakeTimeout {
                // Unblocks a handshake read that ignores cancellation.
                await underlying.close()
            }
            return first ?? nil
        }
        if let outcome { throw outcome }
    }

    /// NIOSSLHandler's order: step, then send what OpenSSL produced (alerts too), then read.
    private func handshakeLoop() async throws(TLSError) {
        while true {
            let step = state.withLock { $0.session.handshake() }
            if case .failed = step {
                try? await flush(waitForOthers: true)  // the alert, best effort; report the TLS error
            } else {
                try await flush(waitForOthers: true)
            }
            switch step {
            case .complete:
                let connectionInfo = state.withLock { $0.session.connectionInfo }
                info.withLock { $0 = connectionInfo }
                return
            case .failed(let error):
                state.withLock { $0.failure = error }
                throw error
            case .wantRead:
                let chunk: ByteBuffer?
                do {
                    chunk = try await underlying.read()
                } catch {
                    throw TLSError(.transport, "reading from the connection failed during the TLS handshake", underlying: error)
                }
                guard let chunk else {
                    throw TLSError(.closed, "the peer closed the connection during the TLS handshake")
                }
                state.withLock { $0.session.feed(chunk) }
            }
        }
    }

    // MARK: - ByteStream

    /// The stream below's preferred executor: this layer adds no thread of its own.
    public var preferredExecutor: (any TaskExecutor)? { underlying.preferredExecutor }

    /// The next decrypted bytes, or nil after the peer's close_notify (or after `close()`).
    ///
    /// - Throws: ``TLSError``: ``TLSError/Kind/closed`` when the connection ends without
    ///   close_notify, or the alert the peer sent (e.g. ``TLSError/Kind/clientCertificateRequired``).
    public nonisolated(nonsending) func read() async throws -> ByteBuffer? {
        while true {
            enum Outcome {
                case data(ByteBuffer)
                case end
                case needInput
                case failed(TLSError)
            }
            let (outcome, mustFlush): (Outcome, Bool) = state.withLock { state in
                if let failure = state.failure { return (.failed(failure), false) }
                if state.peerClosed || state.closedLocally { return (.end, false) }
                let hint = state.session.bufferedInputHint
                guard hint > 0 else { return (.needInput, false) }
                // Plaintext never exceeds the ciphertext buffered, so `hint` bytes suffice.
                let size = min(max(hint, Self.minimumReadSize), Self.maximumReadSize)
                var buffer: ByteBuffer
                if let spare = state.spareReadBuffer, spare.capacity >= size {
                    buffer = spare
                } else {
                    buffer = ByteBufferAllocator().buffer(capacity: size)
                }
                state.spareReadBuffer = nil
                let result = state.session.read(into: &buffer)
                let mustFlush = state.session.hasCiphertext
                switch result {
                case .failed(let error):
                    state.failure = error
                    return (.failed(error), mustFlush)
                case .closed:
                    state.peerClosed = true
                    return (buffer.readableBytes > 0 ? .data(buffer) : .end, mustFlush)
                case .wantRead:
                    if buffer.readableBytes > 0 { return (.data(buffer), mustFlush) }
                    state.spareReadBuffer = buffer
                    return (.needInput, mustFlush)
                }
            }
            if mustFlush {
                // Post-handshake messages (e.g. a KeyUpdate reply) or the alert for a failure.
                do {
                    try await flush(waitForOthers: false)
                } catch {
                    if case .failed = outcome {} else { throw error }
                }
            }
            switch outcome {
            case .data(let buffer): return buffer
            case .end: return nil
            case .failed(let error): throw error
            case .needInput: break
            }
            let chunk: ByteBuffer?
            do {
                chunk = try await underlying.read()
            } catch is CancellationError {
                throw CancellationError()  // the caller gave up; the connection is still usable
            } catch {
                if state.withLock({ $0.closedLocally }) { return nil }
                throw recordFailure(TLSError(.transport, "reading from the connection failed", underlying: error))
            }
            guard let chunk else {
                if state.withLock({ $0.closedLocally }) { return nil }
                throw recordFailure(TLSError(.closed, "the peer closed the connection without a TLS close_notify"))
            }
            state.withLock { $0.session.feed(chunk) }
        }
    }

    /// Encrypts and sends `bytes`, returning when the ciphertext was handed to the stream below.
    public nonisolated(nonsending) func write(_ bytes: ByteBuffer) async throws {
        var remaining = bytes
        while remaining.readableBytes > 0 {
            let length = min(remaining.readableBytes, Self.writeSliceSize)
            guard let slice = remaining.readSlice(length: length) else { break }
            try state.withLock { state throws(TLSError) in
                if let failure = state.failure { throw failure }
                if state.closedLocally { throw TLSError(.closed, "write after close()") }
                do throws(TLSError) {
                    try state.session.write(slice)
                } catch {
                    state.failure = error
                    throw error
                }
            }
            try await flush(waitForOthers: true)
        }
    }

    /// Sends close_notify (when possible) and closes the underlying stream. Idempotent.
    public func close() async {
        let first: Bool = state.withLock { state in
            guard !state.closedLocally else { return false }
            state.closedLocally = true
            if state.failure == nil { state.session.shutdown() }
            return true
        }
        guard first else { return }
        // If another task is writing, it sends the close_notify with its own bytes (or fails
        // when the stream below closes); do not wait for it.
        try? await flush(waitForOthers: false)
        await underlying.close()
    }

    /// Sends a TLS 1.3 KeyUpdate requesting one back (for tests of post-handshake messages).
    nonisolated(nonsending) func requestKeyUpdate() async throws {
        let ok = state.withLock { $0.session.requestKeyUpdate() }
        guard ok else { throw TLSError(.other, "KeyUpdate refused (TLS 1.3 only)") }
        try await flush(waitForOthers: true)
    }

    /// Closes after a failed handshake: sends nothing more, closes the stream below.
    private nonisolated(nonsending) func abort() async {
        state.withLock { $0.closedLocally = true }
        await underlying.close()
    }

    private func recordFailure(_ error: TLSError) -> TLSError {
        state.withLock { state in
            if let failure = state.failure { return failure }
            state.failure = error
            return error
        }
    }

    // MARK: - Writing ciphertext

    /// Sends the ciphertext OpenSSL produced. One task at a time owns the writing and loops
    /// until nothing is left, so records keep their order. If another task owns it, the
    /// caller either waits until that task is done (its bytes are then sent too) or returns.
    private nonisolated(nonsending) func flush(waitForOthers: Bool) async throws(TLSError) {
        enum Start {
            case write(ByteBuffer)
            case nothing
            case busy
        }
        let start: Start = state.withLock { state in
            if state.flushing { return .busy }
            guard let out = state.session.drainCiphertext() else { return .nothing }
            state.flushing = true
            return .write(out)
        }
        switch start {
        case .nothing:
            return
        case .busy:
            guard waitForOthers else { return }
            let failure: TLSError? = await withCheckedContinuation { continuation in
                let wait = state.withLock { state in
                    guard state.flushing else { return false }
                    state.flushWaiters.append(continuation)
                    return true
                }
                if !wait { continuation.resume(returning: nil) }
            }
            if let failure { throw failure }
            // The owner finished; anything we produced meanwhile was sent by it or is ours now.
            return try await flush(waitForOthers: true)
        case .write(var out):
            while true {
                do {
                    try await underlying.write(out)
                } catch {
                    let failure = TLSError(.transport, "writing to the connection failed", underlying: error)
                    let waiters = state.withLock { state in
                        if state.failure == nil { state.failure = failure }
                        state.flushing = false
                        defer { state.flushWaiters = [] }
                        return state.flushWaiters
                    }
                    waiters.forEach { $0.resume(returning: failure) }
                    throw failure
                }
                let (next, waiters) = state.withLock { state -> (ByteBuffer?, [CheckedContinuation<TLSError?, Never>]) in
                    if let more = state.session.drainCiphertext() { return (more, []) }
                    state.flushing = false
                    defer { state.flushWaiters = [] }
                    return (nil, state.flushWaiters)
                }
                guard let next else {
                    waiters.forEach { $0.resume(returning: nil) }
                    return
                }
                out = next
            }
        }
    }
}
