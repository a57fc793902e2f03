// wireprobe: the NATSWire parse/encode loops of NATSWireBenchmarks as a plain program,
// for profilers (valgrind --tool=callgrind, perf record) that want one process and no harness.
//
//   wireprobe parse  ROUNDS SIZE   parse 10k MSGs of SIZE bytes, fed in 64 KiB chunks, ROUNDS times
//   wireprobe encode ROUNDS SIZE   encode 10k PUBs of SIZE bytes into a reused buffer, ROUNDS times
//   wireprobe sizes                MemoryLayout sizes of the parser's value types

import NATSWire
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let messages = 10_000

func msgStream(count: Int, payloadSize: Int) -> ByteBuffer {
    let payload = [UInt8](repeating: UInt8(ascii: "a"), count: payloadSize)
    var buffer = ByteBuffer()
    for _ in 0..<count {
        buffer.writeString("MSG bench 1 \(payloadSize)\r\n")
        buffer.writeBytes(payload)
        buffer.writeStaticString("\r\n")
    }
    return buffer
}

@inline(never)
func parse(_ pieces: [ByteBuffer]) -> Int {
    var parser = ServerOpParser()
    var count = 0
    for piece in pieces {
        parser.append(piece)
        while let op = try? parser.next() {
            if case .msg = op { count += 1 }
        }
    }
    return count
}

@inline(never)
func encode(_ payload: ByteBuffer, into buffer: inout ByteBuffer) {
    buffer.clear()
    for _ in 0..<messages {
        ClientOpEncoder.writePub(subject: "bench", reply: nil, payload: payload, to: &buffer)
    }
}

let args = CommandLine.arguments
if args.count == 2, args[1] == "sizes" {
    // Every parsed operation is returned (and copied) as a ServerOp: its size is a hot-path cost.
    print("MemoryLayout sizes: ServerOp \(MemoryLayout<ServerOp>.size), MessageOp \(MemoryLayout<MessageOp>.size), ServerInfo \(MemoryLayout<ServerInfo>.size), ServerOpParser \(MemoryLayout<ServerOpParser>.size)")
    exit(0)
}
guard args.count == 4, let rounds = Int(args[2]), let size = Int(args[3]) else {
    print("usage: wireprobe parse|encode ROUNDS SIZE")
    exit(64)
}
let clock = ContinuousClock()
let t0 = clock.now
switch args[1] {
case "parse":
    var rest = msgStream(count: messages, payloadSize: size)
    var pieces: [ByteBuffer] = []
    while rest.readableBytes > 0, let s = rest.readSlice(length: min(64 * 1024, rest.readableBytes)) { pieces.append(s) }
    for _ in 0..<rounds where parse(pieces) != messages { print("bad count"); exit(1) }
case "encode":
    var payload = ByteBuffer()
    payload.writeRepeatingByte(UInt8(ascii: "a"), count: size)
    var buffer = ByteBuffer()
    buffer.reserveCapacity(messages * (size + 32))
    for _ in 0..<rounds { encode(payload, into: &buffer) }
default:
    print("usage: wireprobe parse|encode ROUNDS SIZE")
    exit(64)
}
let el = clock.now - t0
print("\(args[1]) \(rounds)x\(messages) msgs of \(size) B: \(el), \(Double(el.components.seconds) * 1e9 + Double(el.components.attoseconds) / 1e9) ns total")
