import Benchmark
import NATSWire
import NIOCore

// Wire-level costs with no I/O: parsing the server's MSG stream and encoding PUBs.
//
// Every benchmark iteration handles `messagesPerIteration` (10k) messages, so divide the
// reported per-iteration figures (time, mallocCountTotal) by that number for a
// per-message cost. `throughput` is iterations per second.
//
//   swift package --package-path Benchmarks benchmark --target NATSWireBenchmarks
//
// mallocCountTotal is deterministic; its p90 thresholds are in Thresholds/<swift version>/:
//   swift package --package-path Benchmarks benchmark thresholds check --target NATSWireBenchmarks \
//       --metric mallocCountTotal --path Benchmarks/Thresholds/6.3

/// Messages handled by one iteration of every benchmark here.
let messagesPerIteration = 10_000

/// The read size the client's transport hands to the parser.
let chunkSize = 64 * 1024

let metrics: [BenchmarkMetric] = [.throughput, .wallClock, .mallocCountTotal]

/// `MSG bench <sid> <size>\r\n<payload>\r\n` repeated `count` times, in one buffer.
func msgStream(count: Int, payloadSize: Int) -> ByteBuffer {
    let payload = [UInt8](repeating: UInt8(ascii: "a"), count: payloadSize)
    var buffer = ByteBuffer()
    buffer.reserveCapacity(count * (payloadSize + 32))
    for _ in 0..<count {
        buffer.writeString("MSG bench 1 \(payloadSize)\r\n")
        buffer.writeBytes(payload)
        buffer.writeStaticString("\r\n")
    }
    return buffer
}

/// `buffer` cut into `size`-byte slices (slices share the storage: no copy).
func chunks(of buffer: ByteBuffer, size: Int) -> [ByteBuffer] {
    var rest = buffer
    var result: [ByteBuffer] = []
    while rest.readableBytes > 0 {
        if let slice = rest.readSlice(length: min(size, rest.readableBytes)) { result.append(slice) }
    }
    return result
}

/// Feeds every chunk to a fresh parser and consumes all operations; returns the MSG count.
@inline(never)
func parseAll(_ chunks: [ByteBuffer]) throws -> Int {
    var parser = ServerOpParser()
    var messages = 0
    var bytes = 0
    for chunk in chunks {
        parser.append(chunk)
        while let op = try parser.next() {
            if case .msg(let m) = op {
                messages += 1
                bytes &+= m.payload.readableBytes
            }
        }
    }
    blackHole(bytes)
    return messages
}

func parseBenchmark(payloadSize: Int) {
    let stream = msgStream(count: messagesPerIteration, payloadSize: payloadSize)
    let pieces = chunks(of: stream, size: chunkSize)
    Benchmark(
        "parse_MSG_\(payloadSize)B_x10k_in_64KiB_chunks",
        configuration: .init(metrics: metrics, units: [.mallocCountTotal: .count])
    ) { benchmark in
        let count = try parseAll(pieces)
        if count != messagesPerIteration {
            benchmark.error("parsed \(count) messages, expected \(messagesPerIteration)")
        }
    }
}

/// Encodes `messagesPerIteration` PUBs into `buffer` (cleared first, capacity kept).
@inline(never)
func encodeAll(_ payload: ByteBuffer, into buffer: inout ByteBuffer) {
    buffer.clear()
    for _ in 0..<messagesPerIteration {
        ClientOpEncoder.writePub(subject: "bench", reply: nil, payload: payload, to: &buffer)
    }
}

@inline(never)
func encodeAllBytes(_ payload: [UInt8], into buffer: inout ByteBuffer) {
    buffer.clear()
    for _ in 0..<messagesPerIteration {
        ClientOpEncoder.writePub(subject: "bench", reply: nil, payload: payload, to: &buffer)
    }
}

/// The client's path: PUBs into an OutboundBuffer (raw-pointer writes).
@inline(never)
func encodeAllOutbound(_ payload: ByteBuffer, into buffer: inout OutboundBuffer) {
    buffer.removeAll()
    for _ in 0..<messagesPerIteration {
        ClientOpEncoder.writePub(subject: "bench", reply: nil, payload: payload, to: &buffer)
    }
}

/// What the client does for a publish without headers: the subject checked while it is
/// copied (``ClientOpEncoder/writeVisiblePub(subject:reply:payload:to:)-(_,_,ByteBuffer,_)``).
@inline(never)
func encodeAllVisible(_ payload: ByteBuffer, into buffer: inout OutboundBuffer) -> Int {
    buffer.removeAll()
    var written = 0
    for _ in 0..<messagesPerIteration {
        if ClientOpEncoder.writeVisiblePub(subject: "bench", reply: nil, payload: payload, to: &buffer) { written += 1 }
    }
    return written
}

func encodeBenchmarks(payloadSize: Int) {
    let bytes = [UInt8](repeating: UInt8(ascii: "a"), count: payloadSize)
    let payload = ByteBuffer(bytes: bytes)
    // "PUB bench <size>\r\n" + payload + "\r\n", with room to spare: never grows.
    let capacity = messagesPerIteration * (payloadSize + 32)

    Benchmark(
        "encode_PUB_\(payloadSize)B_ByteBuffer_payload_x10k",
        configuration: .init(metrics: metrics, units: [.mallocCountTotal: .count])
    ) { benchmark in
        var buffer = ByteBuffer()
        buffer.reserveCapacity(capacity)
        encodeAll(payload, into: &buffer)   // warm: the first pass sizes nothing, but keep it out of the measurement
        benchmark.startMeasurement()
        encodeAll(payload, into: &buffer)
        benchmark.stopMeasurement()
        blackHole(buffer.readableBytes)
    }

    Benchmark(
        "encode_PUB_\(payloadSize)B_into_OutboundBuffer_x10k",
        configuration: .init(metrics: metrics, units: [.mallocCountTotal: .count])
    ) { benchmark in
        var buffer = OutboundBuffer(minimumCapacity: capacity)
        encodeAllOutbound(payload, into: &buffer)
        benchmark.startMeasurement()
        encodeAllOutbound(payload, into: &buffer)
        benchmark.stopMeasurement()
        blackHole(buffer.count)
    }

    Benchmark(
        "encode_checked_PUB_\(payloadSize)B_into_OutboundBuffer_x10k",
        configuration: .init(metrics: metrics, units: [.mallocCountTotal: .count])
    ) { benchmark in
        var buffer = OutboundBuffer(minimumCapacity: capacity)
        _ = encodeAllVisible(payload, into: &buffer)
        benchmark.startMeasurement()
        let written = encodeAllVisible(payload, into: &buffer)
        benchmark.stopMeasurement()
        if written != messagesPerIteration {
            benchmark.error("wrote \(written) PUBs, expected \(messagesPerIteration)")
        }
        blackHole(buffer.count)
    }

    Benchmark(
        "encode_PUB_\(payloadSize)B_bytes_payload_x10k",
        configuration: .init(metrics: metrics, units: [.mallocCountTotal: .count])
    ) { benchmark in
        var buffer = ByteBuffer()
        buffer.reserveCapacity(capacity)
        encodeAllBytes(bytes, into: &buffer)
        benchmark.startMeasurement()
        encodeAllBytes(bytes, into: &buffer)
        benchmark.stopMeasurement()
        blackHole(buffer.readableBytes)
    }
}

/// The check every publish makes of its subject, for a short (inline) and a long subject.
func validationBenchmarks() {
    for subject in ["bench", "orders.europe.customer.created.v2"] {
        // Built at run time, so that the compiler cannot fold the check.
        let subject = String(subject.reversed().reversed())
        Benchmark(
            "validate_publish_subject_\(subject.utf8.count)B_x10k",
            configuration: .init(metrics: metrics, units: [.mallocCountTotal: .count])
        ) { benchmark in
            var valid = 0
            for _ in 0..<messagesPerIteration {
                if (try? SubjectValidation.validatePublish(subject)) != nil { valid += 1 }
            }
            blackHole(valid)
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration.maxDuration = .seconds(2)
    Benchmark.defaultConfiguration.maxIterations = 1_000

    parseBenchmark(payloadSize: 16)
    parseBenchmark(payloadSize: 1024)
    encodeBenchmarks(payloadSize: 16)
    encodeBenchmarks(payloadSize: 1024)
    validationBenchmarks()
}
