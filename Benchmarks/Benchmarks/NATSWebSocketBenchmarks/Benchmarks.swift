import Benchmark
@_spi(Benchmarks) import NATSWebSocket
import NIOCore

// WebSocket framing and permessage-deflate costs with no I/O, on NATS traffic: masking a
// client payload in place, encoding masked client frames carrying PUBs, parsing the
// server's unmasked frames carrying MSGs (frame parser and message assembler, in 64 KiB
// reads), and deflating / inflating messages with no context takeover on either side (what
// nats-server negotiates).
//
// The frame benchmarks handle `framesPerIteration` (10k) frames per iteration, the deflate
// benchmarks `messagesPerIteration` (1k) messages, so divide the per-iteration figures (time,
// mallocCountTotal) by that number for a per-frame or per-message cost. `throughput` is
// iterations per second.
//
//   swift package --package-path Benchmarks benchmark --target NATSWebSocketBenchmarks
//
// mallocCountTotal is deterministic; its p90 thresholds are in Thresholds/<swift version>/:
//   swift package --package-path Benchmarks benchmark thresholds check --target NATSWebSocketBenchmarks \
//       --metric mallocCountTotal --path Benchmarks/Thresholds/6.3

/// Frames masked, encoded or parsed by one iteration.
let framesPerIteration = 10_000

/// Messages deflated or inflated by one iteration.
let messagesPerIteration = 1_000

/// The read size the transport hands to the WebSocket layer.
let chunkSize = 64 * 1024

/// WebSocketConfiguration's default limits.
let maxMessageSize = 64 * 1024 * 1024
let maxFrameSize = 1024 * 1024

let metrics: [BenchmarkMetric] = [.throughput, .wallClock, .mallocCountTotal]

// MARK: - Traffic

/// A deterministic generator (SplitMix64), so every run works on the same bytes.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// `size` bytes of JSON-looking order events (compressible the way real payloads are:
/// repeated keys, varying values), cut or padded to exactly `size`.
func jsonPayload(size: Int, seed: UInt64) -> [UInt8] {
    var random = SplitMix64(state: seed)
    var text = #"{"order_id":"ord-\#(random.next() % 1_000_000)","customer":"cust-\#(random.next() % 10_000)","items":["#
    var first = true
    while text.utf8.count < size {
        let sku = random.next() % 100_000
        let qty = random.next() % 9 + 1
        let cents = random.next() % 100_000
        text += (first ? "" : ",") + #"{"sku":"SKU-\#(sku)","qty":\#(qty),"price":\#(cents / 100).\#(cents % 100)}"#
        first = false
    }
    var bytes = Array(text.utf8.prefix(max(0, size - 2)))
    bytes += Array(#"]}"#.utf8)
    return Array(bytes.prefix(size))
}

/// `<verb line>\r\n<payload>\r\n`, e.g. `PUB orders.eu.new 1024\r\n...\r\n`.
func operation(_ line: String, payload: [UInt8]) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeString(line)
    buffer.writeStaticString("\r\n")
    buffer.writeBytes(payload)
    buffer.writeStaticString("\r\n")
    return buffer
}

/// A client PUB with `payloadSize` bytes of JSON.
func pub(payloadSize: Int, seed: UInt64 = 1) -> ByteBuffer {
    operation("PUB orders.eu.new \(payloadSize)", payload: jsonPayload(size: payloadSize, seed: seed))
}

/// A server MSG with `payloadSize` bytes of JSON.
func msg(payloadSize: Int, sid: Int = 1, seed: UInt64 = 1) -> ByteBuffer {
    operation("MSG orders.eu.new \(sid) \(payloadSize)", payload: jsonPayload(size: payloadSize, seed: seed))
}

/// `count` MSGs of `payloadSize` bytes in one buffer: what nats-server puts in one
/// WebSocket message when it has several pending for a client.
func msgBatch(count: Int, payloadSize: Int, seed: UInt64) -> ByteBuffer {
    var buffer = ByteBuffer()
    for i in 0..<count {
        var one = msg(payloadSize: payloadSize, sid: 1 + i % 4, seed: seed &+ UInt64(i))
        buffer.writeBuffer(&one)
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

// MARK: - Masking

@inline(never)
func maskAll(_ bytes: inout [UInt8], key: MaskingKey) {
    bytes.withUnsafeMutableBytes { raw in
        for _ in 0..<framesPerIteration {
            Masking.apply(key: key, to: raw)
        }
    }
}

func maskBenchmark(payloadSize: Int) {
    let payload = Array(pub(payloadSize: payloadSize).readableBytesView)
    Benchmark(
        "mask_PUB_\(payloadSize)B_in_place_x10k",
        configuration: .init(metrics: metrics, units: [.mallocCountTotal: .count])
    ) { benchmark in
        var bytes = payload
        bytes.withUnsafeMutableBytes { _ in }  // copy on write here, not in the measurement
        benchmark.startMeasurement()
        maskAll(&bytes, key: MaskingKey(value: 0x37FA_213D))
        benchmark.stopMeasurement()
        blackHole(bytes[0])
    }
}

// MARK: - Frame encoding (client: masked)

/// Encodes `framesPerIteration` one-frame messages into `output` (cleared first, capacity
/// kept), each masked with the key `nextKey` returns.
@inline(never)
func encodeAll(_ payload: ByteBuffer, into output: inout ByteBuffer, nextKey: () -> MaskingKey) {
    output.clear()
    for _ in 0..<framesPerIteration {
        FrameEncoder.encodeMessage(
            opcode: .binary, payload: payload, compressed: false, maxFrameSize: maxFrameSize, into: &output
        ) { nextKey() }
    }
}

/// `_x10k`: a fresh key per frame from SystemRandomNumberGenerator, as WebSocketStream does;
/// `_x10k_one_key`: the same key for every frame, the framing and masking alone.
func encodeBenchmarks(payloadSize: Int) {
    let payload = pub(payloadSize: payloadSize)
    // Header (at most 2 + 2 + 4 bytes here) + payload per frame, with room to spare: never grows.
    let capacity = framesPerIteration * (payload.readableBytes + 16)
    Benchmark(
        "encode_masked_frame_PUB_\(payloadSize)B_x10k",
        configuration: .init(metrics: metrics, units: [.mallocCountTotal: .count])
    ) { benchmark in
        var generator = SystemRandomNumberGenerator()
        var output = ByteBuffer()
        output.reserveCapacity(capacity)
        encodeAll(payload, into: &output) { MaskingKey(value: UInt32(truncatingIfNeeded: generator.next())) }  // warm
        benchmark.startMeasurement()
        encodeAll(payload, into: &output) { MaskingKey(value: UInt32(truncatingIfNeeded: generator.next())) }
        benchmark.stopMeasurement()
        blackHole(output.readableBytes)
    }

    Benchmark(
        "encode_masked_frame_PUB_\(payloadSize)B_x10k_one_key",
        configuration: .init(metrics: metrics, units: [.mallocCountTotal: .count])
    ) { benchmark in
        let key = MaskingKey(value: 0x37FA_213D)
        var output = ByteBuffer()
        output.reserveCapacity(capacity)
        encodeAll(payload, into: &output) { key }  // warm, outside the measurement
        benchmark.startMeasurement()
        encodeAll(payload, into: &output) { key }
        benchmark.stopMeasurement()
        blackHole(output.readableBytes)
    }
}

// MARK: - Frame parsing (client: the server's unmasked frames, in 64 KiB reads)

/// Feeds the reads to a fresh parser and assembler the way WebSocketStream's reader does
/// (the same cumulation buffer handling); returns the number of messages and their bytes.
@inline(never)
func parseAll(_ reads: [ByteBuffer]) throws -> (messages: Int, bytes: Int) {
    var parser = FrameParser(role: .client, maxFrameSize: maxMessageSize, allowsCompression: false)
    var assembler = MessageAssembler(maxMessageSize: maxMessageSize)
    var cumulation = ByteBuffer()
    var messages = 0
    var bytes = 0
    for chunk in reads {
        if cumulation.readableBytes == 0 {
            cumulation = chunk
        } else {
            if cumulation.readerIndex > 64 * 1024 && cumulation.readerIndex > cumulation.readableBytes {
                cumulation.discardReadBytes()
            }
            cumulation.writeImmutableBuffer(chunk)
        }
        while let frame = try parser.next(from: &cumulation) {
            if case .message(let payload, compressed: _) = try assembler.receive(frame) {
                messages += 1
                bytes &+= payload.readableBytes
            }
        }
    }
    return (messages, bytes)
}

func parseBenchmark(payloadSize: Int) {
    var stream = ByteBuffer()
    let body = msg(payloadSize: payloadSize)
    for _ in 0..<framesPerIteration {
        FrameEncoder.encodeMessage(
            opcode: .binary, payload: body, compressed: false, maxFrameSize: maxFrameSize, into: &stream
        ) { nil }
    }
    let reads = chunks(of: stream, size: chunkSize)
    let expectedBytes = framesPerIteration * body.readableBytes
    Benchmark(
        "parse_frames_MSG_\(payloadSize)B_x10k_in_64KiB_reads",
        configuration: .init(metrics: metrics, units: [.mallocCountTotal: .count])
    ) { benchmark in
        let (messages, bytes) = try parseAll(reads)
        if messages != framesPerIteration || bytes != expectedBytes {
            benchmark.error("parsed \(messages) messages of \(bytes) bytes, expected \(framesPerIteration) of \(expectedBytes)")
        }
    }
}

// MARK: - permessage-deflate (no context takeover, window 15, zlib's default level)

@inline(never)
func deflateAll(
    _ messages: [ByteBuffer], with compressor: PerMessageDeflate.Compressor, into scratch: inout ByteBuffer
) throws -> Int {
    var bytes = 0
    for message in messages {
        scratch.clear()
        try compressor.compress(message, into: &scratch)
        bytes &+= scratch.readableBytes
    }
    return bytes
}

@inline(never)
func inflateAll(_ messages: [ByteBuffer], with decompressor: PerMessageDeflate.Decompressor) throws -> Int {
    var bytes = 0
    for message in messages {
        bytes &+= try decompressor.decompress(message, maxSize: maxMessageSize).readableBytes
    }
    return bytes
}

/// `messagesPerIteration` distinct messages (different JSON values, same shape and size).
func deflateBenchmarks(name: String, messages make: (UInt64) -> ByteBuffer) {
    let plain = (0..<messagesPerIteration).map { make(UInt64($0) &* 7919 &+ 1) }
    let plainBytes = plain.reduce(0) { $0 + $1.readableBytes }
    // The same messages as the server would send them, compressed once here.
    let compressed: [ByteBuffer]
    do {
        let compressor = try PerMessageDeflate.Compressor(windowBits: 15, noContextTakeover: true)
        compressed = try plain.map { message in
            var out = ByteBuffer()
            try compressor.compress(message, into: &out)
            return out
        }
    } catch {
        fatalError("cannot compress the benchmark messages: \(error)")
    }

    Benchmark(
        "deflate_\(name)_x1k",
        configuration: .init(metrics: metrics, units: [.mallocCountTotal: .count])
    ) { benchmark in
        let compressor = try PerMessageDeflate.Compressor(windowBits: 15, noContextTakeover: true)
        var scratch = ByteBuffer()
        scratch.reserveCapacity(4 * plain.map(\.readableBytes).max()! + 1024)
        _ = try deflateAll(plain, with: compressor, into: &scratch)  // warm, outside the measurement
        benchmark.startMeasurement()
        let bytes = try deflateAll(plain, with: compressor, into: &scratch)
        benchmark.stopMeasurement()
        blackHole(bytes)
    }

    Benchmark(
        "inflate_\(name)_x1k",
        configuration: .init(metrics: metrics, units: [.mallocCountTotal: .count])
    ) { benchmark in
        let decompressor = try PerMessageDeflate.Decompressor(noContextTakeover: true)
        _ = try decompressor.decompress(compressed[0], maxSize: maxMessageSize)  // zlib allocates its window here
        benchmark.startMeasurement()
        let bytes = try inflateAll(compressed, with: decompressor)
        benchmark.stopMeasurement()
        if bytes != plainBytes { benchmark.error("inflated \(bytes) bytes, expected \(plainBytes)") }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration.maxDuration = .seconds(2)
    Benchmark.defaultConfiguration.maxIterations = 1_000

    maskBenchmark(payloadSize: 16)
    maskBenchmark(payloadSize: 1024)
    encodeBenchmarks(payloadSize: 16)
    encodeBenchmarks(payloadSize: 1024)
    parseBenchmark(payloadSize: 16)
    parseBenchmark(payloadSize: 1024)
    // One MSG with a 1 KiB JSON payload per WebSocket message.
    deflateBenchmarks(name: "MSG_1KiB_JSON") { msg(payloadSize: 1024, seed: $0) }
    // 32 MSGs with 64-byte JSON payloads per WebSocket message (about 3 KiB).
    deflateBenchmarks(name: "MSG_64B_JSON_batch_of_32") { msgBatch(count: 32, payloadSize: 64, seed: $0) }
}
