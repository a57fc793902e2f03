import Benchmark
import Foundation
import NATSTLS
import NATSTransport
import NIOCore
import Synchronization

// TLS costs (OpenSSL through TLSStream) with no network: a client and a server TLSStream
// over an in-memory pair of byte streams, in one process.
//
// - handshake_*: one iteration is one full handshake, client and server (certificate chain
//   verification and host name check on the client, no session resumption, no handshake
//   timeout task), then both sides close. `throughput` is handshakes per second.
// - transfer_*: over one established connection, the client writes 1 MiB in 16 KiB writes
//   and the server reads it all, then the server writes 1 MiB back the same way and the
//   client reads it: 2 MiB of application data through encryption and decryption per
//   iteration. The in-memory pipe is unbounded, so each side writes everything before the
//   other reads, in one task (no scheduling in the measurement).
//
// Certificates (a CA, and EC P-256 and RSA 2048 server certificates for `localhost`) are made
// with the `openssl` command in a temporary folder when the suite starts.
//
//   swift package --package-path Benchmarks benchmark --target NATSTLSBenchmarks
//
// mallocCountTotal is deterministic for the transfer and the TLS 1.2 handshake; their p90
// thresholds are in Thresholds/<swift version>/. The TLS 1.3 handshakes have none: their
// counts vary by a few between iterations (whether the server's session tickets are written
// before or after the client closed depends on timing).
//   swift package --package-path Benchmarks benchmark thresholds check --target NATSTLSBenchmarks \
//       --metric mallocCountTotal --path Benchmarks/Thresholds/6.3

let metrics: [BenchmarkMetric] = [.throughput, .wallClock, .mallocCountTotal]

/// Bytes sent each way by one iteration of the transfer benchmark.
let transferSize = 1024 * 1024
/// Bytes per `write` call.
let writeSize = 16 * 1024

// MARK: - In-memory byte streams

/// One half of a connected in-memory pair: what one side writes the other reads, in the
/// same chunks. Closing either side ends both directions.
struct MemoryStream: ByteStream {
    let inbound: MemoryPipe
    let outbound: MemoryPipe

    static func pair() -> (MemoryStream, MemoryStream) {
        let aToB = MemoryPipe()
        let bToA = MemoryPipe()
        return (MemoryStream(inbound: bToA, outbound: aToB), MemoryStream(inbound: aToB, outbound: bToA))
    }

    nonisolated(nonsending) func read() async throws -> ByteBuffer? { try await inbound.receive() }
    nonisolated(nonsending) func write(_ bytes: ByteBuffer) async throws { try outbound.send(bytes) }

    func close() async {
        outbound.close()
        inbound.close()
    }
}

struct MemoryStreamClosed: Error {}

/// An unbounded one-way queue of chunks with at most one waiting reader. A chunk already
/// queued is taken without suspending.
final class MemoryPipe: Sendable {
    private struct State {
        var chunks: [ByteBuffer] = []
        var head = 0
        var waiter: CheckedContinuation<ByteBuffer?, any Error>?
        var closed = false

        /// `.some(chunk)`, `.some(nil)` at the end, or `nil` when the reader must wait.
        mutating func take() -> ByteBuffer?? {
            if head < chunks.count {
                let chunk = chunks[head]
                head += 1
                if head == chunks.count {
                    chunks.removeAll(keepingCapacity: true)
                    head = 0
                }
                return .some(chunk)
            }
            return closed ? .some(nil) : nil
        }
    }

    private let state = Mutex(State())

    func send(_ bytes: ByteBuffer) throws {
        let waiter: CheckedContinuation<ByteBuffer?, any Error>? = try state.withLock { state in
            if state.closed { throw MemoryStreamClosed() }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.chunks.append(bytes)
            return nil
        }
        waiter?.resume(returning: bytes)
    }

    nonisolated(nonsending) func receive() async throws -> ByteBuffer? {
        if let ready = state.withLock({ $0.take() }) { return ready }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer?, any Error>) in
            let ready: ByteBuffer?? = state.withLock { state in
                if let ready = state.take() { return ready }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    func close() {
        let waiter = state.withLock { state in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}

// MARK: - Certificates and contexts

struct Fixtures: Sendable {
    /// Trusts only the benchmark CA; TLS 1.2 and 1.3.
    let client: TLSContext
    /// Trusts only the benchmark CA; TLS 1.2 only.
    let clientTLS12: TLSContext
    /// `localhost`, EC P-256.
    let serverEC: TLSServerContext
    /// `localhost`, RSA 2048.
    let serverRSA: TLSServerContext
}

struct OpenSSLCommandFailed: Error, CustomStringConvertible {
    let description: String
}

/// Runs `openssl` with `arguments`, failing with its output if it exits non-zero.
func openssl(_ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["openssl"] + arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let data = (try? output.fileHandleForReading.readToEnd()) ?? Data()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw OpenSSLCommandFailed(
            description: "openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(String(decoding: data, as: UTF8.self))")
    }
}

/// Makes a CA and two `localhost` server certificates in a fresh temporary folder, reads
/// them and builds the contexts; the folder is removed afterwards.
func makeFixtures() throws -> Fixtures {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("swift-nats-tls-bench-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    func read(_ name: String) throws -> String { try String(contentsOfFile: path(name), encoding: .utf8) }

    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    try openssl(["req", "-x509"] + ec + [
        "-keyout", path("ca-key.pem"), "-out", path("ca.pem"),
        "-subj", "/O=NATS Benchmarks/CN=NATS Benchmarks CA", "-days", "3650",
    ])
    try "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
        .write(toFile: path("server.ext"), atomically: true, encoding: .utf8)
    for (serial, (name, keyArguments)) in [("ec", ec), ("rsa", ["-newkey", "rsa:2048", "-nodes"])].enumerated() {
        try openssl(["req", "-new"] + keyArguments + [
            "-keyout", path("\(name)-key.pem"), "-out", path("\(name).csr"), "-subj", "/O=NATS Benchmarks/CN=localhost",
        ])
        try openssl([
            "x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.pem"), "-CAkey", path("ca-key.pem"),
            "-set_serial", "\(serial + 2)", "-days", "3650", "-sha256", "-extfile", path("server.ext"),
            "-out", path("\(name).pem"),
        ])
    }

    var configuration = TLSConfiguration()
    configuration.useSystemRoots = false
    configuration.additionalTrustRoots = [.pem(try read("ca.pem"))]
    var configurationTLS12 = configuration
    configurationTLS12.maximumVersion = .v1_2
    return Fixtures(
        client: try TLSContext(configuration: configuration),
        clientTLS12: try TLSContext(configuration: configurationTLS12),
        serverEC: try TLSServerContext(certificate: .pem(try read("ec.pem")), key: .pem(try read("ec-key.pem"))),
        serverRSA: try TLSServerContext(certificate: .pem(try read("rsa.pem")), key: .pem(try read("rsa-key.pem")))
    )
}

/// Made on first use (the suite's setup hook), shared by every benchmark.
let fixtures: Result<Fixtures, any Error> = Result { try makeFixtures() }

/// Runs both handshakes against each other over a fresh in-memory pair.
func handshake(client: TLSContext, server: TLSServerContext) async throws -> (client: TLSStream, server: TLSStream) {
    let (clientSide, serverSide) = MemoryStream.pair()
    async let accepted = TLSStream.accept(over: serverSide, context: server)
    let connected = try await TLSStream.connect(over: clientSide, context: client, serverHostname: "localhost", timeout: nil)
    return (connected, try await accepted)
}

// MARK: - Handshakes

func handshakeBenchmark(_ name: String, contexts: @escaping @Sendable (Fixtures) -> (TLSContext, TLSServerContext)) {
    Benchmark(
        "handshake_\(name)",
        configuration: .init(
            metrics: metrics,
            units: [.mallocCountTotal: .count],
            setup: { _ = try fixtures.get() }
        )
    ) { benchmark in
        let (client, server) = contexts(try fixtures.get())
        let streams = try await handshake(client: client, server: server)
        await streams.client.close()
        await streams.server.close()
    }
}

// MARK: - Record throughput

/// The established connection of the transfer benchmark, made by its setup hook.
final class ConnectionBox: Sendable {
    let streams = Mutex<(client: TLSStream, server: TLSStream)?>(nil)
}

let connection = ConnectionBox()

/// Writes `transferSize` bytes from `writer` in `writeSize` writes, then reads them all at `reader`.
func send(_ chunk: ByteBuffer, from writer: TLSStream, to reader: TLSStream) async throws -> Int {
    for _ in 0..<(transferSize / writeSize) {
        try await writer.write(chunk)
    }
    var received = 0
    while received < transferSize {
        guard let bytes = try await reader.read() else { break }
        received += bytes.readableBytes
    }
    return received
}

func transferBenchmark() {
    var chunk = ByteBuffer()
    chunk.writeRepeatingByte(UInt8(ascii: "a"), count: writeSize)
    let payload = chunk
    Benchmark(
        "transfer_1MiB_in_16KiB_writes_each_way",
        configuration: .init(
            metrics: metrics,
            units: [.mallocCountTotal: .count],
            setup: {
                let f = try fixtures.get()
                let streams = try await handshake(client: f.client, server: f.serverEC)
                // Let the client take the server's TLS 1.3 session tickets before measuring.
                _ = try await send(payload, from: streams.server, to: streams.client)
                connection.streams.withLock { $0 = streams }
            },
            teardown: {
                let streams = connection.streams.withLock { s in
                    defer { s = nil }
                    return s
                }
                await streams?.client.close()
                await streams?.server.close()
            }
        )
    ) { benchmark in
        guard let streams = connection.streams.withLock({ $0 }) else {
            benchmark.error("no TLS connection (the setup hook failed)")
            return
        }
        let up = try await send(payload, from: streams.client, to: streams.server)
        let down = try await send(payload, from: streams.server, to: streams.client)
        if up != transferSize || down != transferSize {
            benchmark.error("received \(up) and \(down) bytes, expected \(transferSize) each way")
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration.maxDuration = .seconds(2)
    Benchmark.defaultConfiguration.maxIterations = 1_000

    handshakeBenchmark("TLS13_ECDSA_P256") { ($0.client, $0.serverEC) }
    handshakeBenchmark("TLS12_ECDSA_P256") { ($0.clientTLS12, $0.serverEC) }
    handshakeBenchmark("TLS13_RSA_2048") { ($0.client, $0.serverRSA) }
    transferBenchmark()
}
