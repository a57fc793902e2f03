// libFuzzer entry point for ServerOpParser. Built by Tools/fuzz.sh, not by Package.swift.
//
// Input layout: byte 0 = config (bits 0-2: number of chunk-size bytes - 1; bits 3-4: limits,
// default / small / Int.max / negative), then that many chunk-size bytes, then the byte stream fed to the parser.
// The stream is parsed three ways (chunk sizes cycling through the size bytes, all at
// once, byte by byte); all three must yield the same operations and the same error.
import NATSWire
import NIOCore

private struct Outcome: Equatable {
    var ops: [ServerOp] = []
    var error: ProtocolError?
    /// Bytes left in the parser at the end, when it did not fail.
    var buffered = 0
}

private func fail(_ message: String) -> Never {
    fatalError("ParserFuzz: \(message)")
}

/// Touches the lazily decoded parts of an operation, as a client would.
private func exercise(_ op: ServerOp) {
    switch op {
    case .msg(let m):
        _ = m.subject
        _ = m.replyTo
        if m.totalSize != (m.headerBytes?.readableBytes ?? 0) + m.payload.readableBytes { fail("totalSize") }
        if let h = m.headerBytes { _ = try? NATSHeaders.parse(h) }
    case .err(let e):
        _ = e.description
    case .info(let i):
        _ = i.maxPayload
    case .ping, .pong, .ok:
        break
    }
}

private func parse(
    _ stream: UnsafeRawBufferPointer, limits: ServerOpParser.Limits, chunkSize: (Int) -> Int
) -> Outcome {
    var parser = ServerOpParser(limits: limits)
    var outcome = Outcome()
    var offset = 0
    var chunkIndex = 0
    repeat {
        let n = min(max(1, chunkSize(chunkIndex)), stream.count - offset)
        chunkIndex += 1
        var chunk = ByteBuffer()
        chunk.writeBytes(UnsafeRawBufferPointer(rebasing: stream[offset..<offset + n]))
        offset += n
        parser.append(chunk)
        do {
            while let op = try parser.next() {
                exercise(op)
                outcome.ops.append(op)
            }
        } catch {
            outcome.error = error
            // The parser stays failed: the stream is out of sync.
            do {
                _ = try parser.next()
                fail("next() after \(error) did not throw")
            } catch let again {
                if again != error { fail("sticky error changed: \(error) -> \(again)") }
            }
            return outcome
        }
    } while offset < stream.count
    outcome.buffered = parser.bufferedBytes
    if outcome.buffered < 0 || outcome.buffered > stream.count { fail("bufferedBytes \(outcome.buffered)") }
    return outcome
}

/// The operation name the stream must start with (after spaces and tabs) for `op`.
private func keyword(of op: ServerOp) -> String {
    switch op {
    case .info: return "info"
    case .msg(let m): return m.headerBytes == nil ? "msg" : "hmsg"
    case .ping: return "ping"
    case .pong: return "pong"
    case .ok: return "+ok"
    case .err: return "-err"
    }
}

/// Checks that the first operation really is named by the first word of the stream,
/// compared case-insensitively (ASCII letters only).
private func checkFirstName(_ stream: UnsafeRawBufferPointer, _ op: ServerOp) {
    let word = stream.drop { $0 == 0x20 || $0 == 0x09 }.prefix { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D && $0 != 0x0A }
    let lowered = word.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
    if !lowered.elementsEqual(keyword(of: op).utf8) {
        fail("\(op) parsed from a line starting with \(Array(word))")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzServerOpParser(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    guard let data, count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data, count: count)
    let config = input[0]
    let sizeCount = Int(config & 7) + 1
    guard count > 1 + sizeCount else { return 0 }
    let sizes = input[1...sizeCount].map { Int($0) + 1 }
    var limits = ServerOpParser.Limits()
    switch (config >> 3) & 3 {
    case 1: (limits.maxControlLine, limits.maxMessageSize) = (48, 96)
    case 2: (limits.maxControlLine, limits.maxMessageSize) = (.max, .max)
    case 3: (limits.maxControlLine, limits.maxMessageSize) = (-1, -1)
    default: break
    }
    let stream = UnsafeRawBufferPointer(rebasing: input[(1 + sizeCount)...])

    let chunked = parse(stream, limits: limits) { sizes[$0 % sizes.count] }
    let whole = parse(stream, limits: limits) { _ in stream.count }
    let bytewise = parse(stream, limits: limits) { _ in 1 }
    if whole != chunked { fail("all-at-once \(whole) != chunked \(sizes): \(chunked)") }
    if whole != bytewise { fail("all-at-once \(whole) != byte-by-byte \(bytewise)") }
    if let first = whole.ops.first { checkFirstName(stream, first) }
    return 0
}
