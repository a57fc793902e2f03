import NATSTransport
import NATSWire
import NIOCore
import Synchronization

/// Payload bytes the encoder can write without knowing their type.
protocol OutboundPayload: Sendable {
    var byteCount: Int { get }
    /// The payload's bytes, contiguous, during `body`.
    func withBytes(_ body: (UnsafeRawBufferPointer) -> Void)
    func writePub(subject: String, reply: String?, headers: NATSHeaders?, to buffer: inout OutboundBuffer)
    /// Writes a PUB if `subject` and `reply` have only visible bytes, checked while copying
    /// them (``ClientOpEncoder/writeVisiblePub(subject:reply:payload:to:)-(_,_,ByteBuffer,_)``).
    func writeVisiblePub(subject: String, reply: String?, to buffer: inout OutboundBuffer) -> Bool
    /// Writes a PUB/HPUB to a subject that is already bytes.
    func writePub(subject: ByteBuffer, headers: NATSHeaders?, to buffer: inout OutboundBuffer)
}

extension OutboundPayload {
    func writePub(subject: ByteBuffer, headers: NATSHeaders?, to buffer: inout OutboundBuffer) {
        withBytes { body in
            subject.withUnsafeReadableBytes { s in
                ClientOpEncoder.writePub(subject: s, reply: nil, headers: headers, payload: body, to: &buffer)
            }
        }
    }
}

extension ByteBuffer: OutboundPayload {
    var byteCount: Int { readableBytes }
    func withBytes(_ body: (UnsafeRawBufferPointer) -> Void) { withUnsafeReadableBytes(body) }
    func writePub(subject: String, reply: String?, headers: NATSHeaders?, to buffer: inout OutboundBuffer) {
        if let headers {
            ClientOpEncoder.writeHPub(subject: subject, reply: reply, headers: headers, payload: self, to: &buffer)
        } else {
            ClientOpEncoder.writePub(subject: subject, reply: reply, payload: self, to: &buffer)
        }
    }
    func writeVisiblePub(subject: String, reply: String?, to buffer: inout OutboundBuffer) -> Bool {
        ClientOpEncoder.writeVisiblePub(subject: subject, reply: reply, payload: self, to: &buffer)
    }
}

struct CollectionPayload<C: Collection<UInt8> & Sendable>: OutboundPayload {
    let bytes: C
    init(_ bytes: C) { self.bytes = bytes }
    var byteCount: Int { bytes.count }
    func withBytes(_ body: (UnsafeRawBufferPointer) -> Void) {
        if bytes.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) == nil {
            Array(bytes).withUnsafeBytes(body)
        }
    }
    func writePub(subject: String, reply: String?, headers: NATSHeaders?, to buffer: inout OutboundBuffer) {
        if let headers {
            ClientOpEncoder.writeHPub(subject: subject, reply: reply, headers: headers, payload: bytes, to: &buffer)
        } else {
            ClientOpEncoder.writePub(subject: subject, reply: reply, payload: bytes, to: &buffer)
        }
    }
    func writeVisiblePub(subject: String, reply: String?, to buffer: inout OutboundBuffer) -> Bool {
        ClientOpEncoder.writeVisiblePub(subject: subject, reply: reply, payload: bytes, to: &buffer)
    }
}

extension Connection {
    /// Outbound bytes above which a connected publisher waits for the writer. Small enough
    /// that the two buffers the publisher and the writer trade stay in cache: publishing 1 KiB
    /// messages ran at 0.72 of nats.c's rate with 4 MiB and 0.88 with 256 KiB (16 B messages
    /// the same within noise).
    static let outboundHighWater = 256 * 1024

    // MARK: - Publish

    /// Publishes without suspending when the outbound buffer has room; returns `false` when
    /// the caller must wait for space (``waitForOutboundSpace()``) and try again. Kept
    /// synchronous so the common case allocates no async frame.
    ///
    /// A message with a reply subject (a request) goes out at once; one without may wait for
    /// the writer's timer (``writerTick``) to travel with the ones after it.
    @inline(__always)
    func tryPublish(_ payload: some OutboundPayload, subject: String, reply: String?, headers: NATSHeaders?) throws(NATSError) -> Bool {
        try tryEnqueue(size: (headers?.wireLength ?? 0) + payload.byteCount, urgent: reply != nil) {
            payload.writePub(subject: subject, reply: reply, headers: headers, to: &$0)
            return true
        }
    }

    /// Validates and publishes a ByteBuffer payload without suspending; `false` when the
    /// outbound buffer is full (then `publishWhenRoom`). For `NATSClient`'s inlinable
    /// `publish`.
    @usableFromInline
    func publishNow(_ payload: ByteBuffer, subject: String, reply: String?, headers: NATSHeaders?) throws(NATSError) -> Bool {
        try validateAndPublish(payload, subject: subject, reply: reply, headers: headers)
    }

    /// `publishNow` for a string payload.
    @usableFromInline
    func publishNow(_ payload: String, subject: String, reply: String?, headers: NATSHeaders?) throws(NATSError) -> Bool {
        try validateAndPublish(CollectionPayload(payload.utf8), subject: subject, reply: reply, headers: headers)
    }

    /// Validates and publishes without suspending; `false` when the outbound buffer is full
    /// (then ``publishAfterWaiting(_:subject:reply:headers:)``, which does not validate).
    ///
    /// Without headers, the subjects are checked while the encoder copies them: a subject
    /// with only visible bytes needs no other check, and a separate pass over it cost a
    /// tenth of a small publish. Any other subject gets the full check, which says what is
    /// wrong, or lets it through (a control byte that is not whitespace).
    @inline(__always)
    func validateAndPublish(_ payload: some OutboundPayload, subject: String, reply: String?, headers: NATSHeaders?) throws(NATSError) -> Bool {
        guard headers == nil, !options.skipSubjectValidation else {
            try validatePublish(subject: subject, reply: reply, headers: headers)
            return try tryPublish(payload, subject: subject, reply: reply, headers: headers)
        }
        switch try enqueueAndSend(size: payload.byteCount, urgent: reply != nil, { payload.writeVisiblePub(subject: subject, reply: reply, to: &$0) }) {
        case .sent:
            return true
        case .full:
            // Nothing was encoded, and the caller's next attempt does not validate.
            try validatePublish(subject: subject, reply: reply, headers: nil)
            return false
        case .notVisible:
            try validatePublish(subject: subject, reply: reply, headers: nil)
            return try tryPublish(payload, subject: subject, reply: reply, headers: nil)
        }
    }

    /// The slow path of `publishNow` for a ByteBuffer payload.
    @usableFromInline
    nonisolated(nonsending) func publishWhenRoom(_ payload: ByteBuffer, subject: String, reply: String?, headers: NATSHeaders?) async throws(NATSError) {
        try await publishAfterWaiting(payload, subject: subject, reply: reply, headers: headers)
    }

    /// The slow path of `publishNow` for a string payload.
    @usableFromInline
    nonisolated(nonsending) func publishWhenRoom(_ payload: String, subject: String, reply: String?, headers: NATSHeaders?) async throws(NATSError) {
        try await publishAfterWaiting(CollectionPayload(payload.utf8), subject: subject, reply: reply, headers: headers)
    }

    /// ``tryPublish(_:subject:reply:headers:)`` to a subject that is already bytes: a reply,
    /// which goes out at once.
    func tryPublish(_ payload: some OutboundPayload, subjectBytes: ByteBuffer, headers: NATSHeaders?) throws(NATSError) -> Bool {
        try tryEnqueue(size: (headers?.wireLength ?? 0) + payload.byteCount, urgent: true) {
            payload.writePub(subject: subjectBytes, headers: headers, to: &$0)
            return true
        }
    }

    /// `encode` always writes.
    @inline(__always)
    private func tryEnqueue(size: Int, urgent: Bool, _ encode: (inout OutboundBuffer) -> Bool) throws(NATSError) -> Bool {
        try enqueueAndSend(size: size, urgent: urgent, encode) == .sent
    }

    /// `sent`: appended (and sent, or the writer woken); otherwise nothing was appended.
    enum SendOutcome { case sent, full, notVisible }

    /// Appends under the lock, then wakes the writer or sends the batch itself as decided there.
    @inline(__always)
    private func enqueueAndSend(size: Int, urgent: Bool, _ encode: (inout OutboundBuffer) -> Bool) throws(NATSError) -> SendOutcome {
        switch try enqueuePublish(size: size, mayWait: true, urgent: urgent, encode) {
        case .done(let writer):
            writer?.wake()
            return .sent
        case .direct(let batch, let stream, let generation):
            writeDirectly(batch, to: stream, generation: generation)
            return .sent
        case .full: return .full
        case .notVisible: return .notVisible
        }
    }

    /// A publisher sends the outbound bytes itself while the writer sleeps: a lone message
    /// when the last such send was a while ago (a sparse publisher, like a requester or a
    /// responder), which spares the event loop a wake-up per message; and a batch once it
    /// reached ``selfSendThreshold``, so that a publisher in a loop does its own sending in
    /// large writes, one thread at a time, as nats.c and nats.go do, while the writer only
    /// sends what is left when the loop pauses (its timer, ``writerTick``).
    ///
    /// What the socket does not take goes to the writer, and publishers wait until it is
    /// written (``restInFlight``): the socket is full, and a publisher filling the next batch
    /// meanwhile would only compete for the CPU with the server it waits for.
    ///
    /// `consuming`: the batch must be the only reference to its storage, or clearing it for
    /// reuse would allocate a new buffer of its capacity (it did, once per direct send).
    func writeDirectly(_ batch: consuming OutboundBuffer, to stream: any ByteStream, generation: UInt64) {
        let written = batch.withUnsafeReadableBytes { stream.writeImmediately($0) ?? 0 }
        let writer: WriterWaiter? = state.withLock { s in
            s.publisherWriting = false
            s.lastPublisherWrite = .now
            // What the socket did not take goes out next on the same transport, before the
            // outbound bytes; a part of a message must never reach another connection, so it
            // is dropped with its transport (like a writer's batch when its write fails).
            if written < batch.count && s.generation == generation {
                var rest = OutboundBuffer()
                batch.withUnsafeReadableBytes { rest.write(UnsafeRawBufferPointer(rebasing: $0[written...])) }
                s.unsentRest = (rest, generation)
            }
            batch.removeAll()
            if s.spare == nil { s.spare = batch }
            if s.unsentRest != nil { return s.takeWriterWaiterIfParked() }
            // Bytes appended during the send: the writer's timer takes them, or the writer
            // now when something there must not wait or it has no timer.
            if s.outbound.isEmpty || (s.writerTicking && !s.outboundUrgent) { return nil }
            return s.takeWriterWaiterIfParked()
        }
        writer?.wake()
    }

    /// How long after a publisher's own send the next publish leaves sending to the writer.
    static let publisherWriteInterval = Duration.microseconds(50)

    /// Outbound bytes at which a publisher sends them itself while the writer sleeps: the
    /// size of nats-server's largest read. Publishing 1 KiB messages ran at 750, 920 and
    /// 1100 MB/s with 16, 32 and 64 KiB (16 B messages the same within noise); with the
    /// writer's timer of 2 December, 1042 MB/s with 32 KiB against 1144 with 64.
    static let selfSendThreshold = 64 * 1024

    /// The slow path of publishing: waits for the writer to make room, as often as needed.
    /// The caller has validated the message.
    nonisolated(nonsending) func publishAfterWaiting(_ payload: some OutboundPayload, subject: String, reply: String?, headers: NATSHeaders?) async throws(NATSError) {
        while try !tryPublish(payload, subject: subject, reply: reply, headers: headers) {
            await waitForOutboundSpace()
        }
    }

    /// ``publishAfterWaiting(_:subject:reply:headers:)`` to a subject that is already bytes.
    nonisolated(nonsending) func publishAfterWaiting(_ payload: some OutboundPayload, subjectBytes: ByteBuffer, headers: NATSHeaders?) async throws(NATSError) {
        while try !tryPublish(payload, subjectBytes: subjectBytes, headers: headers) {
            await waitForOutboundSpace()
        }
    }

    /// Suspends until the writer took the outbound buffer or wrote a publisher's unsent rest
    /// (or the connection is no longer up).
    nonisolated(nonsending) func waitForOutboundSpace() async {
        await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
            let parked = state.withLock { s -> Bool in
                guard s.phase == .connected || s.phase == .draining, s.publishersMustWait else { return false }
                s.spaceWaiters.append(c)
                return true
            }
            if !parked { c.resume() }
        }
    }

    /// Validates a reply subject received from the server before responding to it.
    func validateResponse(to reply: ByteBuffer, headers: NATSHeaders?) throws(NATSError) {
        do {
            try SubjectValidation.validatePublish(reply)
        } catch {
            throw NATSError(.invalidSubject, "the reply subject: \(error.description)", underlying: error)
        }
        if let headers {
            do { try headers.validate() } catch {
                throw NATSError(.invalidHeaders, error.description, underlying: error)
            }
        }
    }

    func validatePublish(subject: String, reply: String?, headers: NATSHeaders?) throws(NATSError) {
        if !options.skipSubjectValidation {
            do {
                try SubjectValidation.validatePublish(subject)
                if let reply { try SubjectValidation.validatePublish(reply) }
            } catch {
                throw NATSError(.invalidSubject, error.description, underlying: error)
            }
        } else if subject.isEmpty {
            throw NATSError(.invalidSubject, "the subject is empty")
        }
        if let headers {
            do { try headers.validate() } catch {
                throw NATSError(.invalidHeaders, error.description, underlying: error)
            }
        }
    }

    /// `direct`: the caller sends the batch itself (``writeDirectly(_:to:generation:)``).
    /// `notVisible`: the encoder wrote nothing (``OutboundPayload/writeVisiblePub(subject:reply:to:)``).
    enum EnqueueResult { case done(WriterWaiter?), direct(OutboundBuffer, any ByteStream, UInt64), full, notVisible }

    /// What happened under the lock; trivially copyable, since returning an error-carrying
    /// `Result` from the lock cost the publisher measurably, and so did the outlined copies of
    /// an outcome that carried the batch and stream of a direct send (``DirectSend``).
    private enum EnqueueOutcome { case done(WriterWaiter?), direct, full, notVisible, closed, tooLarge(Int), bufferFull }

    /// Appends one message (`size` bytes of headers and payload, written by `encode`, which
    /// returns `false` when it wrote nothing) under the lock, after the max_payload, phase and
    /// buffer checks.
    func enqueuePublish(size: Int, mayWait: Bool, urgent: Bool, _ encode: (inout OutboundBuffer) -> Bool) throws(NATSError) -> EnqueueResult {
        let bufferSize = options.reconnect.bufferSize
        let outcome: EnqueueOutcome = state.withLock { s in
            if size > s.maxPayload { return .tooLarge(s.maxPayload) }
            switch s.phase {
            case .closed:
                return .closed
            case .connected, .draining:
                if mayWait && s.publishersMustWait { return .full }
            case .connecting, .reconnecting:
                if s.outbound.count + size > bufferSize { return .bufferFull }
            }
            let wasEmpty = s.outbound.isEmpty
            guard encode(&s.outbound) else { return .notVisible }
            if wasEmpty { s.outboundSince = .now }
            s.stats.outMessages += 1
            s.stats.outBytes += UInt64(size)
            // The publisher sends it itself (see writeDirectly) while the writer of this
            // transport sleeps: a lone message, not right after the last such send, or a
            // batch that reached the threshold.
            // (The cheap tests first: binding the stream copies an existential.)
            let batchFull = s.outbound.count >= Self.selfSendThreshold
            if batchFull || wasEmpty,
               s.immediateWrites, !s.publisherWriting, s.phase == .connected, s.unsentRest == nil,
               let w = s.writerWaiter, w.generation == s.generation,
               batchFull || s.outboundSince - s.lastPublisherWrite > Self.publisherWriteInterval,
               let stream = s.stream {
                s.publisherWriting = true
                s.publisherSends += 1
                if batchFull { publisherBatches.add(1, ordering: .relaxed) }
                s.markPongWaitersSent(generation: s.generation)
                s.directSend = DirectSend(batch: s.takeOutbound(), stream: stream, generation: s.generation)
                return .direct
            }
            if urgent { return .done(s.takeWriterWaiter()) }
            return .done(s.writerTicking ? nil : s.takeWriterWaiterIfParked())
        }
        switch outcome {
        case .done(let writer): return .done(writer)
        case .direct:
            // A second turn of the lock, once per batch: carried in the outcome, the batch and
            // stream made every publish pay for copying and destroying it. Always there: only
            // the publisher that set `publisherWriting` sets and takes it.
            guard let d = state.withLock({ s in s.directSend.take() }) else { return .done(nil) }
            return .direct(d.batch, d.stream, d.generation)
        case .full: return .full
        case .notVisible: return .notVisible
        case .closed: throw .closed
        case .tooLarge(let max):
            throw NATSError(.maxPayloadExceeded, "the message is \(size) bytes (headers included) but the server's max_payload is \(max); nothing was sent")
        case .bufferFull:
            throw NATSError(.reconnectBufferExceeded, "disconnected, and the reconnect buffer (\(bufferSize) bytes) is full; publish again after reconnecting")
        }
    }

    // MARK: - Subscribe

    func subscribe(subject: String, queueGroup: String?) throws(NATSError) -> NATSSubscription {
        do {
            try SubjectValidation.validateSubscribe(subject)
            if let queueGroup { try SubjectValidation.validateQueueGroup(queueGroup) }
        } catch {
            throw NATSError(.invalidSubject, error.description, underlying: error)
        }
        let queue = SubscriptionQueue(subject: subject, maxMessages: options.subscriptionPendingMessages, maxBytes: options.subscriptionPendingBytes)
        let result: Result<(UInt64, WriterWaiter?), NATSError> = state.withLock { s in
            guard s.phase != .closed, s.phase != .draining else { return .failure(.closed) }
            let sid = s.nextSID
            s.nextSID += 1
            s.subscriptions[sid] = SubscriptionRecord(subject: subject, queueGroup: queueGroup, queue: queue)
            ClientOpEncoder.writeSub(subject: subject, queue: queueGroup, sid: sid, to: &s.outbound)
            return .success((sid, s.takeWriterWaiter()))
        }
        let (sid, writer) = try result.get()
        writer?.wake()
        return NATSSubscription(sid: sid, subject: subject, queueGroup: queueGroup, queue: queue, connection: self)
    }

    func unsubscribe(sid: UInt64, after count: UInt64?) throws(NATSError) {
        let result: Result<(SubscriptionQueue?, WriterWaiter?), NATSError> = state.withLock { s in
            guard s.phase != .closed else { return .success((nil, nil)) }
            guard let record = s.subscriptions[sid] else { return .success((nil, nil)) }
            if let count, record.routed < count {
                record.maxMessages = count
                ClientOpEncoder.writeUnsub(sid: sid, max: count, to: &s.outbound)
                return .success((nil, s.takeWriterWaiter()))
            }
            s.subscriptions[sid] = nil
            ClientOpEncoder.writeUnsub(sid: sid, max: nil, to: &s.outbound)
            return .success((record.queue, s.takeWriterWaiter()))
        }
        let (queue, writer) = try result.get()
        writer?.wake()
        queue?.finish()
    }

    // MARK: - Request

    func request(_ payload: some OutboundPayload, subject: String, headers: NATSHeaders?, timeout: Duration) async throws(NATSError) -> NATSMessage {
        try validatePublish(subject: subject, reply: nil, headers: headers)
        // The shared response subscription, made on first use.
        let setup: Result<(UInt64, WriterWaiter?), NATSError> = state.withLock { s in
            guard s.phase != .closed, s.phase != .draining else { return .failure(.closed) }
            var writer: WriterWaiter? = nil
            if s.responseSID == nil {
                let sid = s.nextSID
                s.nextSID += 1
                s.responseSID = sid
                let wildcard = responseInboxPrefix + "*"
                s.subscriptions[sid] = SubscriptionRecord(subject: wildcard, queueGroup: nil, queue: SubscriptionQueue(subject: wildcard, maxMessages: 1, maxBytes: 1))
                ClientOpEncoder.writeSub(subject: wildcard, queue: nil, sid: sid, to: &s.outbound)
                writer = s.takeWriterWaiter()
            }
            s.nextRequestID += 1
            return .success((s.nextRequestID, writer))
        }
        let (token, writer) = try setup.get()
        writer?.wake()
        let prefix = responseInboxPrefix

        let outcome: Result<NATSMessage, NATSError> = await withTaskCancellationHandler {
            await withUnsafeContinuation { (done: UnsafeContinuation<Result<NATSMessage, NATSError>, Never>) in
                let bridge = ResultResolver(done)
                let deadline = Moment.now + timeout
                let registered = state.withLock { s -> (ok: Bool, startTimer: Bool) in
                    guard s.phase != .closed else { return (false, false) }
                    s.requests[token] = PendingRequest(continuation: bridge, deadline: deadline, timeout: timeout, subject: subject)
                    // One timer task serves every request; it is only (re)started when this
                    // deadline comes before the one it sleeps towards.
                    if let next = s.requestTimerDeadline, next <= deadline { return (true, false) }
                    s.requestTimerDeadline = deadline
                    s.requestTimerEpoch &+= 1
                    return (true, true)
                }
                guard registered.ok else { bridge.resume(throwing: .closed); return }
                if registered.startTimer { startRequestTimer() }
                do throws(NATSError) {
                    let size = (headers?.wireLength ?? 0) + payload.byteCount
                    let encode = { (out: inout OutboundBuffer) -> Bool in
                        payload.withBytes { body in
                            ClientOpEncoder.writeRequest(subject: subject, replyPrefix: prefix, replyID: token, headers: headers, payload: body, to: &out)
                        }
                        return true
                    }
                    switch try enqueuePublish(size: size, mayWait: false, urgent: true, encode) {
                    case .done(let w): w?.wake()
                    case .direct(let b, let stream, let g): writeDirectly(b, to: stream, generation: g)
                    case .full, .notVisible: break
                    }
                } catch {
                    if let p = state.withLock({ $0.requests.removeValue(forKey: token) }) {
                        p.continuation.resume(throwing: error)
                    }
                    return
                }
            }
        } onCancel: {
            if let p = state.withLock({ $0.requests.removeValue(forKey: token) }) {
                p.continuation.resume(throwing: NATSError(.cancelled, "the request was cancelled"))
            }
        }
        return try outcome.get()
    }

    /// Sleeps until the earliest request deadline, fails the requests that expired, and goes
    /// on while requests are pending; a newer timer (earlier deadline) makes this one stop.
    private func startRequestTimer() {
        let epoch = state.withLock { $0.requestTimerEpoch }
        Task { [weak self] in
            while true {
                guard let self else { return }
                guard let until = self.state.withLock({ $0.requestTimerEpoch == epoch ? $0.requestTimerDeadline : nil }) else { return }
                do { try await Task.sleep(until: until.instant) } catch { return }
                let now = Moment.now
                let (expired, stop): ([PendingRequest], Bool) = self.state.withLock { s in
                    guard s.requestTimerEpoch == epoch else { return ([], true) }
                    var expired: [PendingRequest] = []
                    var next: Moment?
                    for (token, p) in s.requests {
                        if p.deadline <= now {
                            expired.append(p)
                            s.requests[token] = nil
                        } else if let soonest = next, soonest <= p.deadline {
                            continue
                        } else {
                            next = p.deadline
                        }
                    }
                    s.requestTimerDeadline = next
                    return (expired, next == nil)
                }
                for p in expired {
                    p.continuation.resume(throwing: NATSError(.timeout, "no reply on '\(p.subject)' within \(p.timeout)"))
                }
                if stop { return }
            }
        }
    }

    // MARK: - Flush

    func flush(timeout: Duration) async throws(NATSError) {
        let result: Result<Void, NATSError> = await withUnsafeContinuation { (done: UnsafeContinuation<Result<Void, NATSError>, Never>) in
            let bridge = ResultResolver(done)
            let outcome: Result<(UInt64, WriterWaiter?), NATSError> = state.withLock { s in
                switch s.phase {
                case .closed: return .failure(.closed)
                case .connecting, .reconnecting: return .failure(NATSError(.connection, "not connected; flush after reconnecting"))
                case .connected, .draining:
                    s.nextFlushID += 1
                    ClientOpEncoder.writePing(to: &s.outbound)
                    s.pongWaiters.append(PongWaiter(id: s.nextFlushID, continuation: bridge, sent: false))
                    return .success((s.nextFlushID, s.takeWriterWaiter()))
                }
            }
            switch outcome {
            case .failure(let e): bridge.resume(throwing: e)
            case .success(let (flushID, writer)):
                writer?.wake()
                Task { [weak self] in
                    do { try await Task.sleep(for: timeout) } catch { return }
                    let c = self?.state.withLock { s -> ResultResolver<Void>? in
                        guard let i = s.pongWaiters.firstIndex(where: { $0.id == flushID }) else { return nil }
                        let c = s.pongWaiters[i].continuation
                        s.pongWaiters[i].continuation = nil
                        return c
                    }
                    c?.resume(throwing: NATSError(.timeout, "the server did not answer the flush within \(timeout)"))
                }
            }
        }
        try result.get()
    }

    // MARK: - Drain and close

    func drain(timeout: Duration) async throws(NATSError) {
        let start = ContinuousClock.now
        let queues: [SubscriptionQueue]? = state.withLock { s in
            guard s.phase == .connected else { return nil }
            s.phase = .draining
            var queues: [SubscriptionQueue] = []
            for (sid, record) in s.subscriptions.sorted(by: { $0.key < $1.key }) where sid != s.responseSID {
                ClientOpEncoder.writeUnsub(sid: sid, max: nil, to: &s.outbound)
                queues.append(record.queue)
            }
            return queues
        }
        guard let queues else {
            if state.withLock({ $0.phase == .closed }) { throw NATSError.closed }
            throw NATSError(.connection, "not connected; cannot drain")
        }
        state.withLock { $0.takeWriterWaiter() }?.wake()
        // Once the server answers, no message for these subscriptions is still in flight.
        try? await flush(timeout: timeout)
        state.withLock { s in
            for (sid, _) in s.subscriptions where sid != s.responseSID { s.subscriptions[sid] = nil }
        }
        queues.forEach { $0.finish() }
        let deadline = start + timeout
        let drained = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for q in queues { await q.waitUntilDrained() }
                return true
            }
            group.addTask {
                try? await Task.sleep(until: deadline)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        try? await flush(timeout: max(.milliseconds(100), deadline - ContinuousClock.now))
        finishClose(reason: nil)
        if !drained { throw NATSError(.timeout, "drain did not finish within \(timeout): subscribers still had buffered messages") }
    }

    func close() async {
        let connected = state.withLock { $0.phase == .connected && $0.outbound.count > 0 }
        if connected { try? await flush(timeout: .seconds(1)) }
        finishClose(reason: nil)
    }
}

/// Resumes a non-throwing continuation with a typed result, so waiters fail with `NATSError`.
///
/// An unsafe continuation (a checked one allocates a canary object per wait): every resolver
/// is kept in the connection state and taken out under its lock before it is resumed, so it
/// is resumed exactly once.
struct ResultResolver<T: Sendable>: Sendable {
    private let continuation: UnsafeContinuation<Result<T, NATSError>, Never>

    init(_ continuation: UnsafeContinuation<Result<T, NATSError>, Never>) {
        self.continuation = continuation
    }

    func resume(returning value: T) { continuation.resume(returning: .success(value)) }
    func resume(throwing error: NATSError) { continuation.resume(returning: .failure(error)) }
}

extension ResultResolver where T == Void {
    func resume() { resume(returning: ()) }
}
