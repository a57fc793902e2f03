import Logging
import NATSTLS
import NATSTransport
import NATSWire
import NIOCore
import Synchronization

/// The engine behind ``NATSClient``: one lock-guarded state, a reader task and a writer
/// task per transport, a keepalive task, and the reconnect loop.
@usableFromInline
final class Connection: Sendable {
    let options: ConnectOptions
    let logger: Logger
    let state: Mutex<ConnectionState>
    let events: EventBroadcaster
    /// Connection-level hooks that other parts (handshake, auth, TLS) plug into.
    let connector: Connector
    /// `<inbox prefix>.<unique>.`: requests get reply subjects `<this><decimal id>`, all on
    /// one wildcard subscription.
    let responseInboxPrefix: String
    /// Full batches publishers sent themselves (at ``selfSendThreshold``): while it grows, a
    /// publisher in a loop is doing the sending, and the writer's timer re-arms for
    /// ``writerTickLoaded`` without taking the lock or waking the writer.
    let publisherBatches = Atomic<UInt64>(0)
    /// The epoch of the writer's latest timer (changed under the state's lock, read without
    /// it): an older timer stops when it fires.
    let writerTimerEpoch = Atomic<UInt64>(0)

    init(options: ConnectOptions, pool: ServerPool, connector: Connector) {
        self.options = options
        self.logger = options.logger
        self.connector = connector
        self.events = EventBroadcaster(handler: options.eventHandler)
        var nuid = NUID()
        self.responseInboxPrefix = "\(options.inboxPrefix).\(nuid.next())."
        self.state = Mutex(ConnectionState(pool: pool, nuid: nuid))
    }

    // MARK: - Lifecycle

    /// The name a server's certificate is checked against. A server discovered by IP address
    /// is checked against the host name the user gave, as nats.go does.
    func verifyHost(for url: ServerURL) -> String {
        guard Self.isIPLiteral(url.host) else { return url.host }
        let given = state.withLock { s in s.pool.entries.first { $0.explicit && !Self.isIPLiteral($0.url.host) }?.url.host }
        let explicit = state.withLock { s in s.pool.entries.contains { $0.explicit && ServerPool.key($0.url) == ServerPool.key(url) } }
        return explicit ? url.host : (given ?? url.host)
    }

    static func isIPLiteral(_ host: String) -> Bool {
        if host.contains(":") { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }

    /// First connect: tries the pool once (or keeps trying with retryOnFailedConnect).
    func start() async throws(NATSError) {
        var lastError: NATSError?
        let servers = state.withLock { $0.pool.urls }
        for url in servers {
            do {
                let established = try await connector.establish(url, verifyHost: verifyHost(for: url), options: options, logger: logger)
                activate(established, url: url, isReconnect: false)
                startKeepalive()
                return
            } catch {
                logger.debug("connect attempt failed", metadata: ["nats.server": "\(url)", "nats.error": "\(error.kind)"])
                if error.kind == .authorizationViolation { throw error }
                _ = state.withLock { $0.pool.recordFailure(url, maxAttempts: -1, authError: false, abortOnRepeatedAuthError: false) }
                lastError = error
            }
        }
        if options.reconnect.retryOnFailedConnect && options.reconnect.enabled {
            state.withLock { $0.phase = .reconnecting }
            startKeepalive()
            Task { await self.reconnectLoop(lastError: lastError) }
            return
        }
        let error = lastError ?? NATSError(.connection, "no server to connect to")
        state.withLock { $0.phase = .closed }
        throw error
    }

    /// Installs a freshly handshaken transport: resubscribes, then flushes what was buffered.
    private func activate(_ established: Established, url: ServerURL, isReconnect: Bool) {
        let generation: UInt64 = state.withLock { s in
            s.generation += 1
            s.phase = .connected
            s.stream = established.stream
            s.immediateWrites = established.stream.canWriteImmediately
            s.info = established.info
            s.tls = established.tls
            s.currentServer = url
            s.pingsOutstanding = 0
            s.inboundSinceTick = false
            s.pool.recordSuccess(url)
            if isReconnect {
                s.stats.reconnects += 1
                var resub = OutboundBuffer()
                resub.write(s.resubscribeBuffer(excluding: []))
                resub.write(s.outbound)
                s.outbound = resub
            }
            return s.generation
        }
        handleDiscovered(established.info, url: url)
        let stream = established.stream
        let parser = established.parser
        startLoops(stream: stream, parser: parser, generation: generation)
        let server = url.description
        logger.info("connected", metadata: ["nats.server": "\(server)"])
        events.emit(isReconnect ? .reconnected(server: server) : .connected(server: server))
        if established.info.lameDuckMode { events.emit(.lameDuckMode(server: server)) }
    }

    /// Starts the reader and writer of a transport as tasks that prefer its executor (TCP: the
    /// event loop): a read that completes, or a publish that wakes the writer, then resumes
    /// its task on the loop directly.
    func startLoops(stream: any ByteStream, parser: ServerOpParser, generation: UInt64) {
        let executor = stream.preferredExecutor
        Task(executorPreference: executor) { await self.readerLoop(stream: stream, parser: parser, generation: generation) }
        Task(executorPreference: executor) { await self.writerLoop(stream: stream, generation: generation) }
    }

    /// Called by the reader or writer when the transport of `generation` failed or ended.
    func transportLost(generation: UInt64, error: NATSError?) {
        enum Next { case ignore, reconnect(String, [ResultResolver<Void>]), close([ResultResolver<Void>]) }
        var spaceWaiters: [UnsafeContinuation<Void, Never>] = []
        let next: Next = state.withLock { s in
            guard s.generation == generation, s.phase == .connected || s.phase == .draining else { return .ignore }
            let stream = s.stream
            s.stream = nil
            s.staleStreams.append(stream)
            let failed = s.takeSentPongWaiters(generation: generation)
            s.writerWaiter?.wake()
            s.writerWaiter = nil
            // Publishers waiting for room try again: while reconnecting, the reconnect buffer
            // takes their messages (or tells them it is full).
            swap(&s.spaceWaiters, &spaceWaiters)
            let server = s.currentServer?.description ?? "?"
            if s.phase == .draining || !options.reconnect.enabled {
                s.phase = .closed
                return .close(failed)
            }
            s.phase = .reconnecting
            return .reconnect(server, failed)
        }
        for w in spaceWaiters { w.resume() }
        switch next {
        case .ignore:
            return
        case .reconnect(let server, let failed):
            for w in failed { w.resume(throwing: NATSError(.connection, "the connection was lost before the server answered")) }
            logger.info("disconnected", metadata: ["nats.server": "\(server)"])
            events.emit(.disconnected(server: server, error: error))
            closeStaleStreams()
            Task { await self.reconnectLoop(lastError: error) }
        case .close(let failed):
            for w in failed { w.resume(throwing: NATSError(.connection, "the connection was lost before the server answered")) }
            let server = state.withLock { $0.currentServer?.description ?? "?" }
            events.emit(.disconnected(server: server, error: error))
            closeStaleStreams()
            finishClose(reason: error)
        }
    }

    private func closeStaleStreams() {
        let streams = state.withLock { s in
            let list = s.staleStreams
            s.staleStreams = []
            return list
        }
        for case let stream? in streams {
            Task { await stream.close() }
        }
    }

    private func reconnectLoop(lastError: NATSError?) async {
        var attempt = 0
        var pass = 1
        var lastError = lastError
        var rng = SystemRandomNumberGenerator()
        while true {
            let choice: ServerPool.Entry? = state.withLock { s in
                guard s.phase == .reconnecting else { return nil }
                return s.pool.next()
            }
            guard let entry = choice else {
                let stillReconnecting = state.withLock { $0.phase == .reconnecting }
                if stillReconnecting {
                    let reason: NATSError
                    if let lastError, lastError.kind == .authorizationViolation {
                        reason = NATSError(.authorizationViolation, "stopped reconnecting: every server rejected the credentials; \(lastError.message)", serverError: lastError.serverError)
                    } else {
                        reason = NATSError(.connection, "reconnect attempts exhausted (maxReconnects) on every server" + (lastError.map { "; last error: \($0)" } ?? ""))
                    }
                    finishClose(reason: reason)
                }
                return
            }
            if let last = entry.lastAttempt {
                let elapsed = Moment.now - last
                let wait = Backoff.delay(pass: pass, tls: entry.url.requiresTLS || connector.usesTLS(options),
                                         options: options.reconnect, random: Double.random(in: 0...1, using: &rng))
                if elapsed < wait {
                    do { try await Task.sleep(for: wait - elapsed) } catch { return }
                    pass += 1
                }
            }
            guard state.withLock({ $0.phase == .reconnecting }) else { return }
            attempt += 1
            events.emit(.reconnecting(attempt: attempt))
            state.withLock { $0.pool.recordAttempt(entry.url, at: .now) }
            do {
                let established = try await connector.establish(entry.url, verifyHost: verifyHost(for: entry.url), options: options, logger: logger)
                let proceed = state.withLock { $0.phase == .reconnecting }
                guard proceed else {
                    await established.stream.close()
                    return
                }
                activate(established, url: entry.url, isReconnect: true)
                return
            } catch {
                lastError = error
                logger.debug("reconnect attempt failed", metadata: ["nats.server": "\(entry.url)", "nats.error": "\(error.kind)"])
                state.withLock {
                    _ = $0.pool.recordFailure(
                        entry.url, maxAttempts: options.reconnect.maxAttemptsPerServer,
                        authError: error.kind == .authorizationViolation,
                        abortOnRepeatedAuthError: !options.reconnect.ignoreAuthErrorAbort
                    )
                }
            }
        }
    }

    /// Forces the current transport closed so the client reconnects (to another server if any).
    func forceReconnect() async {
        // transportLost closes the stream itself, after recording why.
        let generation = state.withLock { $0.generation }
        transportLost(generation: generation, error: NATSError(.connection, "reconnect forced by the application"))
    }

    /// Closes for good: fails waiters, ends subscriptions, closes the transport.
    func finishClose(reason: NATSError?) {
        let (stream, subs, waiters, requests, writer, spaceWaiters, alreadyClosed) = state.withLock { s in
            let already = s.closedEmitted
            s.closedEmitted = true
            s.phase = .closed
            let stream = s.stream
            s.stream = nil
            let subs = Array(s.subscriptions.values.map(\.queue))
            s.subscriptions.removeAll()
            let waiters = s.pongWaiters.compactMap(\.continuation)
            s.pongWaiters.removeAll()
            let requests = Array(s.requests.values)
            s.requests.removeAll()
            let writer = s.writerWaiter
            s.writerWaiter = nil
            let space = s.spaceWaiters
            s.spaceWaiters.removeAll()
            return (stream, subs, waiters, requests, writer, space, already)
        }
        writer?.wake()
        spaceWaiters.forEach { $0.resume() }
        waiters.forEach { $0.resume(throwing: NATSError.closed) }
        requests.forEach { $0.continuation.resume(throwing: NATSError.closed) }
        subs.forEach { $0.finish() }
        if let stream { Task { await stream.close() } }
        if !alreadyClosed {
            logger.info("closed")
            events.emit(.closed(reason: reason))
            events.finish()
        }
    }

    // MARK: - Reader

    nonisolated(nonsending) func readerLoop(stream: any ByteStream, parser: ServerOpParser, generation: UInt64) async {
        var parser = parser
        var deliveries = Deliveries()
        do {
            // Bytes that arrived with the handshake's PONG.
            while let op = try parser.next() { handle(op, generation: generation, deliveries: &deliveries) }
            finishChunk(&deliveries)
            while let chunk = try await stream.read() {
                state.withLock { $0.inboundSinceTick = true }
                parser.append(chunk)
                while let op = try parser.next() { handle(op, generation: generation, deliveries: &deliveries) }
                // Queued once per chunk and subscription; parked consumers woken once per chunk.
                finishChunk(&deliveries)
            }
            transportLost(generation: generation, error: NATSError(.connection, "the server closed the connection"))
        } catch let error as ProtocolError {
            finishChunk(&deliveries)
            logger.info("protocol error", metadata: ["nats.error": "\(error)"])
            transportLost(generation: generation, error: NATSError(.protocol, error.description, underlying: error))
        } catch {
            finishChunk(&deliveries)
            transportLost(generation: generation, error: NATSError(.connection, "read failed: \(error)", underlying: error))
        }
    }

    private func handle(_ op: consuming ServerOp, generation: UInt64, deliveries: inout Deliveries) {
        if case .msg = op {} else {
            // Whatever follows a message (a PONG that ends a drain, an error) sees it queued.
            queueDeliveries(&deliveries)
        }
        switch consume op {
        case .msg(let m):
            deliver(m, deliveries: &deliveries)
        case .ping:
            enqueueControl { ClientOpEncoder.writePong(to: &$0) }
        case .pong:
            let waiter: ResultResolver<Void>? = state.withLock { s in
                if s.generation == generation { s.pingsOutstanding = 0 }
                return s.popPongWaiter(generation: generation)
            }
            waiter?.resume()
        case .ok:
            break
        case .info(let info):
            let (url, wasLDM) = state.withLock { s -> (ServerURL?, Bool) in
                guard s.generation == generation else { return (nil, true) }
                let was = s.info?.lameDuckMode ?? false
                s.info = info
                return (s.currentServer, was)
            }
            if let url {
                handleDiscovered(info, url: url)
                if info.lameDuckMode && !wasLDM {
                    logger.info("server entered lame duck mode", metadata: ["nats.server": "\(url)"])
                    events.emit(.lameDuckMode(server: url.description))
                    if options.reconnect.migrateOnLameDuck { scheduleMigration(from: generation) }
                }
            }
        case .err(let serverError):
            let error = NATSError.from(server: serverError)
            logger.info("server error", metadata: ["nats.error": "\(serverError.text)"])
            // After errors such as a stale connection or an authentication error the server
            // closes the connection; the read loop then reports it.
            events.emit(.serverError(error))
        }
    }

    private func handleDiscovered(_ info: ServerInfo, url: ServerURL) {
        guard !options.reconnect.ignoreDiscoveredServers else { return }
        let announced = url.isWebSocket ? info.wsConnectURLs : info.connectURLs
        guard !announced.isEmpty else { return }
        let added = state.withLock { s in
            // Made here, not captured: the address of a captured zero-sized inout value is
            // undefined, and ThreadSanitizer's instrumentation of the access dereferenced it.
            var rng = SystemRandomNumberGenerator()
            return s.pool.mergeDiscovered(announced, template: url, using: &rng, shuffle: !options.reconnect.retainServersOrder)
        }
        if !added.isEmpty {
            events.emit(.discoveredServers(added.map(\.description)))
        }
    }

    /// The messages the reader routed to one subscription and has not queued yet, and the
    /// parked consumers to wake: a chunk's messages are queued with one lock per run of
    /// messages for the same subscription, not one per message.
    struct Deliveries: ~Copyable {
        var queue: SubscriptionQueue?
        var sid: UInt64 = 0
        var messages = MessageRing()
        var bytes = 0
        var wakeups: [SubscriptionQueue.Wakeup] = []
    }

    func deliver(_ op: consuming MessageOp, deliveries: inout Deliveries) {
        let sid = op.sid
        let size = op.totalSize
        enum Route { case none, queue(SubscriptionQueue, last: Bool), request(ResultResolver<NATSMessage>) }
        let route: Route = state.withLock { s in
            s.stats.inMessages += 1
            s.stats.inBytes += UInt64(size)
            if sid == s.responseSID {
                let token = Self.requestID(in: op.subjectBytes, prefixLength: responseInboxPrefix.utf8.count)
                if let token, let pending = s.requests.removeValue(forKey: token) {
                    return .request(pending.continuation)
                }
                return .none
            }
            let record: SubscriptionRecord
            if let routed = s.lastRouted, routed.sid == sid {
                record = routed.record
            } else {
                guard let found = s.subscriptions[sid] else { return .none }
                record = found
                s.lastRouted = (sid, found)
            }
            let (queue, last) = record.route()
            if last { s.subscriptions[sid] = nil }
            return .queue(queue, last: last)
        }
        switch route {
        case .none:
            return
        case .request(let continuation):
            let message = NATSMessage(op)
            if message.status == NATSHeaders.Status.noResponders && message.payloadSize == 0 {
                continuation.resume(throwing: NATSError.noResponders)
            } else {
                continuation.resume(returning: message)
            }
        case .queue(let queue, let last):
            if deliveries.queue !== queue {
                queueDeliveries(&deliveries)
                deliveries.queue = queue
                deliveries.sid = sid
            }
            deliveries.bytes += op.payloadSize
            deliveries.messages.append(NATSMessage(op))
            if last {
                // Deliver the last message before ending the sequence.
                finishChunk(&deliveries)
                queue.finish()
            }
        }
    }

    /// Queues the messages routed so far (and reports a slow consumer's first drop).
    func queueDeliveries(_ deliveries: inout Deliveries) {
        guard let queue = deliveries.queue else { return }
        deliveries.queue = nil
        guard !deliveries.messages.isEmpty else { return }
        let (firstDrop, wakeup) = queue.enqueue(contentsOf: &deliveries.messages, bytes: deliveries.bytes)
        deliveries.bytes = 0
        // The reader's runs are short (one read's worth): storage grown by a long one is let
        // go rather than kept per reader.
        deliveries.messages.shrinkIfEmpty(to: SubscriptionQueue.keptCapacity)
        if let wakeup { deliveries.wakeups.append(wakeup) }
        if firstDrop {
            logger.info("slow consumer, dropping messages", metadata: ["nats.sid": "\(deliveries.sid)"])
            events.emit(.slowConsumer(subject: queue.subject, sid: deliveries.sid))
        }
    }

    /// Queues what was routed and wakes the consumers that were parked.
    func finishChunk(_ deliveries: inout Deliveries) {
        queueDeliveries(&deliveries)
        for w in deliveries.wakeups { w.resume() }
        deliveries.wakeups.removeAll(keepingCapacity: true)
    }

    /// The decimal request id after the response prefix of a reply subject.
    private static func requestID(in subject: ByteBuffer, prefixLength: Int) -> UInt64? {
        subject.withUnsafeReadableBytes { raw -> UInt64? in
            guard raw.count > prefixLength, raw.count - prefixLength <= 19 else { return nil }
            var id: UInt64 = 0
            for b in raw[prefixLength...] {
                guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
                id = id * 10 + UInt64(b - UInt8(ascii: "0"))
            }
            return id
        }
    }

    // MARK: - Keepalive

    private func startKeepalive() {
        let interval = options.pingInterval
        let maxOut = options.maxPingsOutstanding
        Task { [weak self] in
            while true {
                do { try await Task.sleep(for: interval) } catch { return }
                guard let self else { return }
                enum Tick { case idle, ping(WriterWaiter?), stale(UInt64), stop }
                let tick: Tick = self.state.withLock { s in
                    switch s.phase {
                    case .closed: return .stop
                    case .connecting, .reconnecting: return .idle
                    case .connected, .draining:
                        if s.inboundSinceTick {
                            s.inboundSinceTick = false
                            s.pingsOutstanding = 0
                            return .idle
                        }
                        if s.pingsOutstanding >= maxOut { return .stale(s.generation) }
                        s.pingsOutstanding += 1
                        ClientOpEncoder.writePing(to: &s.outbound)
                        s.pongWaiters.append(PongWaiter(id: 0, continuation: nil, sent: false))
                        return .ping(s.takeWriterWaiter())
                    }
                }
                switch tick {
                case .stop: return
                case .idle: continue
                case .ping(let w): w?.wake()
                case .stale(let generation):
                    self.logger.info("stale connection: no answer to \(maxOut) PINGs")
                    // Report the cause first: transportLost also closes the stream, and a reader
                    // seeing the close first would report it as the server closing.
                    self.transportLost(generation: generation, error: NATSError(.connection, "stale connection: the server did not answer \(maxOut) PINGs"))
                }
            }
        }
    }
}

/// A batch a publisher sends itself, on the transport of its generation.
struct DirectSend: Sendable {
    var batch: OutboundBuffer
    let stream: any ByteStream
    let generation: UInt64
}

/// A flush (continuation) or keepalive (nil) waiting for a PONG.
struct PongWaiter: Sendable {
    var id: UInt64 = 0
    var continuation: ResultResolver<Void>?
    /// Whether its PING was handed to a transport (else it is still in `outbound`).
    var sent: Bool
    /// The transport generation its PING went out on; its PONG comes back on the same one.
    var generation: UInt64 = 0
}

struct PendingRequest: Sendable {
    let continuation: ResultResolver<NATSMessage>
    let deadline: Moment
    let timeout: Duration
    let subject: String
}

/// One subscription's bookkeeping. A class, so that routing a message finds it without
/// copying it (a dictionary's modify accessor allocated its coroutine frames, 3 mallocs per
/// message); its `var`s are only read and written under `Connection.state`'s lock.
final class SubscriptionRecord: @unchecked Sendable {
    let subject: String
    let queueGroup: String?
    let queue: SubscriptionQueue
    var maxMessages: UInt64? = nil
    /// Messages routed to this subscription: what counts towards `maxMessages`, and what a
    /// resubscription's remaining auto-unsubscribe count is reduced by.
    var routed: UInt64 = 0

    init(subject: String, queueGroup: String?, queue: SubscriptionQueue) {
        self.subject = subject
        self.queueGroup = queueGroup
        self.queue = queue
    }

    /// Counts a message: the queue to deliver to, and whether it is the last one
    /// `maxMessages` allows.
    func route() -> (SubscriptionQueue, Bool) {
        routed += 1
        guard let max = maxMessages else { return (queue, false) }
        return (queue, routed >= max)
    }
}

/// Everything the lock guards.
struct ConnectionState: Sendable {
    enum Phase: Sendable, Equatable { case connecting, connected, reconnecting, draining, closed }

    var phase: Phase = .connecting
    var generation: UInt64 = 0
    var stream: (any ByteStream)?
    var staleStreams: [(any ByteStream)?] = []
    var info: ServerInfo? {
        didSet { maxPayload = info?.maxPayload ?? Int.max }
    }
    /// The server's max_payload, cached for the publish path.
    var maxPayload = Int.max
    var tls: TLSConnectionInfo?
    var currentServer: ServerURL?
    var pool: ServerPool
    var outbound = OutboundBuffer()
    var spare: OutboundBuffer?
    /// Whether the transport takes synchronous sends (``ByteStream/canWriteImmediately``).
    var immediateWrites = false
    /// A publisher is sending the outbound bytes itself (``Connection/writeDirectly(_:to:generation:)``).
    var publisherWriting = false
    /// The unsent part of a publisher's own send is being written by the writer; publishers
    /// wait for it (the socket is full), as for a full buffer.
    var restInFlight = false
    /// An operation that must not wait for the writer's timer (a control line, a request, a
    /// reply) is in `outbound`.
    var outboundUrgent = false
    /// Bytes taken out of `outbound` so far; with its count, how much was appended (the
    /// writer's measure of how fast publishers fill it).
    var outboundTaken: UInt64 = 0
    var lastPublisherWrite = Moment.now
    /// When a publish was appended to an empty `outbound` (or earlier, never later): the
    /// writer's timer sends publishes once the oldest has waited ``Connection/writerTick``.
    var outboundSince = Moment.now
    /// A publisher's own send, between the turn of the lock that decided it and the one
    /// that hands it over (``Connection/writeDirectly(_:to:generation:)``).
    var directSend: DirectSend?
    /// The part of a publisher's own send its transport did not take: the writer of that
    /// transport sends it before anything else; it never goes to another transport.
    var unsentRest: (OutboundBuffer, UInt64)?
    /// Batches publishers sent themselves (for tests).
    var publisherSends = 0
    var writerWaiter: WriterWaiter?
    /// Publishers waiting for the writer to take the outbound buffer. Unsafe continuations,
    /// each taken out under the lock and resumed once (a checked one allocates).
    var spaceWaiters: [UnsafeContinuation<Void, Never>] = []
    var subscriptions: [UInt64: SubscriptionRecord] = [:] {
        didSet { lastRouted = nil }
    }
    /// The subscription the last message went to: a flood to one subscription skips the
    /// dictionary's hashing. Any change to `subscriptions` forgets it.
    var lastRouted: (sid: UInt64, record: SubscriptionRecord)?
    var nextSID: UInt64 = 1
    var pongWaiters: [PongWaiter] = []
    var pingsOutstanding = 0
    var inboundSinceTick = false
    var stats = NATSStatistics()
    var closedEmitted = false
    var responseSID: UInt64?
    var requests: [UInt64: PendingRequest] = [:]
    var nextRequestID: UInt64 = 0
    var nextFlushID: UInt64 = 0
    /// The deadline the request timer sleeps towards, and which timer is current.
    var requestTimerDeadline: Moment?
    var requestTimerEpoch: UInt64 = 0
    var exitedWriters: Set<UInt64> = []
    var writerExitWaiters: [UInt64: [CheckedContinuation<Void, Never>]] = [:]
    var nuid: NUID

    init(pool: ServerPool, nuid: NUID) {
        self.pool = pool
        self.nuid = nuid
    }

    /// SUB (and the remaining auto-unsubscribe count) for every subscription not in `excluding`.
    func resubscribeBuffer(excluding: Set<UInt64>) -> ByteBuffer {
        var resub = ByteBuffer()
        for (sid, sub) in subscriptions.sorted(by: { $0.key < $1.key }) where !excluding.contains(sid) {
            ClientOpEncoder.writeSub(subject: sub.subject, queue: sub.queueGroup, sid: sid, to: &resub)
            if let max = sub.maxMessages {
                ClientOpEncoder.writeUnsub(sid: sid, max: max - min(max, sub.routed), to: &resub)
            }
        }
        return resub
    }

    /// The outbound bytes, for one send; the spare buffer (or a new one) takes their place.
    mutating func takeOutbound() -> OutboundBuffer {
        var next = spare ?? OutboundBuffer()
        spare = nil
        next.removeAll()
        outboundTaken &+= UInt64(outbound.count)
        outboundUrgent = false
        swap(&outbound, &next)
        return next
    }

    /// Whether a connected publisher waits for the writer before appending: the buffer is
    /// past the high-water mark, or the socket did not take all of a publisher's own send.
    var publishersMustWait: Bool {
        outbound.count > Connection.outboundHighWater || restInFlight || unsentRest != nil
    }

    /// Bytes appended to `outbound` so far (wrapping).
    var outboundAppended: UInt64 { outboundTaken &+ UInt64(outbound.count) }

    /// Whether the writer waits for its own timer, so that a publish that may wait need not
    /// wake it.
    var writerTicking: Bool { writerWaiter.map { $0.tickEpoch != 0 } ?? false }

    /// The parked writer of the current transport, to wake now: what was appended must not
    /// wait for its timer (a control line, a request, a reply), even if it is writing.
    mutating func takeWriterWaiter() -> WriterWaiter? {
        outboundUrgent = true
        return takeWriterWaiterIfParked()
    }

    /// The parked writer of the current transport, if any, taken out to wake.
    mutating func takeWriterWaiterIfParked() -> WriterWaiter? {
        guard let w = writerWaiter, w.generation == generation else { return nil }
        writerWaiter = nil
        return w
    }

    mutating func markPongWaitersSent(generation: UInt64) {
        for i in pongWaiters.indices where !pongWaiters[i].sent {
            pongWaiters[i].sent = true
            pongWaiters[i].generation = generation
        }
    }

    /// Removes the waiters whose PING went out on the lost transport; those still in the
    /// outbound buffer stay, since their PING goes out after reconnecting.
    mutating func takeSentPongWaiters(generation: UInt64) -> [ResultResolver<Void>] {
        let lost = pongWaiters.filter { $0.sent && $0.generation == generation }
        pongWaiters.removeAll { $0.sent && $0.generation == generation }
        pingsOutstanding = 0
        return lost.compactMap(\.continuation)
    }

    /// The oldest waiter whose PING went out on `generation`; PONGs come back in order per transport.
    mutating func popPongWaiter(generation: UInt64) -> ResultResolver<Void>? {
        guard let i = pongWaiters.firstIndex(where: { $0.sent && $0.generation == generation }) else { return nil }
        return pongWaiters.remove(at: i).continuation
    }
}

/// Fans events out to the handler and to every `events` sequence.
final class EventBroadcaster: Sendable {
    private let handler: (@Sendable (NATSEvent) -> Void)?
    private let continuations = Mutex<(next: Int, map: [Int: AsyncStream<NATSEvent>.Continuation], finished: Bool)>((0, [:], false))

    init(handler: (@Sendable (NATSEvent) -> Void)?) {
        self.handler = handler
    }

    func emit(_ event: NATSEvent) {
        handler?(event)
        let targets = continuations.withLock { Array($0.map.values) }
        targets.forEach { $0.yield(event) }
    }

    func finish() {
        let targets = continuations.withLock { s in
            s.finished = true
            let t = Array(s.map.values)
            s.map.removeAll()
            return t
        }
        targets.forEach { $0.finish() }
    }

    func stream() -> AsyncStream<NATSEvent> {
        let (stream, continuation) = AsyncStream<NATSEvent>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        let finished = continuations.withLock { s -> Bool in
            if s.finished { return true }
            let id = s.next
            s.next += 1
            s.map[id] = continuation
            continuation.onTermination = { [weak self] _ in
                _ = self?.continuations.withLock { $0.map.removeValue(forKey: id) }
            }
            return false
        }
        if finished { continuation.finish() }
        return stream
    }
}
