import Benchmark
import NATSClient
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// The client's publish path against a real nats-server on loopback.
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
        "publish \(messagesPerIteration) x \(payloadSize)B + flush",
        configuration: .init(
            metrics: [.throughput, .wallClock, .mallocCountTotal],
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
}
