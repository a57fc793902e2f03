@_exported public import NATSAuth
@_exported public import NATSWire
@_exported public import NATSTLS
@_exported public import NATSWebSocket
@_exported public import NATSTransport
public import NIOCore
import Synchronization

/// A connection to a NATS server or cluster.
///
/// ```swift
/// let client = try await NATSClient.connect("nats://127.0.0.1:4222")
/// let sub = try await client.subscribe(to: "greet.*")
/// try await client.publish("hello", to: "greet.joe")
/// for try await message in sub { print(message.subject, message.string); break }
/// await client.close()
/// ```
///
/// All methods may be called from any task. Publishing never creates a task or hops to an
/// actor: it appends to an outbound buffer that one writer task sends in large batches.
public final class NATSClient: Sendable {
    @usableFromInline let connection: Connection

    private init(connection: Connection) {
        self.connection = connection
    }

    deinit {
        connection.finishClose(reason: nil)
    }

    // MARK: - Connecting

    /// Connects to `url`: one URL or a comma-separated list (`nats://a:4222,nats://b:4222`).
    ///
    /// - Throws: ``NATSError`` with kind `.config` for a bad URL or option, `.connection` or
    ///   `.timeout` when no server could be reached, `.authorizationViolation` when the server
    ///   rejected the credentials (not retried), `.secureConnectionRequired` and `.tls`.
    public static func connect(_ url: String, options: ConnectOptions = ConnectOptions()) async throws(NATSError) -> NATSClient {
        let urls: [ServerURL]
        do {
            urls = try ServerURL.parseList(url)
        } catch {
            throw NATSError(.config, "\(error)", underlying: error)
        }
        return try await connect(parsed: urls, options: options)
    }

    /// Connects to any of `urls`.
    public static func connect(_ urls: [String], options: ConnectOptions = ConnectOptions()) async throws(NATSError) -> NATSClient {
        var parsed: [ServerURL] = []
        for u in urls {
            do {
                parsed.append(contentsOf: try ServerURL.parseList(u))
            } catch {
                throw NATSError(.config, "\(error)", underlying: error)
            }
        }
        return try await connect(parsed: parsed, options: options)
    }

    private static func connect(parsed urls: [ServerURL], options: ConnectOptions) async throws(NATSError) -> NATSClient {
        guard !urls.isEmpty else { throw NATSError(.config, "no server URL given") }
        try options.validate()
        let webSocket = urls.filter(\.isWebSocket).count
        if webSocket != 0 && webSocket != urls.count {
            throw NATSError(.config, "a server list cannot mix WebSocket (ws://, wss://) and non-WebSocket URLs")
        }
        var rng = SystemRandomNumberGenerator()
        let pool = ServerPool(urls: urls, shuffle: !options.reconnect.retainServersOrder, using: &rng)
        let connection = Connection(options: options, pool: pool, connector: Connector())
        try await connection.start()
        return NATSClient(connection: connection)
    }

    // MARK: - State

    /// The latest INFO from the server, if connected at least once.
    public var serverInfo: ServerInfo? { connection.state.withLock { $0.info } }

    /// Whether a transport is up and the handshake done.
    public var isConnected: Bool { connection.state.withLock { $0.phase == .connected } }

    /// Whether the client is closed for good.
    public var isClosed: Bool { connection.state.withLock { $0.phase == .closed } }

    /// The URL of the server in use (credentials hidden in its description).
    public var connectedServer: String? { connection.state.withLock { $0.currentServer?.description } }

    /// The negotiated TLS state (version, cipher, peer certificate subject), when TLS is in use.
    public var tlsInfo: TLSConnectionInfo? { connection.state.withLock { $0.tls } }

    /// The task executor the current transport reads and writes on (for TCP, its event loop),
    /// or `nil` when not connected or the transport has none.
    ///
    /// A short message handler run in a task that prefers it (`Task(executorPreference:)`)
    /// receives and answers without a thread hop: the reply leaves in the same turn of the
    /// loop. Keep such handlers brief: while one runs, the loop does no I/O. Likewise a task
    /// that sends requests one after another: each reply resumes it in the turn of the loop
    /// that read it, where a task on the global executor waits for one of its threads to wake
    /// (BENCHMARKS.md measures both). Where latency matters more than a core's worth of CPU,
    /// `options.dialer = TCPDialer(busyPoll: .microseconds(150))` also spares the loop's
    /// thread the wake-up for each reply (``TCPDialer/busyPoll``).
    ///
    /// A bulk publisher in such a task encodes and sends in turn on one thread, like a
    /// single-threaded client, instead of alongside the writer: where the server shares the
    /// cores, that leaves it more CPU (about 1.1-1.2 times the messages per second on two
    /// cores, BENCHMARKS.md). The loop reads again each time the publisher waits for the
    /// writer, at least every 256 KiB.
    public var preferredExecutor: (any TaskExecutor)? { connection.state.withLock { $0.stream?.preferredExecutor } }

    /// Traffic counters.
    public var statistics: NATSStatistics { connection.state.withLock { $0.stats } }

    /// A new sequence of this client's events from now on. Each access makes a new sequence;
    /// it ends when the client closes.
    public var events: AsyncStream<NATSEvent> { connection.events.stream() }

    /// A fresh inbox subject under the configured prefix.
    public func newInbox() -> String {
        let id = connection.state.withLock { $0.nuid.next() }
        return "\(connection.options.inboxPrefix).\(id)"
    }

    // MARK: - Publishing

    /// Publishes `payload` to `subject`.
    ///
    /// Returns once the message is in the outbound buffer (not when the server has it; use
    /// ``flush(timeout:)`` for that). Suspends only when the buffer is full, and runs on the
    /// caller's executor: an actor publishing does not hop off it.
    ///
    /// While messages are being sent, a message without a `reply` subject may wait in the
    /// client up to 100 µs (500 µs right after a publisher in a loop sent 64 KiB at once), so
    /// that a fast publisher's messages travel in large writes; a request (a `reply`
    /// subject), a ``respond(to:with:headers:)`` and ``flush(timeout:)`` go out at once.
    ///
    /// - Throws: `.invalidSubject`, `.invalidHeaders`, `.maxPayloadExceeded` (nothing is sent),
    ///   `.reconnectBufferExceeded` while disconnected, `.connectionClosed`.
    // Inlinable, so that a publish costs the caller a plain call: an async call of its own
    // allocated and freed a frame in the task allocator, a third of a small publish's time.
    @inlinable
    public nonisolated(nonsending) func publish(_ payload: ByteBuffer, to subject: String, reply: String? = nil, headers: NATSHeaders? = nil) async throws(NATSError) {
        if try connection.publishNow(payload, subject: subject, reply: reply, headers: headers) { return }
        try await connection.publishWhenRoom(payload, subject: subject, reply: reply, headers: headers)
    }

    /// Publishes bytes (`[UInt8]`, `Data`, …) to `subject`.
    public nonisolated(nonsending) func publish(_ payload: some Collection<UInt8> & Sendable, to subject: String, reply: String? = nil, headers: NATSHeaders? = nil) async throws(NATSError) {
        try await send(CollectionPayload(payload), subject: subject, reply: reply, headers: headers)
    }

    /// Publishes a string's UTF-8 bytes to `subject`.
    @inlinable
    public nonisolated(nonsending) func publish(_ payload: String, to subject: String, reply: String? = nil, headers: NATSHeaders? = nil) async throws(NATSError) {
        if try connection.publishNow(payload, subject: subject, reply: reply, headers: headers) { return }
        try await connection.publishWhenRoom(payload, subject: subject, reply: reply, headers: headers)
    }

    /// Validates once; the common case then appends without suspending or another async call.
    @inline(__always)
    private nonisolated(nonsending) func send(_ payload: some OutboundPayload, subject: String, reply: String?, headers: NATSHeaders?) async throws(NATSError) {
        if try connection.validateAndPublish(payload, subject: subject, reply: reply, headers: headers) { return }
        try await connection.publishAfterWaiting(payload, subject: subject, reply: reply, headers: headers)
    }

    /// Publishes `payload` to the reply subject of `message`: the way to answer a request.
    ///
    /// The reply subject goes from the received bytes straight into the outbound buffer,
    /// without decoding it into a `String` (which allocates for subjects over 15 bytes).
    ///
    /// - Throws: `.invalidSubject` when `message` has no reply subject (or one that cannot be
    ///   sent), and the errors of publishing.
    public nonisolated(nonsending) func respond(to message: NATSMessage, with payload: ByteBuffer, headers: NATSHeaders? = nil) async throws(NATSError) {
        try await respond(payload, to: message, headers: headers)
    }

    /// Responds to `message` with bytes (`[UInt8]`, `Data`, …).
    public nonisolated(nonsending) func respond(to message: NATSMessage, with payload: some Collection<UInt8> & Sendable, headers: NATSHeaders? = nil) async throws(NATSError) {
        try await respond(CollectionPayload(payload), to: message, headers: headers)
    }

    /// Responds to `message` with a string's UTF-8 bytes.
    public nonisolated(nonsending) func respond(to message: NATSMessage, with payload: String, headers: NATSHeaders? = nil) async throws(NATSError) {
        try await respond(CollectionPayload(payload.utf8), to: message, headers: headers)
    }

    @inline(__always)
    private nonisolated(nonsending) func respond(_ payload: some OutboundPayload, to message: NATSMessage, headers: NATSHeaders?) async throws(NATSError) {
        guard let reply = message.replyBytes else {
            throw NATSError(.invalidSubject, "the message has no reply subject to respond to (it was not sent as a request)")
        }
        try connection.validateResponse(to: reply, headers: headers)
        if try connection.tryPublish(payload, subjectBytes: reply, headers: headers) { return }
        try await connection.publishAfterWaiting(payload, subjectBytes: reply, headers: headers)
    }

    // MARK: - Subscribing

    /// Subscribes to `subject` (wildcards allowed), optionally in a queue group.
    ///
    /// Iterate the result to receive messages. Leaving the loop, or cancelling the iterating
    /// task, unsubscribes.
    ///
    /// - Throws: `.invalidSubject` for a bad subject or queue group, `.connectionClosed`.
    public func subscribe(to subject: String, queue: String? = nil) async throws(NATSError) -> NATSSubscription {
        try connection.subscribe(subject: subject, queueGroup: queue)
    }

    // MARK: - Request/reply

    /// Sends a request and waits for the first reply.
    ///
    /// - Parameter timeout: defaults to the options' `requestTimeout`.
    /// - Throws: `.noResponders` at once when nobody listens on `subject`, `.timeout`,
    ///   `.cancelled` when the task is cancelled, and the errors of publishing.
    public func request(_ payload: ByteBuffer, to subject: String, headers: NATSHeaders? = nil, timeout: Duration? = nil) async throws(NATSError) -> NATSMessage {
        try await connection.request(payload, subject: subject, headers: headers, timeout: timeout ?? connection.options.requestTimeout)
    }

    /// Sends a request with a byte payload and waits for the first reply.
    public func request(_ payload: some Collection<UInt8> & Sendable, to subject: String, headers: NATSHeaders? = nil, timeout: Duration? = nil) async throws(NATSError) -> NATSMessage {
        try await connection.request(CollectionPayload(payload), subject: subject, headers: headers, timeout: timeout ?? connection.options.requestTimeout)
    }

    /// Sends a request with a string payload and waits for the first reply.
    public func request(_ payload: String, to subject: String, headers: NATSHeaders? = nil, timeout: Duration? = nil) async throws(NATSError) -> NATSMessage {
        try await connection.request(CollectionPayload(payload.utf8), subject: subject, headers: headers, timeout: timeout ?? connection.options.requestTimeout)
    }

    // MARK: - Flush, drain, close

    /// Waits until the server has processed everything sent before this call (a PING/PONG
    /// round trip).
    ///
    /// - Throws: `.timeout`, `.connection` when not connected, `.connectionClosed`.
    public func flush(timeout: Duration = .seconds(10)) async throws(NATSError) {
        try await connection.flush(timeout: timeout)
    }

    /// Unsubscribes everything, lets subscribers consume what is already buffered, flushes
    /// what was published, then closes.
    public func drain(timeout: Duration = .seconds(30)) async throws(NATSError) {
        try await connection.drain(timeout: timeout)
    }

    /// Closes the connection after a short best-effort flush of what was published.
    /// Subscriptions end; pending requests and flushes fail with `.connectionClosed`.
    public func close() async {
        await connection.close()
    }

    /// Drops the current transport and reconnects (to another server of the pool if any).
    public func forceReconnect() async {
        await connection.forceReconnect()
    }
}
