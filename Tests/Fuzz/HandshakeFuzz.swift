// libFuzzer entry point for the client side of the WebSocket opening handshake
// (ClientHandshake.receive: the server's HTTP response and Sec-WebSocket-Extensions
// negotiation). Built by Tools/fuzz.sh (NATSWebSocket compiled with -enable-testing), not
// by Package.swift.
//
// Input layout: byte 0 = config (bits 0-2: the permessage-deflate offer, none or one of
// seven configurations; bits 3-4: a filler header line of 0 / 12 288 / 16 000 / 16 300 bytes
// inserted after the first line, to reach the 16 KiB header limit; bits 5-7: number of
// chunk-size bytes - 1), then that many chunk-size bytes, then the response.
// The key is the RFC 6455 example key, so a valid Sec-WebSocket-Accept is
// "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" (in the dictionary).
//
// Checks: the response fed in chunks, all at once and byte by byte gives the same result
// or the same error; on success the leftover is exactly the bytes after the first blank
// line, the status line is HTTP/1.x 101, and the agreed deflate parameters stay within the
// offer; error descriptions show only printable ASCII.
@_spi(Benchmarks) @testable import NATSWebSocket
import NIOCore

private func fail(_ message: String) -> Never {
    fatalError("HandshakeFuzz: \(message)")
}

private let key = "dGhlIHNhbXBsZSBub25jZQ=="

private let offers: [PerMessageDeflate.Configuration?] = [
    nil,
    PerMessageDeflate.Configuration(),
    PerMessageDeflate.Configuration(clientNoContextTakeover: true, serverNoContextTakeover: true),
    PerMessageDeflate.Configuration(clientMaxWindowBits: 10, serverMaxWindowBits: 12),
    PerMessageDeflate.Configuration(clientMaxWindowBits: 8, serverMaxWindowBits: 8),
    PerMessageDeflate.Configuration(serverNoContextTakeover: true, serverMaxWindowBits: 9),
    PerMessageDeflate.Configuration(clientNoContextTakeover: true, clientMaxWindowBits: 15, serverMaxWindowBits: 14),
    PerMessageDeflate.Configuration(clientMaxWindowBits: 9, serverMaxWindowBits: 15),
]

private enum Outcome: Equatable {
    case incomplete
    case done(PerMessageDeflate.Parameters?, leftover: [UInt8])
    case failed(String)
}

private func run(_ stream: [UInt8], offer: PerMessageDeflate.Configuration?, chunkSize: (Int) -> Int) -> Outcome {
    var handshake = ClientHandshake(key: key, offeredDeflate: offer)
    var offset = 0
    var chunkIndex = 0
    repeat {
        let n = min(max(1, chunkSize(chunkIndex)), stream.count - offset)
        chunkIndex += 1
        let chunk = ByteBuffer(bytes: stream[offset..<offset + n])
        offset += n
        do {
            if let result = try handshake.receive(chunk) {
                // The caller hands everything after the response to the frame parser.
                return .done(result.deflate, leftover: Array(result.leftover.readableBytesView) + stream[offset...])
            }
        } catch {
            checkShown(error)
            return .failed("\(error.code) \(error.description)")
        }
    } while offset < stream.count
    return .incomplete
}

/// Peer text in errors is sanitized: printable ASCII plus the ellipsis of a cut.
private func checkShown(_ error: WebSocketError) {
    for text in [error.description, error.statusLine ?? ""] {
        if text.unicodeScalars.contains(where: { ($0.value < 0x20 || $0.value >= 0x7F) && $0 != "…" }) {
            fail("unsanitized error text: \(text.debugDescription)")
        }
    }
    if let statusLine = error.statusLine, statusLine.unicodeScalars.count > 201 {
        fail("status line of \(statusLine.unicodeScalars.count) characters")
    }
}

private func checkSuccess(_ stream: [UInt8], _ deflate: PerMessageDeflate.Parameters?, _ leftover: [UInt8], offer: PerMessageDeflate.Configuration?) {
    let crlf2: [UInt8] = [13, 10, 13, 10]
    guard let end = stream.indices.first(where: { stream[$0...].starts(with: crlf2) }) else {
        fail("success without a blank line")
    }
    if leftover != Array(stream[(end + 4)...]) { fail("leftover is not the bytes after the header block") }
    if end > ClientHandshake.maxHeaderBlockSize { fail("header block of \(end) bytes accepted") }
    let status = stream.prefix { $0 != 13 && $0 != 10 }
    if !status.starts(with: Array("HTTP/1.".utf8)) { fail("status line \(Array(status))") }
    let parts = status.split(separator: 32, maxSplits: 2, omittingEmptySubsequences: false)
    if parts.count < 2 || Array(parts[1]) != Array("101".utf8) { fail("status is not 101") }
    guard let deflate else { return }
    guard let offer else { fail("deflate agreed although not offered") }
    if !(8...15).contains(deflate.clientMaxWindowBits) || deflate.clientMaxWindowBits > offer.clientMaxWindowBits {
        fail("client_max_window_bits \(deflate.clientMaxWindowBits) outside the offer")
    }
    if !(8...15).contains(deflate.serverMaxWindowBits) || deflate.serverMaxWindowBits > offer.serverMaxWindowBits {
        fail("server_max_window_bits \(deflate.serverMaxWindowBits) outside the offer")
    }
    if offer.clientNoContextTakeover && !deflate.clientNoContextTakeover { fail("client_no_context_takeover dropped") }
    if offer.serverNoContextTakeover && !deflate.serverNoContextTakeover { fail("server_no_context_takeover dropped") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHandshake(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    guard let data, count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data, count: count)
    let config = input[0]
    let sizeCount = Int(config >> 5) + 1
    guard count > 1 + sizeCount else { return 0 }
    let sizes = input[1...sizeCount].map { Int($0) + 1 }
    let offer = offers[Int(config & 7)]
    var stream = Array(input[(1 + sizeCount)...])
    let pad = [0, 12_288, 16_000, 16_300][Int((config >> 3) & 3)]
    if pad > 0 {
        let lineEnd = stream.firstIndex(of: 10).map { $0 + 1 } ?? stream.count
        stream.insert(contentsOf: Array("X-Pad: ".utf8) + Array(repeating: UInt8(ascii: "a"), count: pad) + [13, 10], at: lineEnd)
    }

    if ClientHandshake.acceptValue(forKey: key) != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" { fail("acceptValue") }
    let whole = run(stream, offer: offer) { _ in stream.count }
    let chunked = run(stream, offer: offer) { sizes[$0 % sizes.count] }
    if whole != chunked { fail("all-at-once \(whole) != chunked \(sizes): \(chunked)") }
    let bytewise = run(stream, offer: offer) { _ in 1 }
    if whole != bytewise { fail("all-at-once \(whole) != byte-by-byte \(bytewise)") }
    if case .done(let deflate, let leftover) = whole { checkSuccess(stream, deflate, leftover, offer: offer) }
    return 0
}
