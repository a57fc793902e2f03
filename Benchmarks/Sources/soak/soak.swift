// soak: load and soak test of NATSClient against one nats-server.
//
//   soak URL [TOTAL] [SIZE] [WINDOW]
//
// 8 publishers and 8 subscribers, TOTAL messages in all (default 10,000,000) of SIZE bytes
// (default 128), in two phases of TOTAL/2 each:
//   A  one client carries all 8 publishers and all 8 subscribers;
//   B  8 publisher clients and 8 subscriber clients (16 connections).
// Publisher i sends a sequence number in the first 8 bytes on "soak.<phase>.<i>" and
// subscriber i counts them and checks the order (no loss, no duplicate, no reordering).
// A publisher stays at most WINDOW messages (default 20,000) ahead of its subscriber, so the
// backlog is bounded and memory should stay flat; pending limits are unlimited on the
// client, so nothing may be dropped. RSS (VmRSS of /proc/self/status) is sampled every
// second and printed as a curve. Exit status 0 only if every subscriber got every message
// in order and RSS did not grow within a phase (late peak ≤ early peak × 1.25 + 16 MiB).
//
// Build and run: Tools/soak.sh (release, starts its own nats-server).

import NATSClient
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// MARK: - Output

func writeAll(_ fd: Int32, _ text: String) {
    var text = text
    text.withUTF8 { bytes in
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, base + offset, bytes.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}

func emit(_ line: String) { writeAll(1, line + "\n") }

func fail(_ what: String, _ error: any Error) -> Never {
    writeAll(2, "soak: \(what) failed: \(error)\n")
    exit(1)
}

func seconds(_ d: Duration) -> Double {
    let (s, attos) = d.components
    return Double(s) + Double(attos) / 1e18
}

func fixed1(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(abs(tenths % 10))"
}

// MARK: - RSS

/// VmRSS of this process in KiB, from /proc/self/status (0 if unreadable).
func residentKiB() -> Int {
    let fd = open("/proc/self/status", O_RDONLY)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return 0 }
    let text = String(decoding: buffer[0..<n], as: UTF8.self)
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let digits = line.dropFirst(6).filter { $0.isNumber }
        return Int(digits) ?? 0
    }
    return 0
}

// MARK: - Shared state

/// One publisher/subscriber pair: counters read by the publisher's window and the sampler.
final class Pair: Sendable {
    let published = Atomic<Int>(0)
    let received = Atomic<Int>(0)
    let outOfOrder = Atomic<Int>(0)
}

/// What the sampler prints next to each RSS sample.
final class Board: Sendable {
    let phase = Mutex<String>("connect")
    let pairs = Mutex<[Pair]>([])
    let samples = Mutex<[(t: Int, phase: String, kib: Int, delivered: Int)]>([])
}

let pairCount = 8

// MARK: - A phase

struct PhaseResult {
    var name: String
    var expectedPerSubscriber: Int
    var received: [Int]
    var outOfOrder: [Int]
    var dropped: [UInt64]
    var seconds: Double
    var ok: Bool { received.allSatisfy { $0 == expectedPerSubscriber } && outOfOrder.allSatisfy { $0 == 0 } && dropped.allSatisfy { $0 == 0 } }
}

func runPhase(
    name: String, url: String, options: ConnectOptions, publisherClients: Int, subscriberClients: Int,
    perPair: Int, size: Int, window: Int, board: Board
) async -> PhaseResult {
    // One client carries both roles when both counts are 1.
    var subClients: [NATSClient] = []
    var pubClients: [NATSClient] = []
    do {
        for i in 0..<subscriberClients {
            subClients.append(try await NATSClient.connect(url, options: options.name("soak-\(name)-sub\(i)")))
        }
        if publisherClients == 1 && subscriberClients == 1 {
            pubClients = subClients
        } else {
            for i in 0..<publisherClients {
                pubClients.append(try await NATSClient.connect(url, options: options.name("soak-\(name)-pub\(i)")))
            }
        }
    } catch {
        fail("connect", error)
    }
    let pairs = (0..<pairCount).map { _ in Pair() }
    var subs: [NATSSubscription] = []
    do {
        for i in 0..<pairCount {
            subs.append(try await subClients[i % subClients.count].subscribe(to: "soak.\(name).\(i)"))
        }
        for client in subClients { try await client.flush(timeout: .seconds(30)) }
    } catch {
        fail("subscribe", error)
    }
    board.pairs.withLock { $0 = pairs }
    board.phase.withLock { $0 = name }

    let clock = ContinuousClock()
    let start = clock.now
    await withTaskGroup(of: Void.self) { group in
        for i in 0..<pairCount {
            let sub = subs[i]
            let pair = pairs[i]
            group.addTask {
                var expected: UInt64 = 0
                var count = 0
                do {
                    for try await message in sub {
                        let seq = message.payload.getInteger(at: message.payload.readerIndex, as: UInt64.self)
                        if seq != expected { pair.outOfOrder.add(1, ordering: .relaxed) }
                        expected = (seq ?? expected) &+ 1
                        count += 1
                        if count & 0xFF == 0 { pair.received.store(count, ordering: .releasing) }
                        if count == perPair { break }
                    }
                } catch {
                    fail("receive on soak.\(name).\(i)", error)
                }
                pair.received.store(count, ordering: .releasing)
            }
            let client = pubClients[i % pubClients.count]
            let subject = "soak.\(name).\(i)"
            group.addTask {
                var body = ByteBuffer(repeating: UInt8(ascii: "s"), count: max(size, 8))
                do {
                    for seq in 0..<perPair {
                        body.setInteger(UInt64(seq), at: body.readerIndex)
                        try await client.publish(body, to: subject)
                        if seq & 0x3FF == 0 {
                            pair.published.store(seq, ordering: .relaxed)
                            // Flow control: stay at most `window` messages ahead of the subscriber.
                            while seq - pair.received.load(ordering: .acquiring) > window {
                                try await Task.sleep(for: .milliseconds(1))
                            }
                        }
                    }
                    pair.published.store(perPair, ordering: .relaxed)
                    try await client.flush(timeout: .seconds(60))
                } catch {
                    fail("publish on soak.\(name).\(i)", error)
                }
            }
        }
        await group.waitForAll()
    }
    let elapsed = seconds(clock.now - start)
    let dropped = subs.map { $0.droppedMessages }
    for client in subClients { await client.close() }
    if !(publisherClients == 1 && subscriberClients == 1) {
        for client in pubClients { await client.close() }
    }
    return PhaseResult(
        name: name, expectedPerSubscriber: perPair,
        received: pairs.map { $0.received.load(ordering: .acquiring) },
        outOfOrder: pairs.map { $0.outOfOrder.load(ordering: .relaxed) },
        dropped: dropped, seconds: elapsed
    )
}

// MARK: - Main

@main
struct Soak {
    static func main() async {
        let args = CommandLine.arguments
        guard args.count >= 2 else {
            writeAll(2, "usage: soak URL [TOTAL] [SIZE] [WINDOW]\n")
            exit(2)
        }
        let url = args[1]
        let total = args.count > 2 ? Int(args[2]) ?? 10_000_000 : 10_000_000
        let size = args.count > 3 ? Int(args[3]) ?? 128 : 128
        let window = args.count > 4 ? Int(args[4]) ?? 20_000 : 20_000
        let perPair = total / 2 / pairCount

        // Nothing may be dropped on the client: unlimited pending, as SetPendingLimits(-1, -1).
        let options = ConnectOptions().noReconnect().with {
            $0.subscriptionPendingMessages = Int.max
            $0.subscriptionPendingBytes = 1 << 50
        }

        let board = Board()
        emit("soak: \(perPair * pairCount * 2) messages of \(size) bytes, \(pairCount) publishers + \(pairCount) subscribers, window \(window), url \(url)")
        emit("soak: RSS at start \(residentKiB() / 1024) MiB")

        // The sampler: one line a second (t, phase, RSS, messages delivered so far in this phase, rate).
        let sampler = Task {
            let clock = ContinuousClock()
            let t0 = clock.now
            var lastDelivered = 0
            var lastPhase = ""
            var stalled = 0
            var tick = 0
            while !Task.isCancelled {
                tick += 1
                do { try await Task.sleep(until: t0.advanced(by: .seconds(tick)), clock: clock) } catch { return }
                let phase = board.phase.withLock { $0 }
                let delivered = board.pairs.withLock { $0.reduce(0) { $0 + $1.received.load(ordering: .relaxed) } }
                if phase != lastPhase { lastDelivered = 0; lastPhase = phase; stalled = 0 }
                let kib = residentKiB()
                board.samples.withLock { $0.append((tick, phase, kib, delivered)) }
                emit("rss t=\(tick)s phase=\(phase) rss_mib=\(fixed1(Double(kib) / 1024)) delivered=\(delivered) rate_per_s=\(delivered - lastDelivered)")
                stalled = delivered == lastDelivered && phase != "connect" && phase != "done" ? stalled + 1 : 0
                if stalled >= 60 {
                    writeAll(2, "soak: no message delivered for 60 s in phase \(phase) (at \(delivered))\n")
                    exit(1)
                }
                lastDelivered = delivered
            }
        }

        var results: [PhaseResult] = []
        results.append(await runPhase(name: "A", url: url, options: options, publisherClients: 1, subscriberClients: 1,
                                      perPair: perPair, size: size, window: window, board: board))
        results.append(await runPhase(name: "B", url: url, options: options, publisherClients: pairCount, subscriberClients: pairCount,
                                      perPair: perPair, size: size, window: window, board: board))
        board.phase.withLock { $0 = "done" }
        sampler.cancel()

        var allOK = true
        var grand = 0
        var grandSeconds = 0.0
        for r in results {
            let got = r.received.reduce(0, +)
            grand += got
            grandSeconds += r.seconds
            emit("phase \(r.name): \(got) of \(r.expectedPerSubscriber * pairCount) in \(fixed1(r.seconds)) s (\(Int(Double(got) / max(r.seconds, 1e-9))) msg/s)")
            for i in 0..<pairCount {
                emit("  subscriber \(i): received=\(r.received[i]) expected=\(r.expectedPerSubscriber) out_of_order=\(r.outOfOrder[i]) dropped=\(r.dropped[i])")
            }
            if !r.ok { allOK = false }
        }

        // Memory verdict per phase (phase B has 16 connections, so its level is higher): after
        // the first second of warm-up, the peak of the last third of the samples against the
        // peak of the first third. Flat: late ≤ early × 1.25 + 16 MiB.
        let samples = board.samples.withLock { $0 }
        var memoryOK = true
        var judged = 0
        for r in results {
            let kib = samples.filter { $0.phase == r.name }.dropFirst().map(\.kib)
            guard kib.count >= 6 else {
                emit("rss phase \(r.name): \(kib.count) samples after warm-up, too few for a verdict; run more messages")
                continue
            }
            judged += 1
            let third = kib.count / 3
            let early = kib.prefix(third).max() ?? 0
            let late = kib.suffix(third).max() ?? 0
            let ok = Double(late) <= Double(early) * 1.25 + 16 * 1024
            if !ok { memoryOK = false }
            emit("rss phase \(r.name): early peak \(fixed1(Double(early) / 1024)) MiB, late peak \(fixed1(Double(late) / 1024)) MiB, min \(fixed1(Double(kib.min() ?? 0) / 1024)) MiB, max \(fixed1(Double(kib.max() ?? 0) / 1024)) MiB -> \(ok ? "flat" : "GROWING")")
        }
        emit("rss at exit \(fixed1(Double(residentKiB()) / 1024)) MiB")
        let memoryVerdict = judged == 0 ? "not judged (run too short)" : memoryOK ? "flat" : "grew"
        emit("soak: \(grand) messages delivered in \(fixed1(grandSeconds)) s; \(allOK ? "no loss" : "LOSS OR DISORDER"); memory \(memoryVerdict)")
        exit(allOK && memoryOK ? 0 : 1)
    }
}
