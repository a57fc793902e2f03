import ArgumentParser
import Foundation
import NATSClient
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark publishing, subscribing, pub+sub and request/reply.",
        discussion: """
            pub: publish COUNT messages. sub: receive COUNT messages published by someone else \
            (e.g. another 'bench --mode pub'). pubsub: publish on one connection and receive on \
            another; latency from a timestamp in each payload (--size >= 8). reqrep: sequential \
            requests to a replier on a second connection; latency per request.
            """
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case pub, sub, pubsub, reqrep
    }

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "pub, sub, pubsub or reqrep.") var mode: Mode = .pubsub
    @Option(help: "Subject to use.") var subject: String = "bench.nats-swift"
    @Option(help: "Messages (default 100000; 10000 for reqrep).") var count: Int?
    @Option(help: "Payload bytes per message.") var size: Int = 128
    @Flag(help: "Print the summary as JSON.") var json = false

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        guard size >= 0 else { throw ValidationError("--size must not be negative") }
    }

    func run() async throws {
        let total = count ?? (mode == .reqrep ? 10_000 : 100_000)
        let progress = Progress(total: total, enabled: !json && isatty(2) == 1)
        let result: BenchResult
        switch mode {
        case .pub: result = try await runPub(total, progress)
        case .sub: result = try await runSub(total, progress)
        case .pubsub: result = try await runPubSub(total, progress)
        case .reqrep: result = try await runReqRep(total, progress)
        }
        progress.finish()
        if json { print(result.json) } else { print(result.table) }
    }

    private func payload(stamped: Bool) -> [UInt8] {
        var bytes = [UInt8](repeating: 0x61, count: size)
        if stamped && size >= 8 { writeStamp(&bytes) }
        return bytes
    }

    private func runPub(_ total: Int, _ progress: Progress) async throws -> BenchResult {
        let client = try await connection.connect()
        let body = ByteBuffer(bytes: payload(stamped: false))
        let start = ContinuousClock.now
        for i in 0..<total {
            try await client.publish(body, to: subject)
            if i & 0x3FF == 0 { progress.update(i) }
        }
        try await client.flush(timeout: .seconds(max(connection.timeout, 30)))
        let elapsed = ContinuousClock.now - start
        await client.close()
        return BenchResult(mode: "pub", count: total, size: size, elapsed: elapsed, latencies: [])
    }

    private func runSub(_ total: Int, _ progress: Progress) async throws -> BenchResult {
        let client = try await connection.connect()
        let sub = try await client.subscribe(to: subject)
        try await client.flush(timeout: .seconds(connection.timeout))
        standardError("waiting for \(total) messages on \"\(subject)\"")
        var received = 0
        var start: ContinuousClock.Instant?
        for try await _ in sub {
            if start == nil { start = .now }
            received += 1
            if received & 0x3FF == 0 { progress.update(received) }
            if received >= total { break }
        }
        let elapsed = start.map { ContinuousClock.now - $0 } ?? .zero
        await client.close()
        return BenchResult(mode: "sub", count: received, size: size, elapsed: elapsed, latencies: [])
    }

    private func runPubSub(_ total: Int, _ progress: Progress) async throws -> BenchResult {
        let subscriber = try await connection.connect()
        let publisher = try await connection.connect()
        let sub = try await subscriber.subscribe(to: subject)
        try await subscriber.flush(timeout: .seconds(connection.timeout))
        let stamped = size >= 8
        let receiver = Task { () throws -> [Int64] in
            var latencies: [Int64] = []
            latencies.reserveCapacity(stamped ? total : 0)
            var received = 0
            for try await message in sub {
                if stamped, let sent = readStamp(message.payload) { latencies.append(nowNanos() - sent) }
                received += 1
                if received & 0x3FF == 0 { progress.update(received) }
                if received >= total { break }
            }
            return latencies
        }
        let start = ContinuousClock.now
        var body = payload(stamped: false)
        for _ in 0..<total {
            if stamped { writeStamp(&body) }
            try await publisher.publish(body, to: subject)
        }
        try await publisher.flush(timeout: .seconds(max(connection.timeout, 30)))
        let latencies = try await withTimeout(max(connection.timeout, 30), "receiving \(total) messages") {
            try await receiver.value
        }
        let elapsed = ContinuousClock.now - start
        await publisher.close()
        await subscriber.close()
        return BenchResult(mode: "pubsub", count: total, size: size, elapsed: elapsed, latencies: latencies)
    }

    private func runReqRep(_ total: Int, _ progress: Progress) async throws -> BenchResult {
        let responder = try await connection.connect()
        let requester = try await connection.connect()
        let sub = try await responder.subscribe(to: subject)
        try await responder.flush(timeout: .seconds(connection.timeout))
        let replier = Task {
            for try await message in sub where message.hasReply {
                try await responder.respond(to: message, with: message.payload)
            }
        }
        let body = ByteBuffer(bytes: payload(stamped: false))
        var latencies: [Int64] = []
        latencies.reserveCapacity(total)
        let start = ContinuousClock.now
        for i in 0..<total {
            let t0 = ContinuousClock.now
            _ = try await requester.request(body, to: subject, timeout: .seconds(connection.timeout))
            latencies.append((ContinuousClock.now - t0).nanoseconds)
            if i & 0xFF == 0 { progress.update(i) }
        }
        let elapsed = ContinuousClock.now - start
        replier.cancel()
        await requester.close()
        await responder.close()
        return BenchResult(mode: "reqrep", count: total, size: size, elapsed: elapsed, latencies: latencies)
    }
}

// MARK: - Timestamps in payloads

func nowNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

func writeStamp(_ bytes: inout [UInt8]) {
    var value = UInt64(bitPattern: nowNanos()).littleEndian
    withUnsafeBytes(of: &value) { raw in
        for i in 0..<8 { bytes[i] = raw[i] }
    }
}

func readStamp(_ buffer: ByteBuffer) -> Int64? {
    guard let value = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt64.self) else { return nil }
    return Int64(bitPattern: value)
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, attos) = components
        return s * 1_000_000_000 + attos / 1_000_000_000
    }
}

// MARK: - Progress and results

/// A live `\r` progress line on a terminal; silent otherwise.
final class Progress: Sendable {
    let total: Int
    let enabled: Bool
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let now = ContinuousClock.now
        let due = last.withLock { last -> Bool in
            if let l = last, now - l < .milliseconds(100) { return false }
            last = now
            return true
        }
        guard due else { return }
        let percent = total == 0 ? 100 : done * 100 / total
        try? FileHandle.standardError.write(contentsOf: Data("\r\(done)/\(total) messages (\(percent)%)   ".utf8))
    }

    func finish() {
        if enabled { try? FileHandle.standardError.write(contentsOf: Data("\r\u{1B}[K".utf8)) }
    }
}

struct BenchResult {
    let mode: String
    let count: Int
    let size: Int
    let elapsed: Duration
    let latencies: [Int64]

    var seconds: Double { max(elapsed.seconds, 1e-9) }
    var messagesPerSecond: Double { Double(count) / seconds }
    var megabytesPerSecond: Double { Double(count * size) / seconds / 1_000_000 }

    /// Latency percentiles in microseconds.
    var percentiles: [(String, Double)] {
        guard !latencies.isEmpty else { return [] }
        let sorted = latencies.sorted()
        func at(_ p: Double) -> Double {
            let index = min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))
            return Double(sorted[index]) / 1000
        }
        return [("p50", at(0.5)), ("p90", at(0.9)), ("p99", at(0.99)), ("p99.9", at(0.999)), ("max", at(1))]
    }

    var table: String {
        var rows: [(String, String)] = [
            ("mode", mode),
            ("messages", String(count)),
            ("size", "\(size) B"),
            ("duration", String(format: "%.3f s", seconds)),
            ("msgs/s", String(format: "%.0f", messagesPerSecond)),
            ("MB/s", String(format: "%.2f", megabytesPerSecond)),
        ]
        for (name, value) in percentiles { rows.append(("latency \(name)", String(format: "%.1f us", value))) }
        let width = rows.map(\.0.count).max() ?? 0
        let line = "+" + String(repeating: "-", count: width + 2) + "+" + String(repeating: "-", count: 16) + "+"
        var out = line + "\n"
        for (k, v) in rows {
            out += "| " + k.padding(toLength: width, withPad: " ", startingAt: 0) + " | "
                + String(repeating: " ", count: max(0, 14 - v.count)) + v + " |\n"
        }
        return out + line
    }

    var json: String {
        var fields = [
            "\"mode\":\"\(mode)\"", "\"messages\":\(count)", "\"size\":\(size)",
            String(format: "\"seconds\":%.6f", seconds),
            String(format: "\"msgs_per_sec\":%.1f", messagesPerSecond),
            String(format: "\"mb_per_sec\":%.3f", megabytesPerSecond),
        ]
        if !percentiles.isEmpty {
            let inner = percentiles.map { "\"\($0.0)\":" + String(format: "%.1f", $0.1) }.joined(separator: ",")
            fields.append("\"latency_us\":{\(inner)}")
        }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
