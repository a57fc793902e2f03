import Benchmark
import NATSClient
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// The client's publish and receive paths against a real nats-server on loopback.
//
// Every iteration publishes `messagesPerIteration` messages and flushes (one PING/PONG),
// so mallocCountTotal / messagesPerIteration is the allocations per published message,
// writer task and event loop included (the malloc counter is process-wide).
//
//   nats-server -a 127.0.0.1 -p 4222 &
//   NATS_URL=nats://127.0.0.1:4222 swift package --package-path Benchmarks benchmark --target NATSClientBenchmarks
//
// Without a reachable server every benchmark here reports an error and measures nothing.

let messagesPerIteration = 10_000

/// The connected client, made once by the suite's setup hook.
final class ClientBox: Sendable {
    let client = Mutex<NATSClient?>(nil)
}

let box = ClientBox()

func serverURL() -> String {
    #if canImport(Glibc)
    if let p = getenv("NATS_URL") { return String(cString: p) }
    #endif
    return "nats://127.0.0.1:4222"
}

func publishBenchmark(payloadSize: Int) {
    var bytes = ByteBuffer()
    bytes.writeRepeatingByte(UInt8(ascii: "a"), count: payloadSize)
    let payload = bytes
    Benchmark(
        "publish_\(payloadSize)B_x10k_then_flush",
        configuration: .init(
            metrics: [.throughput, .wallClock, .mallocCountTotal],
            units: [.mallocCountTotal: .count],
            maxDuration: .seconds(3),
            maxIterations: 200
        )
    ) { benchmark in
        guard let client = box.client.withLock({ $0 }) else {
            benchmark.error("no nats-server at \(serverURL()) (set NATS_URL)")
            return
        }
        for _ in 0..<messagesPerIteration {
            try await client.publish(payload, to: "bench")
        }
        try await client.flush(timeout: .seconds(30))
    }
}

/// Subscribes, publishes `messagesPerIteration` messages on the same client and receives
/// them all: mallocCountTotal / messagesPerIteration is the cost of a message through
/// both paths (publish ~0, so mostly the receive path: parse, deliver, queue, iterator).
func roundTripBenchmark(payloadSize: Int) {
    var bytes = ByteBuffer()
    bytes.writeRepeatingByte(UInt8(ascii: "a"), count: payloadSize)
    let payload = bytes
    Benchmark(
        "publish_and_receive_\(payloadSize)B_x10k_one_client",
        configuration: .init(
            metrics: [.throughput, .wallClock, .mallocCountTotal],
            units: [.mallocCountTotal: .count],
            maxDuration: .seconds(3),
            maxIterations: 100
        )
    ) { benchmark in
        guard let client = box.client.withLock({ $0 }) else {
            benchmark.error("no nats-server at \(serverURL()) (set NATS_URL)")
            return
        }
        let sub = try await client.subscribe(to: "bench.roundtrip")
        try await client.flush(timeout: .seconds(30))
        for _ in 0..<messagesPerIteration {
            try await client.publish(payload, to: "bench.roundtrip")
        }
        var received = 0
        for try await message in sub {
            blackHole(message.payload.readableBytes)
            received += 1
            if received == messagesPerIteration { break }
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.setup = {
        let client = try? await NATSClient.connect(serverURL(), options: ConnectOptions().noReconnect())
        box.client.withLock { $0 = client }
    }
    Benchmark.teardown = {
        let client = box.client.withLock { c -> NATSClient? in
            defer { c = nil }
            return c
        }
        await client?.close()
    }
    publishBenchmark(payloadSize: 16)
    publishBenchmark(payloadSize: 1024)
    roundTripBenchmark(payloadSize: 16)
}
