import NATSTransport
import NATSWire
import NIOCore

extension Connection {
    /// Migrates at a random moment within the lame duck window, before the server closes us.
    func scheduleMigration(from generation: UInt64) {
        let window = options.reconnect.lameDuckMigrationWindow
        let delay = window * Double.random(in: 0..<1)
        Task { [weak self] in
            do { try await Task.sleep(for: delay) } catch { return }
            guard let self, self.state.withLock({ $0.generation == generation && $0.phase == .connected }) else { return }
            await self.migrate()
        }
    }

    /// How long the old connection stays open after a move (see ``migrate()``).
    static let oldConnectionGrace = Duration.seconds(1)

    /// Moves to another server of the pool while the current one still works: connect and
    /// subscribe there first, switch publishing over, then let the old server finish what it
    /// has (a PING/PONG), stay subscribed there for ``oldConnectionGrace`` while the cluster
    /// learns of the new subscriptions, and close it. Nothing published or routed to us is
    /// lost; a message may arrive twice while both connections are subscribed.
    func migrate() async {
        let choice: (current: ServerURL, next: ServerURL)? = state.withLock { s in
            guard s.phase == .connected, let current = s.currentServer else { return nil }
            for _ in 0..<s.pool.entries.count {
                if let entry = s.pool.next(), ServerPool.key(entry.url) != ServerPool.key(current) {
                    return (current, entry.url)
                }
            }
            return nil
        }
        guard let choice else {
            logger.info("lame duck mode: no other server to move to")
            return
        }
        let established: Established
        do {
            established = try await connector.establish(choice.next, verifyHost: verifyHost(for: choice.next), options: options, logger: logger)
        } catch {
            logger.info("lame duck mode: cannot move", metadata: ["nats.server": "\(choice.next)", "nats.error": "\(error.kind)"])
            return
        }
        let stream = established.stream
        var parser = established.parser

        // 1. Subscribe on the new server and wait until it has the interest.
        let (resubscribed, initial) = state.withLock { s -> (Set<UInt64>, ByteBuffer) in
            (Set(s.subscriptions.keys), s.resubscribeBuffer(excluding: []))
        }
        do {
            var out = initial
            ClientOpEncoder.writePing(to: &out)
            try await Connector.write(stream, out)
            waiting: while true {
                switch try await Connector.readOp(stream, &parser) {
                case .pong: break waiting
                case .ping:
                    var pong = ByteBuffer()
                    ClientOpEncoder.writePong(to: &pong)
                    try await Connector.write(stream, pong)
                case .msg(let m):
                    var deliveries = Deliveries()
                    deliver(m, deliveries: &deliveries)
                    finishChunk(&deliveries)
                case .err(let e): throw NATSError.from(server: e)
                case .info, .ok: break
                }
            }
        } catch {
            logger.info("lame duck mode: subscribing on the new server failed", metadata: ["nats.error": "\(error)"])
            await stream.close()
            return
        }

        // 2. Switch: from now on the writer of the new generation sends what is published. Not
        // while a publisher sends on the old stream: what the socket does not take of that must
        // still go there (its writer sends it before it stops), and is only known after.
        enum Switch { case done(old: UInt64, new: UInt64, oldStream: any ByteStream, oldWriter: WriterWaiter?), publisherSending, gone }
        var attempt: Switch = .publisherSending
        for tries in 0... {
            attempt = state.withLock { s in
                guard s.phase == .connected, let oldStream = s.stream else { return .gone }
                if s.publisherWriting { return .publisherSending }
                let old = s.generation
                s.generation += 1
                s.stream = stream
                s.immediateWrites = stream.canWriteImmediately
                s.info = established.info
                s.tls = established.tls
                s.currentServer = choice.next
                s.pingsOutstanding = 0
                s.pool.recordSuccess(choice.next)
                // Subscriptions made since step 1 went (or go) to the old server: repeat them first.
                let missed = s.resubscribeBuffer(excluding: resubscribed)
                if missed.readableBytes > 0 {
                    var ahead = OutboundBuffer()
                    ahead.write(missed)
                    ahead.write(s.outbound)
                    s.outbound = ahead
                }
                // The old writer, if parked, finishes (see step 3); the new one takes its place.
                let oldWriter = s.writerWaiter
                s.writerWaiter = nil
                return .done(old: old, new: s.generation, oldStream: oldStream, oldWriter: oldWriter)
            }
            guard case .publisherSending = attempt else { break }
            // A send takes microseconds; a publisher in a loop starts the next one soon after.
            if tries < 100 { await Task.yield() } else { try? await Task.sleep(for: .microseconds(50)) }
        }
        guard case .done(let old, let new, let oldStream, let oldWriter) = attempt else {
            await stream.close()
            return
        }
        oldWriter?.wake()
        let switched = (old: old, new: new, oldStream: oldStream)
        startLoops(stream: stream, parser: parser, generation: switched.new)
        logger.info("moved to another server (lame duck)", metadata: ["nats.server": "\(choice.next)"])
        events.emit(.reconnected(server: choice.next.description))

        // 3. Let the old server finish: its writer's last batch, then a PING/PONG round trip.
        await waitForWriterExit(switched.old)
        let _: Result<Void, NATSError> = await withUnsafeContinuation { continuation in
            let resolver = ResultResolver(continuation)
            let id: UInt64 = state.withLock { s in
                s.nextFlushID += 1
                s.pongWaiters.append(PongWaiter(id: s.nextFlushID, continuation: resolver, sent: true, generation: switched.old))
                return s.nextFlushID
            }
            Task {
                var ping = ByteBuffer()
                ClientOpEncoder.writePing(to: &ping)
                try? await switched.oldStream.write(ping)
            }
            Task { [weak self] in
                try? await Task.sleep(for: .seconds(2))
                let pending = self?.state.withLock { s -> ResultResolver<Void>? in
                    guard let i = s.pongWaiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return s.pongWaiters.remove(at: i).continuation
                }
                pending?.resume(throwing: NATSError(.timeout, "the old server did not answer"))
            }
        }
        // 4. Stay subscribed on the old server a little longer: the other servers learn of the
        // subscriptions on the new one through their routes, and until they do they route
        // messages for them to the old one only. Closing at once lost some (90 of 1,500 in a
        // test on a loaded machine); meanwhile a message may arrive twice.
        try? await Task.sleep(for: Self.oldConnectionGrace)
        await switched.oldStream.close()
    }

}
