import Testing
@testable import NATSAuth

@Suite struct NKeyTests {
    static let vectors: [(seed: String, publicKey: String)] = [
        ("SUANQDPB2RUOE4ETUA26CNX7FUKE5ZZKFCQIIW63OX225F2CO7UEXTM7ZY",
         "UAMMBNV2EYR65NYZZ7IAK5SIR5ODNTTERJOBOF4KJLMWI45YOXOSWULM"),
        ("SUACH75SWCM5D2JMJM6EKLR2WDARVGZT4QC6LX3AGHSWOMVAKERABBBRWM",
         "UAFHG6FUD2UU4SDFVAFUL5LDFO2XM4WYM76UNXTPJYJK7EEMYRBHT2VE"),
    ]

    @Test(arguments: vectors)
    func seedGivesPublicKey(seed: String, publicKey: String) throws {
        let kp = try NKeyPair(seed: seed)
        #expect(kp.publicKey == publicKey)
        #expect(kp.type == .user)
        #expect(kp.revealSeed() == seed)
        #expect(try NKeyPair(seed: "  \(seed)\r\n").publicKey == publicKey)
    }

    /// Builds an encoded seed from raw parts with a correct checksum, to reach later checks.
    static func encodeSeed(prefix: [UInt8], body: [UInt8]) -> String {
        var raw = prefix + body
        let crc = CRC16.checksum(raw)
        raw += [UInt8(crc & 0xFF), UInt8(crc >> 8)]
        return Base32.encode(raw)
    }

    static let seed = vectors[0].seed

    @Test func badSeedsSayWhatIsWrong() throws {
        func error(_ text: String) -> NKeyError? {
            do {
                _ = try NKeyPair(seed: text)
                return nil
            } catch {
                return error
            }
        }
        // A flipped character keeps the alphabet and length but breaks the checksum.
        var chars = Array(Self.seed)
        chars[10] = chars[10] == "A" ? "B" : "A"
        #expect(error(String(chars)) == .invalidChecksum)
        // Characters outside the alphabet.
        #expect(error(Self.seed.replacingOccurrences(of: "Q", with: "1")) == .invalidCharacters)
        #expect(error(Self.seed.lowercased()) == .invalidCharacters)
        #expect(error("SUANQDPB2RUOE4ETUA26 CNX7FUKE5ZZKFCQIIW63OX225F2CO7UEXTM7ZY") == .invalidCharacters)
        // Truncated or too long.
        #expect(error(String(Self.seed.dropLast(8))) == .invalidLength)
        #expect(error(String(Self.seed.dropLast(1))) == .invalidLength)
        #expect(error("") == .invalidLength)
        #expect(error(Self.encodeSeed(prefix: [0x90, 0xA0], body: Array(repeating: 7, count: 33))) == .invalidLength)
        // A public key is not a seed.
        #expect(error(Self.vectors[0].publicKey) == .invalidLength)
        // Valid checksum, but the first byte is not the seed prefix, or the type is unknown.
        #expect(error(Self.encodeSeed(prefix: [0x00, 0xA0], body: Array(repeating: 7, count: 32))) == .invalidPrefix)
        #expect(error(Self.encodeSeed(prefix: [0x90 | 0x07, 0xF8], body: Array(repeating: 7, count: 32))) == .invalidPrefix)
        // Wrong type for the use.
        #expect(throws: NKeyError.wrongKeyType(expected: .account, actual: .user)) {
            try NKeyPair(seed: Self.seed, expecting: .account)
        }
        #expect(try NKeyPair(seed: Self.seed, expecting: .user).publicKey == Self.vectors[0].publicKey)
    }

    @Test func errorsAndDescriptionsNeverShowTheSeed() throws {
        let kp = try NKeyPair(seed: Self.seed)
        #expect(!"\(kp)".contains(Self.seed))
        #expect(!String(reflecting: kp).contains(Self.seed))
        #expect("\(kp)".contains(kp.publicKey))
        let bad = String(Self.seed.dropLast(1)) + "A"
        do {
            _ = try NKeyPair(seed: bad)
            Issue.record("expected an error")
        } catch {
            #expect(!"\(error)".contains(bad))
            #expect(!"\(error)".contains(String(Self.seed.prefix(12))))
        }
    }

    @Test func signAndVerifyRoundTrip() throws {
        let kp = try NKeyPair(seed: Self.seed)
        let message = Array("nonce-ABC123".utf8)
        let sig = try kp.sign(message)
        #expect(sig.count == 64)
        #expect(try NKeyPair.verify(publicKey: kp.publicKey, message: message, signature: sig))
        #expect(kp.verify(message, signature: sig))
        // Contiguous and non-contiguous collections sign the same bytes.
        #expect(try kp.sign("nonce-ABC123".utf8) == sig)
        #expect(try kp.sign(UInt8(1)...UInt8(5)) == kp.sign([1, 2, 3, 4, 5]))
        #expect(try !NKeyPair.verify(publicKey: kp.publicKey, message: Array("nonce-ABC124".utf8), signature: sig))
        var tampered = sig
        tampered[0] ^= 1
        #expect(try !NKeyPair.verify(publicKey: kp.publicKey, message: message, signature: tampered))
        #expect(try !NKeyPair.verify(publicKey: kp.publicKey, message: message, signature: sig.dropLast()))
        let other = try NKeyPair(seed: Self.vectors[1].seed)
        #expect(try !NKeyPair.verify(publicKey: other.publicKey, message: message, signature: sig))
        #expect(throws: NKeyError.invalidChecksum) {
            try NKeyPair.verify(publicKey: "UAMMBNV2EYR65NYZZ7IAK5SIR5ODNTTERJOBOF4KJLMWI45YOXOSWULN",
                                message: message, signature: sig)
        }
    }

    @Test(arguments: NKeyType.allCases)
    func generateEachType(type: NKeyType) throws {
        let kp = NKeyPair.generate(type)
        let letter: Character = switch type {
        case .operator: "O"
        case .account: "A"
        case .user: "U"
        case .server: "N"
        case .cluster: "C"
        default: "X"
        }
        #expect(kp.type == type)
        #expect(kp.publicKey.first == letter)
        #expect(kp.publicKey.count == 56)
        let seed = kp.revealSeed()
        #expect(seed.count == 58)
        #expect(seed.hasPrefix("S\(letter)"))
        let again = try NKeyPair(seed: seed)
        #expect(again.publicKey == kp.publicKey)
        #expect(again.type == type)
        #expect(NKeyCodec.isValidPublicKey(kp.publicKey, type: type))
        #expect(try NKeyCodec.decodePublic(kp.publicKey).type == type)
        #expect(NKeyPair.generate(type).publicKey != kp.publicKey)
        if type == .curve {
            #expect(throws: NKeyError.cannotSign) { try kp.sign([1, 2, 3]) }
        } else {
            let sig = try kp.sign([1, 2, 3])
            #expect(try NKeyPair.verify(publicKey: kp.publicKey, message: [1, 2, 3], signature: sig))
        }
    }

    // MARK: Cross-checks with the Python nkeys package.

    static let pythonSign = """
        import sys, nkeys
        kp = nkeys.from_seed(sys.argv[1].encode())
        msg = bytes.fromhex(sys.argv[2])
        print(kp.public_key.decode())
        print(kp.sign(msg).hex())
        print(kp.verify(msg, bytes.fromhex(sys.argv[3])))
        """

    @Test(arguments: ["", "a", "OMtLBaPuXCUuQwqlSpsR4Y", String(repeating: "x", count: 1000)])
    func signaturesMatchPythonNKeys(message: String) async throws {
        let kp = try NKeyPair(seed: Self.vectors[1].seed)
        let bytes = Array(message.utf8)
        let sig = try kp.sign(bytes)
        let lines = try await PythonNKeys.run(Self.pythonSign, [kp.revealSeed(), bytes.hex, sig.hex])
            .split(separator: "\n").map(String.init)
        #expect(lines == [kp.publicKey, sig.hex, "True"])
    }

    @Test(arguments: [NKeyType.operator, .account, .user, .server, .cluster])
    func generatedKeysMatchPythonNKeys(type: NKeyType) async throws {
        let kp = NKeyPair.generate(type)
        let sig = try kp.sign(Array("hello".utf8))
        let lines = try await PythonNKeys.run(Self.pythonSign, [kp.revealSeed(), Array("hello".utf8).hex, sig.hex])
            .split(separator: "\n").map(String.init)
        #expect(lines == [kp.publicKey, sig.hex, "True"])
    }

    @Test func curvePublicKeyMatchesPyNaClX25519() async throws {
        let kp = NKeyPair.generate(.curve)
        let raw = try Base32.decode(kp.revealSeed().utf8)
        let privateHex = Array(raw[2..<34]).hex
        let expected = try await PythonNKeys.run(
            "import sys, nacl.public; print(nacl.public.PrivateKey(bytes.fromhex(sys.argv[1])).public_key.encode().hex())",
            [privateHex])
        #expect(try NKeyCodec.decodePublic(kp.publicKey).key.hex == expected)
    }
}
