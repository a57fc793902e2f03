// libFuzzer entry point for permessage-deflate (PerMessageDeflate.Compressor and
// Decompressor). Built by Tools/fuzz.sh (NATSWebSocket compiled with -enable-testing), not
// by Package.swift.
//
// Input layout: byte 0 = config (bit 0: no context takeover, bits 1-2: inflate limit
// 1 / 16 / 1024 / 1 MiB for arbitrary input, bits 3-5: compressor window bits 9 + n (capped
// at 15), bit 6: input is used as messages only, not as compressed data), byte 1 = where
// to split the rest into two messages, then the data.
//
// Checks:
// - Inflating the data as an arbitrary compressed message never yields more than the
//   limit, gives the same result twice on fresh decompressors, and leaves the
//   decompressor usable for a valid message afterwards when it failed (it resets).
// - Round trip: the two messages compressed one after the other (sharing or resetting
//   the context) inflate back to themselves, with a limit of exactly their size; a limit
//   one byte smaller fails with messageTooLarge.
@_spi(Benchmarks) @testable import NATSWebSocket
import NIOCore

private func fail(_ message: String) -> Never {
    fatalError("InflateFuzz: \(message)")
}

private func makeDecompressor(noContextTakeover: Bool) -> PerMessageDeflate.Decompressor {
    do {
        return try PerMessageDeflate.Decompressor(noContextTakeover: noContextTakeover)
    } catch {
        fail("inflateInit2: \(error)")
    }
}

/// Inflates `bytes`; returns the output or the error's code and description.
private func inflate(
    _ decompressor: PerMessageDeflate.Decompressor, _ bytes: ByteBuffer, limit: Int
) -> Result<[UInt8], WebSocketError> {
    do {
        let out = try decompressor.decompress(bytes, maxSize: limit)
        if out.readableBytes > limit { fail("inflated \(out.readableBytes) bytes with limit \(limit)") }
        return .success(Array(out.readableBytesView))
    } catch {
        if error.code != .invalidCompressedData && error.code != .messageTooLarge {
            fail("unexpected error \(error)")
        }
        return .failure(error)
    }
}

private func same(_ a: Result<[UInt8], WebSocketError>, _ b: Result<[UInt8], WebSocketError>) -> Bool {
    switch (a, b) {
    case (.success(let x), .success(let y)): x == y
    case (.failure(let x), .failure(let y)): x.code == y.code && x.description == y.description
    default: false
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzInflate(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    guard let data, count >= 2 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data, count: count)
    let config = input[0]
    let noContextTakeover = config & 1 != 0
    let limit = [1, 16, 1024, 1 << 20][Int((config >> 1) & 3)]
    let windowBits = min(15, 9 + Int((config >> 3) & 7))
    let rest = ByteBuffer(bytes: input[2...])

    // Arbitrary bytes as a compressed message.
    if config & 0x40 == 0 {
        let decompressor = makeDecompressor(noContextTakeover: noContextTakeover)
        let first = inflate(decompressor, rest, limit: limit)
        let again = inflate(makeDecompressor(noContextTakeover: noContextTakeover), rest, limit: limit)
        if !same(first, again) { fail("inflate is not deterministic: \(first) vs \(again)") }
        if case .failure = first {
            // The decompressor reset itself: a fresh compressed message must inflate.
            let message = ByteBuffer(bytes: input[2...].prefix(64))
            let compressor: PerMessageDeflate.Compressor
            do {
                compressor = try PerMessageDeflate.Compressor(windowBits: windowBits, noContextTakeover: true)
            } catch {
                fail("deflateInit2: \(error)")
            }
            var compressed = ByteBuffer()
            do {
                try compressor.compress(message, into: &compressed)
            } catch {
                fail("compress: \(error)")
            }
            guard case .success(let out) = inflate(decompressor, compressed, limit: message.readableBytes + 1),
                out == Array(message.readableBytesView)
            else { fail("decompressor unusable after a failed message") }
        }
    }

    // Round trip of two messages through one compressor and one decompressor.
    let split = min(Int(input[1]) * max(1, rest.readableBytes / 256), rest.readableBytes)
    let messages = [
        rest.getSlice(at: rest.readerIndex, length: split) ?? ByteBuffer(),
        rest.getSlice(at: rest.readerIndex + split, length: rest.readableBytes - split) ?? ByteBuffer(),
    ]
    let compressor: PerMessageDeflate.Compressor
    do {
        compressor = try PerMessageDeflate.Compressor(windowBits: windowBits, noContextTakeover: noContextTakeover)
    } catch {
        fail("deflateInit2: \(error)")
    }
    let decompressor = makeDecompressor(noContextTakeover: noContextTakeover)
    for message in messages {
        var compressed = ByteBuffer()
        do {
            try compressor.compress(message, into: &compressed)
        } catch {
            fail("compress failed: \(error)")
        }
        if compressed.readableBytes == 0 { fail("empty compressed message") }
        if noContextTakeover && message.readableBytes > 0 {
            // A message one byte over the limit fails on a fresh decompressor.
            let small = makeDecompressor(noContextTakeover: true)
            guard case .failure(let error) = inflate(small, compressed, limit: message.readableBytes - 1),
                error.code == .messageTooLarge
            else { fail("limit \(message.readableBytes - 1) not enforced") }
        }
        switch inflate(decompressor, compressed, limit: max(1, message.readableBytes)) {
        case .success(let out):
            if out != Array(message.readableBytesView) {
                fail("round trip changed \(message.readableBytes) bytes into \(out.count)")
            }
        case .failure(let error):
            fail("round trip of \(message.readableBytes) bytes failed: \(error)")
        }
    }
    return 0
}
