internal import CNATSSodium

/// libsodium is initialised once, before first use. `sodium_init` only fails when the
/// system has no usable entropy source; the key functions used here still run then,
/// and `randombytes_buf` falls back to libsodium's own error handling.
let sodiumReady: Bool = sodium_init() >= 0

/// Overwrites memory with zeros in a way the compiler cannot elide.
@inline(__always)
func zero(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    sodium_memzero(base, buffer.count)
}

/// Zeroes an array's storage in place.
@inline(__always)
func zero(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { zero($0) }
}

/// SHA-512/256 of `bytes` (32 bytes).
func sha512_256(_ bytes: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 32)
    out.withUnsafeMutableBufferPointer { o in
        bytes.withUnsafeBufferPointer { i in
            CNATSSodium_sha512_256(o.baseAddress!, i.baseAddress, UInt64(i.count))
        }
    }
    return out
}
