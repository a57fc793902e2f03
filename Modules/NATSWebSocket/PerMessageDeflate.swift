internal import CNATSZlib
@_spiOnly public import NIOCore

/// RFC 7692 permessage-deflate: the client offer, the server reply, and raw-deflate
/// compressor and decompressor with separate zlib streams for each direction.
public enum PerMessageDeflate {
    /// What this client offers and how it compresses.
    public struct Configuration: Sendable, Hashable {
        /// Ask that we reset our compression context after each message
        /// (`client_no_context_takeover`); saves memory on the server.
        public var clientNoContextTakeover: Bool
        /// Ask the server to reset its context after each message (`server_no_context_takeover`).
        public var serverNoContextTakeover: Bool
        /// The largest LZ77 window (8...15) our compressor may use; 15 offers the parameter
        /// without a value, letting the server choose. zlib cannot deflate raw data with an
        /// 8-bit window, so when 8 applies (ours or the server's choice) outgoing messages
        /// are sent uncompressed, which RFC 7692 allows; inflating is unaffected.
        public var clientMaxWindowBits: Int
        /// The largest window (8...15) we ask the server to use; 15 sends no limit.
        public var serverMaxWindowBits: Int
        /// Messages shorter than this many bytes are sent uncompressed.
        public var compressionThreshold: Int
        /// Largest size a compressed message may inflate to; larger ones fail with close
        /// code 1009 (a decompression bomb cannot exhaust memory).
        public var maxInflatedMessageSize: Int

        /// Creates a configuration; the defaults accept context takeover and full windows.
        public init(
            clientNoContextTakeover: Bool = false,
            serverNoContextTakeover: Bool = false,
            clientMaxWindowBits: Int = 15,
            serverMaxWindowBits: Int = 15,
            compressionThreshold: Int = 64,
            maxInflatedMessageSize: Int = 64 * 1024 * 1024
        ) {
            self.clientNoContextTakeover = clientNoContextTakeover
            self.serverNoContextTakeover = serverNoContextTakeover
            self.clientMaxWindowBits = clientMaxWindowBits
            self.serverMaxWindowBits = serverMaxWindowBits
            self.compressionThreshold = compressionThreshold
            self.maxInflatedMessageSize = maxInflatedMessageSize
        }

        func validate() throws(WebSocketError) {
            guard (8...15).contains(clientMaxWindowBits), (8...15).contains(serverMaxWindowBits) else {
                throw .invalidConfiguration("permessage-deflate window bits must be between 8 and 15")
            }
            guard compressionThreshold >= 0, maxInflatedMessageSize > 0 else {
                throw .invalidConfiguration("the compression threshold must be >= 0 and the inflate limit > 0")
            }
        }
    }

    /// The parameters both sides agreed on.
    struct Parameters: Sendable, Hashable {
        var clientNoContextTakeover = false
        var serverNoContextTakeover = false
        var clientMaxWindowBits = 15
        var serverMaxWindowBits = 15
    }

    static let extensionName = "permessage-deflate"

    /// The `Sec-WebSocket-Extensions` value offering `configuration` (RFC 7692 §7.1).
    static func offer(_ configuration: Configuration) -> String {
        var offer = extensionName
        if configuration.clientNoContextTakeover { offer += "; client_no_context_takeover" }
        if configuration.serverNoContextTakeover { offer += "; server_no_context_takeover" }
        if configuration.serverMaxWindowBits < 15 {
            offer += "; server_max_window_bits=\(configuration.serverMaxWindowBits)"
        }
        if configuration.clientMaxWindowBits < 15 {
            offer += "; client_max_window_bits=\(configuration.clientMaxWindowBits)"
        } else {
            offer += "; client_max_window_bits"
        }
        return offer
    }

    /// Checks the parameters of the server's `permessage-deflate` reply against what we
    /// offered (RFC 7692 §7.1.1, §7.1.2) and returns what applies to this connection.
    /// A failure message is returned as the error's detail.
    static func accept(
        parameters: [(name: String, value: String?)],
        offered configuration: Configuration
    ) -> Result<Parameters, ExtensionRejection> {
        var result = Parameters(
            clientNoContextTakeover: configuration.clientNoContextTakeover,
            serverNoContextTakeover: configuration.serverNoContextTakeover,
            clientMaxWindowBits: configuration.clientMaxWindowBits,
            serverMaxWindowBits: configuration.serverMaxWindowBits
        )
        var seen = Set<String>()
        for (name, value) in parameters {
            guard seen.insert(name).inserted else {
                return .failure(ExtensionRejection("permessage-deflate repeats \(name)"))
            }
            switch name {
            case "server_no_context_takeover", "client_no_context_takeover":
                guard value == nil else {
                    return .failure(ExtensionRejection("\(name) must not have a value"))
                }
                if name == "server_no_context_takeover" {
                    result.serverNoContextTakeover = true
                } else {
                    result.clientNoContextTakeover = true
                }
            case "server_max_window_bits", "client_max_window_bits":
                guard let value, let bits = Int(value), (8...15).contains(bits), value.count <= 2 else {
                    return .failure(ExtensionRejection("\(name) needs a value between 8 and 15"))
                }
                if name == "server_max_window_bits" {
                    guard bits <= configuration.serverMaxWindowBits else {
                        return .failure(ExtensionRejection("server_max_window_bits=\(bits) exceeds our offer"))
                    }
                    result.serverMaxWindowBits = bits
                } else {
                    guard bits <= configuration.clientMaxWindowBits else {
                        return .failure(ExtensionRejection("client_max_window_bits=\(bits) exceeds our offer"))
                    }
                    result.clientMaxWindowBits = bits
                }
            default:
                return .failure(ExtensionRejection("permessage-deflate has the unknown parameter \(name)"))
            }
        }
        return .success(result)
    }

    struct ExtensionRejection: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// The trailing empty stored block that a sync flush emits (RFC 7692 §7.2.1).
    static let syncTail: UInt32 = 0x0000_FFFF

    /// Compresses outgoing messages with raw deflate (negative windowBits). Owned by one
    /// connection; access is serialized by the caller.
    @_spi(Benchmarks) public final class Compressor {
        private let stream: UnsafeMutablePointer<z_stream>
        private let noContextTakeover: Bool

        /// zlib's deflate cannot use an 8-bit window for raw deflate (zlib.h, deflateInit2);
        /// a peer that limits us to 8 therefore gets uncompressed messages, which RFC 7692
        /// allows, instead of a 9-bit window it could not inflate.
        static func canCompress(windowBits: Int) -> Bool { windowBits >= 9 }

        /// zlib counts input in 32-bit units; larger messages are sent uncompressed.
        static let maxInput = 1 << 30

        @_spi(Benchmarks) public init(windowBits: Int, noContextTakeover: Bool) throws(WebSocketError) {
            stream = .allocate(capacity: 1)
            stream.initialize(to: z_stream())
            self.noContextTakeover = noContextTakeover
            let rc = CNATSZlib_deflateInit2(
                stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -Int32(max(9, min(15, windowBits))), 8, Z_DEFAULT_STRATEGY)
            guard rc == Z_OK else {
                stream.deinitialize(count: 1)
                stream.deallocate()
                throw .compressionFailed("deflateInit2 returned \(rc)")
            }
        }

        deinit {
            deflateEnd(stream)
            stream.deinitialize(count: 1)
            stream.deallocate()
        }

        /// Appends the compressed form of `message` to `output`, without the sync-flush
        /// tail (RFC 7692 §7.2.1).
        @_spi(Benchmarks) public func compress(_ message: ByteBuffer, into output: inout ByteBuffer) throws(WebSocketError) {
            guard message.readableBytes <= Self.maxInput else {
                throw .compressionFailed("a message over \(Self.maxInput) bytes cannot be compressed")
            }
            let start = output.writerIndex
            let result: Int32 = message.withUnsafeReadableBytes { input in
                stream.pointee.next_in = UnsafeMutablePointer(
                    mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
                stream.pointee.avail_in = UInt32(truncatingIfNeeded: input.count)  // caller caps the size
                var room = Int(deflateBound(stream, UInt(input.count))) + 16
                var rc = Z_OK
                repeat {
                    output.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { out in
                        stream.pointee.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                        let offered = min(out.count, Int(UInt32.max))
                        stream.pointee.avail_out = UInt32(offered)
                        rc = deflate(stream, Z_SYNC_FLUSH)
                        return offered - Int(stream.pointee.avail_out)
                    }
                    room = 4096
                } while rc == Z_OK && stream.pointee.avail_out == 0
                stream.pointee.next_in = nil
                stream.pointee.next_out = nil
                return rc == Z_BUF_ERROR ? Z_OK : rc
            }
            guard result == Z_OK else { throw .compressionFailed("deflate returned \(result)") }
            if output.writerIndex - start >= 4,
                output.getInteger(at: output.writerIndex - 4, as: UInt32.self) == PerMessageDeflate.syncTail
            {
                output.moveWriterIndex(to: output.writerIndex - 4)
            }
            if output.writerIndex == start {
                output.writeInteger(UInt8(0))  // RFC 7692 §7.2.3.6: an empty deflate block
            }
            if noContextTakeover { deflateReset(stream) }
        }
    }

    /// Inflates incoming messages with raw deflate, bounded in output size. Owned by one
    /// connection; access is serialized by the caller.
    @_spi(Benchmarks) public final class Decompressor {
        private let stream: UnsafeMutablePointer<z_stream>
        private let noContextTakeover: Bool

        /// Inflates with a 15-bit window whatever the server announced: a larger window
        /// inflates any stream made with a smaller one, and sidesteps zlib's missing
        /// 8-bit raw window (treated as 9 by zlib's own documentation).
        @_spi(Benchmarks) public init(noContextTakeover: Bool) throws(WebSocketError) {
            stream = .allocate(capacity: 1)
            stream.initialize(to: z_stream())
            self.noContextTakeover = noContextTakeover
            let rc = CNATSZlib_inflateInit2(stream, -15)
            guard rc == Z_OK else {
                stream.deinitialize(count: 1)
                stream.deallocate()
                throw .compressionFailed("inflateInit2 returned \(rc)")
            }
        }

        deinit {
            inflateEnd(stream)
            stream.deinitialize(count: 1)
            stream.deallocate()
        }

        /// Inflates one message (the tail `00 00 ff ff` is appended here, RFC 7692 §7.2.2).
        /// Fails with `messageTooLarge` as soon as the output would exceed `maxSize`.
        @_spi(Benchmarks) public func decompress(
            _ message: ByteBuffer,
            maxSize: Int,
            allocator: ByteBufferAllocator = ByteBufferAllocator()
        ) throws(WebSocketError) -> ByteBuffer {
            let maxSize = min(maxSize, Int(UInt32.max) - 1)
            guard message.readableBytes <= Int(UInt32.max) else { throw .messageTooLarge(limit: maxSize) }
            var output = allocator.buffer(capacity: min(maxSize + 1, max(256, message.readableBytes * 4)))
            do {
                try message.withUnsafeReadableBytes { input throws(WebSocketError) in
                    try feed(input, into: &output, maxSize: maxSize)
                }
                var tail = PerMessageDeflate.syncTail.bigEndian
                try withUnsafeBytes(of: &tail) { input throws(WebSocketError) in
                    try feed(input, into: &output, maxSize: maxSize)
                }
            } catch {
                inflateReset(stream)
                throw error
            }
            if noContextTakeover { inflateReset(stream) }
            return output
        }

        private func feed(
            _ input: UnsafeRawBufferPointer,
            into output: inout ByteBuffer,
            maxSize: Int
        ) throws(WebSocketError) {
            guard input.count > 0 else { return }
            stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = UInt32(input.count)
            defer {
                stream.pointee.next_in = nil
                stream.pointee.next_out = nil
            }
            while true {
                let produced = output.readableBytes
                guard produced <= maxSize else { throw .messageTooLarge(limit: maxSize) }
                // Never offer zlib more room than maxSize + 1 in total, so a bomb stops early.
                let room = min(max(output.writableBytes, 4096, produced), maxSize + 1 - produced)
                var rc = Z_OK
                var availableOut = 0
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { out in
                    let offered = min(out.count, room)
                    stream.pointee.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_out = UInt32(offered)
                    rc = inflate(stream, Z_SYNC_FLUSH)
                    availableOut = Int(stream.pointee.avail_out)
                    return offered - availableOut
                }
                let inputLeft = stream.pointee.avail_in
                switch rc {
                case Z_OK:
                    if inputLeft == 0 && availableOut > 0 { return }
                case Z_BUF_ERROR:
                    // No progress possible: done if all input is consumed and there was room.
                    if inputLeft == 0 && availableOut > 0 { return }
                    if availableOut > 0 { throw .invalidCompressedData }
                case Z_STREAM_END:
                    // A final block (BFINAL): start a fresh stream for what follows.
                    inflateReset(stream)
                    if inputLeft == 0 { return }
                default:
                    throw .invalidCompressedData
                }
            }
        }
    }
}
