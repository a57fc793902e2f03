internal import CNATSSodium

/// The role an NKey belongs to; it decides the first letter of its public key and seed.
public struct NKeyType: Sendable, Hashable, CustomStringConvertible {
    private enum Kind: UInt8 {
        case `operator` = 112  // 14 << 3, public key "O..."
        case account = 0  //  0 << 3, public key "A..."
        case user = 160  // 20 << 3, public key "U..."
        case server = 104  // 13 << 3, public key "N..."
        case cluster = 16  //  2 << 3, public key "C..."
        case curve = 184  // 23 << 3, public key "X..." (X25519, not for signing)
    }
    private let kind: Kind

    private init(_ kind: Kind) { self.kind = kind }

    init?(prefixByte: UInt8) {
        guard let kind = Kind(rawValue: prefixByte) else { return nil }
        self.kind = kind
    }

    /// An operator key (`O...`, seed `SO...`).
    public static let `operator` = NKeyType(.operator)
    /// An account key (`A...`, seed `SA...`).
    public static let account = NKeyType(.account)
    /// A user key (`U...`, seed `SU...`).
    public static let user = NKeyType(.user)
    /// A server key (`N...`, seed `SN...`).
    public static let server = NKeyType(.server)
    /// A cluster key (`C...`, seed `SC...`).
    public static let cluster = NKeyType(.cluster)
    /// A curve (X25519) key (`X...`, seed `SX...`), used for encryption; it cannot sign.
    public static let curve = NKeyType(.curve)

    /// Every key type.
    public static let allCases: [NKeyType] = [.operator, .account, .user, .server, .cluster, .curve]

    /// The prefix byte of public keys of this type.
    var prefixByte: UInt8 { kind.rawValue }

    /// Whether keys of this type are Ed25519 signing keys.
    var canSign: Bool { kind != .curve }

    /// `"operator"`, `"account"`, `"user"`, `"server"`, `"cluster"` or `"curve"`.
    public var description: String {
        switch kind {
        case .operator: "operator"
        case .account: "account"
        case .user: "user"
        case .server: "server"
        case .cluster: "cluster"
        case .curve: "curve"
        }
    }
}

/// An NKey that could not be decoded or used. Its text never contains the key material.
public struct NKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: Sendable, Hashable {
        case invalidCharacters, invalidLength, invalidChecksum, invalidPrefix
        case wrongKeyType(expected: String, actual: String)
        case cannotSign
    }
    private let code: Code

    private init(_ code: Code) { self.code = code }

    /// The text has characters outside the base32 alphabet (A-Z, 2-7).
    public static let invalidCharacters = NKeyError(.invalidCharacters)
    /// The decoded key has the wrong number of bytes.
    public static let invalidLength = NKeyError(.invalidLength)
    /// The CRC-16 checksum does not match: the key was mistyped or truncated.
    public static let invalidChecksum = NKeyError(.invalidChecksum)
    /// The prefix is not one NKeys define (for a seed: it does not start with `S` and a
    /// known type letter; for a public key: not a known type letter).
    public static let invalidPrefix = NKeyError(.invalidPrefix)
    /// The key is valid but of another type than the operation needs.
    public static func wrongKeyType(expected: NKeyType, actual: NKeyType) -> NKeyError {
        NKeyError(.wrongKeyType(expected: expected.description, actual: actual.description))
    }
    /// The key cannot sign (curve keys are for encryption only).
    public static let cannotSign = NKeyError(.cannotSign)

    /// Whether two errors are of the same kind, ignoring payloads.
    public func isSameKind(as other: NKeyError) -> Bool {
        switch (code, other.code) {
        case (.wrongKeyType, .wrongKeyType): true
        default: code == other.code
        }
    }

    /// What is wrong and what to do; never the key.
    public var description: String {
        switch code {
        case .invalidCharacters:
            "NKey has characters outside the base32 alphabet (A-Z, 2-7); check for typos or stray whitespace"
        case .invalidLength:
            "NKey has the wrong length; check that it was copied completely"
        case .invalidChecksum:
            "NKey checksum does not match; the key was mistyped or truncated"
        case .invalidPrefix:
            "NKey prefix is not a known NKey type; seeds start with S followed by O, A, U, N, C or X"
        case .wrongKeyType(let expected, let actual):
            "NKey is a \(actual) key where a \(expected) key is needed"
        case .cannotSign:
            "NKey is a curve key, which cannot sign; use an operator, account, user, server or cluster key"
        }
    }
}

/// Owns the private key bytes and zeroes them when released.
///
/// `@unchecked Sendable`: no lock; the buffer is written once in `init` and only read after.
final class SecretKeyStorage: @unchecked Sendable {
    /// 64 bytes: Ed25519 secret key (seed followed by public key), or for curve keys the
    /// 32-byte X25519 private key followed by the 32-byte public key. The seed is always
    /// the first 32 bytes.
    let bytes: UnsafeMutableRawBufferPointer

    init() {
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 16)
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
    }

    var seed: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[0..<32]) }

    deinit {
        zero(bytes)
        bytes.deallocate()
    }
}

/// An NKey pair: an Ed25519 (or, for curve keys, X25519) key pair with its NATS encoding.
///
/// ```swift
/// let kp = try NKeyPair(seed: "SUANQDPB2RUOE4ETUA26CNX7FUKE5ZZKFCQIIW63OX225F2CO7UEXTM7ZY")
/// kp.publicKey  // "UAMMBNV2EYR65NYZZ7IAK5SIR5ODNTTERJOBOF4KJLMWI45YOXOSWULM"
/// let sig = try kp.sign(Array("nonce".utf8))
/// ```
///
/// The private key lives in memory that is zeroed when the last copy is released.
/// `description` shows only the type and public key.
public struct NKeyPair: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    private let storage: SecretKeyStorage
    /// The key type (operator, account, user, server, cluster or curve).
    public let type: NKeyType
    /// The encoded public key, e.g. `U...` for a user.
    public let publicKey: String

    /// Decodes an encoded seed (`S...`).
    ///
    /// - Throws: `NKeyError` saying whether the characters, length, checksum or prefix is wrong.
    public init(seed: String) throws(NKeyError) {
        let utf8 = seed.trimmingASCIIWhitespace
        var raw: [UInt8]
        do {
            raw = try Base32.decode(utf8.utf8)
        } catch .invalidCharacter {
            throw .invalidCharacters
        } catch {
            throw .invalidLength
        }
        defer { zero(&raw) }
        // 2 prefix bytes + 32-byte seed + 2 checksum bytes.
        guard raw.count == 36 else { throw .invalidLength }
        let expected = UInt16(raw[34]) | (UInt16(raw[35]) << 8)
        guard CRC16.checksum(raw[0..<34]) == expected else { throw .invalidChecksum }
        let b1 = raw[0] & 0xF8
        let b2 = ((raw[0] & 0x07) << 5) | ((raw[1] & 0xF8) >> 3)
        guard b1 == 18 << 3, let type = NKeyType(prefixByte: b2) else { throw .invalidPrefix }
        self.init(type: type) { seed in
            raw.withUnsafeBytes { seed.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[2..<34])) }
        }
    }

    /// Decodes an encoded seed that must be of `type`.
    ///
    /// - Throws: `NKeyError.wrongKeyType` for a valid seed of another type, else as `init(seed:)`.
    public init(seed: String, expecting type: NKeyType) throws(NKeyError) {
        try self.init(seed: seed)
        guard self.type == type else { throw .wrongKeyType(expected: type, actual: self.type) }
    }

    /// Creates a new random key pair of the given type.
    public static func generate(_ type: NKeyType) -> NKeyPair {
        _ = sodiumReady
        return NKeyPair(type: type) { seed in
            randombytes_buf(seed.baseAddress!, 32)
        }
    }

    /// Builds the pair; `fillSeed` writes the 32 seed bytes into the secret storage.
    private init(type: NKeyType, fillSeed: (UnsafeMutableRawBufferPointer) -> Void) {
        _ = sodiumReady
        let storage = SecretKeyStorage()
        fillSeed(UnsafeMutableRawBufferPointer(rebasing: storage.bytes[0..<32]))
        var pk = [UInt8](repeating: 0, count: 32)
        let base = storage.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        pk.withUnsafeMutableBufferPointer { pkp in
            if type.canSign {
                // Reads the seed in the first 32 bytes, writes seed || public key over all 64.
                var seedCopy = [UInt8](UnsafeRawBufferPointer(rebasing: storage.bytes[0..<32]))
                _ = crypto_sign_seed_keypair(pkp.baseAddress!, base, &seedCopy)
                zero(&seedCopy)
            } else {
                _ = crypto_scalarmult_base(pkp.baseAddress!, base)
                (base + 32).update(from: pkp.baseAddress!, count: 32)
            }
        }
        self.storage = storage
        self.type = type
        self.publicKey = NKeyCodec.encodePublic(type: type, key: pk)
    }

    /// The encoded seed (`S...`). This is the secret: store it safely and never log it.
    ///
    /// Named so that reading the secret is explicit and easy to find in code review.
    public func revealSeed() -> String {
        var raw = [UInt8]()
        raw.reserveCapacity(36)
        raw.append((18 << 3) | (type.prefixByte >> 5))
        raw.append((type.prefixByte & 31) << 3)
        raw.append(contentsOf: storage.seed)
        let crc = CRC16.checksum(raw)
        raw.append(UInt8(crc & 0xFF))
        raw.append(UInt8(crc >> 8))
        defer { zero(&raw) }
        return Base32.encode(raw)
    }

    /// Signs `bytes` with Ed25519 and returns the 64-byte signature.
    ///
    /// - Throws: `NKeyError.cannotSign` for curve keys.
    public func sign(_ bytes: some Collection<UInt8>) throws(NKeyError) -> [UInt8] {
        guard type.canSign else { throw .cannotSign }
        var signature = [UInt8](repeating: 0, count: 64)
        let sk = storage.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        signature.withUnsafeMutableBufferPointer { sig in
            let signed: Void? = bytes.withContiguousStorageIfAvailable { m in
                _ = crypto_sign_detached(sig.baseAddress!, nil, m.baseAddress, UInt64(m.count), sk)
            }
            if signed == nil {
                let message = Array(bytes)
                message.withUnsafeBufferPointer { m in
                    _ = crypto_sign_detached(sig.baseAddress!, nil, m.baseAddress, UInt64(m.count), sk)
                }
            }
        }
        return signature
    }

    /// Verifies a signature made by this key pair.
    public func verify(_ message: some Collection<UInt8>, signature: some Collection<UInt8>) -> Bool {
        (try? NKeyPair.verify(publicKey: publicKey, message: message, signature: signature)) ?? false
    }

    /// Verifies an Ed25519 `signature` of `message` against an encoded public key.
    ///
    /// - Returns: whether the signature is valid (a signature that is not 64 bytes is not).
    /// - Throws: `NKeyError` when `publicKey` is not a valid encoded signing public key.
    public static func verify(
        publicKey: String, message: some Collection<UInt8>, signature: some Collection<UInt8>
    ) throws(NKeyError) -> Bool {
        let (type, key) = try NKeyCodec.decodePublic(publicKey)
        guard type.canSign else { throw .cannotSign }
        let sig: [UInt8] = Array(signature)
        guard sig.count == 64 else { return false }
        _ = sodiumReady
        let m: [UInt8] = Array(message)
        return m.withUnsafeBufferPointer { mp in
            crypto_sign_verify_detached(sig, mp.baseAddress, UInt64(mp.count), key) == 0
        }
    }

    /// `NKeyPair(user: U...)`: never the seed.
    public var description: String { "NKeyPair(\(type): \(publicKey))" }
    /// Same as `description`.
    public var debugDescription: String { description }
}

/// Public-key encoding helpers.
public enum NKeyCodec {
    /// Decodes an encoded public key into its type and 32 raw bytes.
    ///
    /// - Throws: `NKeyError` naming what is wrong (characters, length, checksum, prefix).
    public static func decodePublic(_ key: String) throws(NKeyError) -> (type: NKeyType, key: [UInt8]) {
        let raw: [UInt8]
        do {
            raw = try Base32.decode(key.utf8)
        } catch .invalidCharacter {
            throw .invalidCharacters
        } catch {
            throw .invalidLength
        }
        guard raw.count == 35 else { throw .invalidLength }
        let expected = UInt16(raw[33]) | (UInt16(raw[34]) << 8)
        guard CRC16.checksum(raw[0..<33]) == expected else { throw .invalidChecksum }
        guard let type = NKeyType(prefixByte: raw[0]) else { throw .invalidPrefix }
        return (type, Array(raw[1..<33]))
    }

    /// Whether `key` is a valid encoded public key (of `type`, when given).
    public static func isValidPublicKey(_ key: String, type: NKeyType? = nil) -> Bool {
        guard let decoded = try? decodePublic(key) else { return false }
        return type.map { $0 == decoded.type } ?? true
    }

    static func encodePublic(type: NKeyType, key: [UInt8]) -> String {
        var raw = [type.prefixByte]
        raw.append(contentsOf: key)
        let crc = CRC16.checksum(raw)
        raw.append(UInt8(crc & 0xFF))
        raw.append(UInt8(crc >> 8))
        return Base32.encode(raw)
    }
}
