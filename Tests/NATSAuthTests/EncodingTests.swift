import Testing
@testable import NATSAuth

@Suite struct EncodingTests {
    // RFC 4648 section 10 test vectors.
    static let base32Vectors: [(String, String)] = [
        ("", ""), ("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foob", "MZXW6YQ"),
        ("fooba", "MZXW6YTB"), ("foobar", "MZXW6YTBOI"),
    ]
    static let base64URLVectors: [(String, String)] = [
        ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"),
        ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy"),
    ]

    @Test(arguments: base32Vectors)
    func base32RoundTrip(plain: String, encoded: String) throws {
        #expect(Base32.encode(Array(plain.utf8)) == encoded)
        #expect(try Base32.decode(encoded.utf8) == Array(plain.utf8))
    }

    @Test func base32RejectsBadInput() {
        #expect(throws: Base32.DecodeError.invalidCharacter) { try Base32.decode("MZ1W6".utf8) }
        #expect(throws: Base32.DecodeError.invalidCharacter) { try Base32.decode("mzxw6".utf8) }
        #expect(throws: Base32.DecodeError.invalidCharacter) { try Base32.decode("MZXW6===".utf8) }
        #expect(throws: Base32.DecodeError.invalidLength) { try Base32.decode("MZX".utf8) }
        #expect(throws: Base32.DecodeError.invalidLength) { try Base32.decode("M".utf8) }
    }

    @Test func base32AllBytes() throws {
        let bytes = (0...255).map { UInt8($0) }
        #expect(try Base32.decode(Base32.encode(bytes).utf8) == bytes)
    }

    @Test func crc16XModem() {
        // The CRC catalogue check value for CRC-16/XMODEM.
        #expect(CRC16.checksum(Array("123456789".utf8)) == 0x31C3)
        #expect(CRC16.checksum([]) == 0)
        #expect(CRC16.checksum([0x00]) == 0)
        #expect(CRC16.checksum(Array("A".utf8)) == 0x58E5)
    }

    @Test(arguments: base64URLVectors)
    func base64URLRoundTrip(plain: String, encoded: String) {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        #expect(Base64URL.decode(encoded) == Array(plain.utf8))
    }

    @Test func base64URLUsesURLAlphabetWithoutPadding() {
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.encode([0xFF, 0xFF, 0xFE]) == "___-")
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64URL.decode("Zg==") == Array("f".utf8))
        #expect(Base64URL.decode("+/8") == nil)
        #expect(Base64URL.decode("Z") == nil)
        #expect(Base64URL.decode("Zh") == nil)  // non-zero leftover bits
        #expect(Base64URL.decode("Zg=x") == nil)
        let all = (0...255).map { UInt8($0) }
        #expect(Base64URL.decode(Base64URL.encode(all)) == all)
    }

    @Test func sha512_256Vectors() {
        // FIPS 180-4 examples for SHA-512/256.
        #expect(sha512_256(Array("abc".utf8)).hex
            == "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23")
        #expect(sha512_256([]).hex == "c672b8d1ef56ed28ab87c3622c5114069bdd3ad7b8f9737498d0c01ecef0967a")
    }
}
