import Foundation
// natsbench: our client in the peer benchmark of /work/shared/peers (same modes and
// RESULT lines as the nats.c and nats.go programs there).
//
//   natsbench pub  URL N SIZE   publish N messages of SIZE bytes to "bench", then flush
//   natsbench sub  URL N        subscribe to "bench"; print READY; time first to Nth message
//   natsbench req  URL N SIZE   N sequential request/reply round trips on "echo"
//   natsbench echo URL          reply on "echo" with the same payload; print READY
//   natsbench lat  URL RATE SECS SIZE
//                               ours only: publish RATE msgs/s for SECS seconds (a burst each
//                               millisecond) on one connection, receive them on another, and
//                               print the percentiles of publish-to-delivery latency
//
// Build: swift build -c release --package-path Benchmarks --product natsbench

import NATSClient
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Output

/// Writes `text` to a file descriptor unbuffered (the runner waits for READY on stdout).
func writeAll(_ fd: Int32, _ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}

/// One line on stdout, unbuffered.
func emit(_ line: String) { writeAll(1, line + "\n") }

func fail(_ what: String, _ error: any Error) -> Never {
    var err = StandardError()
    print("natsbench(swift): \(what) failed: \(error)", to: &err)
    exit(1)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) { writeAll(2, string) }
}

/// `value` with exactly `decimals` digits after the point (printf's %.Nf, without Foundation).
func fixed(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let negative = value < 0
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9.0e18 else { return "\(value)" }
    let units = UInt64(scaled)
    let whole = units / UInt64(scale)
    var text = "\(whole)"
    if decimals > 0 {
        var frac = String(units % UInt64(scale))
        while frac.count < decimals { frac = "0" + frac }
        text += "." + frac
    }
    return negative ? "-" + text : text
}

func nanos(_ d: Duration) -> UInt64 {
    UInt64(max(0, seconds(d) * 1e9))
}

func seconds(_ d: Duration) -> Double {
    let (s, attos) = d.components
    return Double(s) + Double(attos) / 1e18
}

// MARK: - Connecting

func connect(_ url: String, options: ConnectOptions = ConnectOptions()) async -> NATSClient {
    var options = options
    // For tls:// and wss:// runs against a server whose certificate a test CA signed.
    if let ca = ProcessInfo.processInfo.environment["NATS_CA"] {
        options.tls.configuration.additionalTrustRoots.append(.file(ca))
    }
    do {
        return try await NATSClient.connect(url, options: options.noReconnect().name("natsbench-swift"))
    } catch {
        fail("connect", error)
    }
}

/// A subscription the server has (a flush after the SUB).
func subscribed(_ client: NATSClient, to subject: String) async -> NATSSubscription {
    do {
        let sub = try await client.subscribe(to: subject)
        try await client.flush()
        return sub
    } catch {
        fail("subscribe", error)
    }
}

/// No client-side slow-consumer drops (as SetPendingLimits(-1, -1) in the peers).
let unlimitedPending = ConnectOptions().with {
    $0.subscriptionPendingMessages = Int.max
    $0.subscriptionPendingBytes = 1 << 50
}

func payload(size: Int, byte: Character) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeRepeatingByte(byte.asciiValue ?? 0, count: size)
    return buffer
}

// MARK: - Modes

func doPub(url: String, n: Int, size: Int) async {
    let client = await connect(url)
    let body = payload(size: size, byte: "a")
    let clock = ContinuousClock()
    let t0 = clock.now
    // NATSBENCH_PUB_ON_LOOP=1 runs the publish loop on the connection's event loop
    // (NATSClient.preferredExecutor): it then encodes and sends in turn on one thread, as
    // nats.c's publisher does, instead of alongside the writer (BENCHMARKS.md).
    let onLoop = ProcessInfo.processInfo.environment["NATSBENCH_PUB_ON_LOOP"] != nil
    let task = Task(executorPreference: onLoop ? client.preferredExecutor : nil) {
        do {
            for _ in 0..<n {
                try await client.publish(body, to: "bench")
            }
            try await client.flush(timeout: .seconds(60))
        } catch {
            fail("publish", error)
        }
    }
    await task.value
    let el = seconds(clock.now - t0)
    emit("RESULT client=swift mode=pub n=\(n) size=\(size) secs=\(fixed(el, 6)) msgs_per_s=\(fixed(Double(n) / el, 0)) MB_per_s=\(fixed(Double(n) * Double(size) / el / 1e6, 2))")
    await client.close()
}

/// Progress of the subscriber, read by the stall watchdog.
final class Progress: Sendable {
    let count = Atomic<Int>(0)
}

func doSub(url: String, n: Int) async {
    let client = await connect(url, options: unlimitedPending)
    let sub = await subscribed(client, to: "bench")
    emit("READY")

    let progress = Progress()
    let watchdog = Task {
        var last = -1
        while true {
            do { try await Task.sleep(for: .seconds(10)) } catch { return }
            let seen = progress.count.load(ordering: .relaxed)
            if seen == last {
                var err = StandardError()
                print("natsbench(swift): sub stalled at \(seen)/\(n) msgs", to: &err)
                emit("RESULT client=swift mode=sub n=\(n) received=\(seen) error=stalled")
                exit(2)
            }
            last = seen
        }
    }

    let clock = ContinuousClock()
    var first = clock.now
    var last = first
    var count = 0
    var bytes = 0
    do {
        for try await message in sub {
            if count == 0 { first = clock.now }
            count += 1
            bytes += message.payload.readableBytes
            if count & 0x3FF == 0 { progress.count.store(count, ordering: .relaxed) }
            if count == n {
                last = clock.now
                break
            }
        }
    } catch {
        fail("receive", error)
    }
    watchdog.cancel()
    guard count == n else {
        emit("RESULT client=swift mode=sub n=\(n) received=\(count) error=ended")
        exit(2)
    }
    var el = seconds(last - first)
    if el <= 0 { el = 1e-9 }
    emit("RESULT client=swift mode=sub n=\(n) secs=\(fixed(el, 6)) msgs_per_s=\(fixed(Double(n) / el, 0)) MB_per_s=\(fixed(Double(bytes) / el / 1e6, 2))")
    await client.close()
}

/// The requester's busy polling (TCPDialer.busyPoll), as its DocC recommends for a task that
/// sends requests one after another: 150 µs, or NATSBENCH_REQ_BUSY_POLL_US (0: none).
func requesterBusyPoll() -> Duration {
    guard let text = ProcessInfo.processInfo.environment["NATSBENCH_REQ_BUSY_POLL_US"] else { return .microseconds(150) }
    guard let us = Int(text), us >= 0 else {
        var err = StandardError()
        print("natsbench(swift): NATSBENCH_REQ_BUSY_POLL_US must be a number of microseconds, not \(text)", to: &err)
        exit(2)
    }
    return .microseconds(us)
}

func doReq(url: String, n: Int, size: Int) async {
    let client = await connect(url, options: ConnectOptions().dialer(TCPDialer(busyPoll: requesterBusyPoll())))
    let body = payload(size: size, byte: "r")
    let clock = ContinuousClock()
    // The requests go out from a task on the connection's event loop
    // (NATSClient.preferredExecutor), as the client recommends for a task that sends requests
    // one after another: each reply resumes the requester in the turn of the loop that read
    // it. NATSBENCH_REQ_ANY_EXECUTOR=1 runs it on the global executor instead, where each
    // reply waits for one of its threads to wake (BENCHMARKS.md measures both). Its loop
    // polls the socket for a while before sleeping (requesterBusyPoll), so that a reply
    // arriving within it needs no wake-up of the thread.
    let onLoop = ProcessInfo.processInfo.environment["NATSBENCH_REQ_ANY_EXECUTOR"] == nil
    let task = Task(executorPreference: onLoop ? client.preferredExecutor : nil) { () -> (ContinuousClock.Instant, [Double]) in
        var latencies: [Double] = []
        latencies.reserveCapacity(n)
        do {
            // Warm-up: makes the shared response subscription.
            _ = try await client.request(body, to: "echo", timeout: .seconds(5))
            let t0 = clock.now
            for _ in 0..<n {
                let a = clock.now
                let reply = try await client.request(body, to: "echo", timeout: .seconds(5))
                let b = clock.now
                if reply.payload.readableBytes != size {
                    var err = StandardError()
                    print("natsbench(swift): bad reply size \(reply.payload.readableBytes)", to: &err)
                    exit(1)
                }
                latencies.append(seconds(b - a) * 1e6)
            }
            return (t0, latencies)
        } catch {
            fail("request", error)
        }
    }
    let (t0, measured) = await task.value
    let el = seconds(clock.now - t0)
    let mean = measured.reduce(0, +) / Double(max(n, 1))
    let latencies = measured.sorted()
    let p50 = latencies.isEmpty ? 0 : latencies[n / 2]
    let p99 = latencies.isEmpty ? 0 : latencies[min(Int(Double(n) * 0.99), n - 1)]
    emit("RESULT client=swift mode=req n=\(n) size=\(size) secs=\(fixed(el, 6)) req_per_s=\(fixed(Double(n) / el, 0)) mean_us=\(fixed(mean, 1)) p50_us=\(fixed(p50, 1)) p99_us=\(fixed(p99, 1))")
    await client.close()
}

func doEcho(url: String) async {
    let client = await connect(url, options: unlimitedPending)
    let sub = await subscribed(client, to: "echo")
    emit("READY")
    // Runs until SIGTERM/SIGINT ends the process (the default action). The handler runs on
    // the connection's event loop (NATSClient.preferredExecutor), as the client recommends
    // for short request handlers (nats.c's echo likewise uses SendAsap): a request is read
    // and answered in the same turn of the loop. NATSBENCH_ECHO_ANY_EXECUTOR=1 runs it on
    // the global executor instead.
    let onLoop = ProcessInfo.processInfo.environment["NATSBENCH_ECHO_ANY_EXECUTOR"] == nil
    let replier = Task(executorPreference: onLoop ? client.preferredExecutor : nil) {
        do {
            for try await message in sub {
                try await client.respond(to: message, with: message.payload)
            }
        } catch {
            fail("echo", error)
        }
    }
    await replier.value
    await client.close()
}

/// Publish-to-delivery latency at a steady rate: what a message without a reply subject
/// waits in the client (the writer's timer) shows here, and in no throughput mode.
func doLat(url: String, rate: Int, secs: Int, size: Int) async {
    let receiver = await connect(url, options: unlimitedPending)
    let sender = await connect(url)
    let sub = await subscribed(receiver, to: "lat")
    let n = rate * secs
    let clock = ContinuousClock()
    let t0 = clock.now
    // The receiver runs on its connection's event loop, as in `echo`, so that what shows is
    // the client's sending and the server, not a wake-up of the global executor's threads.
    let onLoop = ProcessInfo.processInfo.environment["NATSBENCH_LAT_ANY_EXECUTOR"] == nil
    let collector = Task(executorPreference: onLoop ? receiver.preferredExecutor : nil) { () -> [Double] in
        var latencies: [Double] = []
        latencies.reserveCapacity(n)
        do {
            for try await message in sub {
                let now = nanos(clock.now - t0)
                let sent = message.payload.getInteger(at: message.payload.readerIndex, as: UInt64.self) ?? now
                latencies.append(Double(now &- min(sent, now)) / 1e3)
                if latencies.count == n { break }
            }
        } catch {
            fail("receive", error)
        }
        return latencies
    }
    var body = payload(size: max(size, 8), byte: "l")
    do {
        var published = 0
        while published < n {
            let due = min(n, Int(seconds(clock.now - t0) * Double(rate)) + 1)
            while published < due {
                body.setInteger(nanos(clock.now - t0), at: 0)
                try await sender.publish(body, to: "lat")
                published += 1
            }
            try await Task.sleep(for: .milliseconds(1))
        }
        try await sender.flush(timeout: .seconds(10))
    } catch {
        fail("publish", error)
    }
    let deadline = Task {
        try? await Task.sleep(for: .seconds(10))
        collector.cancel()
    }
    var latencies = await collector.value
    deadline.cancel()
    guard latencies.count == n else {
        emit("RESULT client=swift mode=lat rate=\(rate) n=\(n) received=\(latencies.count) error=lost")
        exit(2)
    }
    latencies.sort()
    let at = { (q: Double) -> String in fixed(latencies[min(Int(Double(n) * q), n - 1)], 1) }
    emit("RESULT client=swift mode=lat rate=\(rate) n=\(n) size=\(size) p50_us=\(at(0.5)) p90_us=\(at(0.9)) p99_us=\(at(0.99)) max_us=\(at(1))")
    await sender.close()
    await receiver.close()
}

// MARK: - Main

func usage() -> Never {
    var err = StandardError()
    print("usage: natsbench pub URL N SIZE | sub URL N | req URL N SIZE | echo URL | lat URL RATE SECS SIZE", to: &err)
    exit(64)
}

func number(_ text: String) -> Int {
    guard let value = Int(text), value >= 0 else { usage() }
    return value
}

@main
struct NATSBench {
    static func main() async {
        let args = CommandLine.arguments
        guard args.count >= 3 else { usage() }
        let mode = args[1]
        let url = args[2]
        switch (mode, args.count) {
        case ("pub", 5): await doPub(url: url, n: number(args[3]), size: number(args[4]))
        case ("sub", 4):
            let n = number(args[3])
            guard n > 0 else { usage() }
            await doSub(url: url, n: n)
        case ("req", 5):
            let n = number(args[3])
            guard n > 0 else { usage() }
            await doReq(url: url, n: n, size: number(args[4]))
        case ("echo", 3): await doEcho(url: url)
        case ("lat", 6):
            let rate = number(args[3]), secs = number(args[4])
            guard rate > 0, secs > 0 else { usage() }
            await doLat(url: url, rate: rate, secs: secs, size: number(args[5]))
        default: usage()
        }
    }
}
