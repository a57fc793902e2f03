// libFuzzer entry point for NKey decoding: NKeyPair(seed:), NKeyCodec.decodePublic and
// NKeyCodec.isValidPublicKey. Built by Tools/fuzz.sh, not by Package.swift.
//
// The input text (decoded as UTF-8) is tried as a seed and as a public key.
// - Seed: a valid seed's description never contains it; revealSeed() is the input up to
//   the unused low bits of the last character and decodes to the same key; the pair signs
//   and verifies (not curve keys), and a flipped signature bit fails to verify; its public
//   key decodes to its type. Errors never contain the input.
// - Public key: a decoded key starts with its type's letter, isValidPublicKey agrees with
//   decodePublic, and verify with a wrong-length signature is false. Errors never contain
//   the input.
import NATSAuth

private func fail(_ message: String) -> Never {
    fatalError("NKeyFuzz: \(message)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNKey(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : count)
    let text = String(decoding: input, as: UTF8.self)

    do {
        let pair = try NKeyPair(seed: text)
        let seed = pair.revealSeed()
        var dumped = ""
        dump(pair, to: &dumped)
        for shown in [pair.description, pair.debugDescription, dumped] where shown.contains(seed) {
            fail("seed shown in \(shown.debugDescription)")
        }
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        let trimmed = text.drop(while: isSpace).reversed().drop(while: isSpace).reversed().map { String($0) }.joined()
        if seed.count != trimmed.count || !trimmed.hasPrefix(seed.dropLast()) {
            fail("revealSeed \(seed) is not the input \(trimmed.debugDescription)")
        }
        let again = try NKeyPair(seed: seed)
        if again.publicKey != pair.publicKey || again.type != pair.type || again.revealSeed() != seed {
            fail("seed round trip changed the key")
        }
        let (type, key) = try NKeyCodec.decodePublic(pair.publicKey)
        if type != pair.type || key.count != 32 { fail("public key decodes to \(type)") }
        if !NKeyCodec.isValidPublicKey(pair.publicKey, type: pair.type) { fail("own public key invalid") }
        if pair.type != .curve {
            var signature = try pair.sign(input)
            if signature.count != 64 || !pair.verify(input, signature: signature) { fail("signature does not verify") }
            signature[Int(signature[0] & 63)] ^= 1 << (signature[1] & 7)
            if pair.verify(input, signature: signature) { fail("altered signature verifies") }
        } else {
            do {
                _ = try pair.sign(input)
                fail("curve key signed")
            } catch {
                if error != .cannotSign { fail("curve sign error \(error)") }
            }
        }
    } catch {
        if text.utf8.count >= 8 && error.description.contains(text) { fail("input shown in \(error)") }
    }

    do {
        let (type, key) = try NKeyCodec.decodePublic(text)
        if key.count != 32 { fail("key of \(key.count) bytes") }
        if !NKeyCodec.isValidPublicKey(text, type: type) { fail("isValidPublicKey disagrees") }
        let letters: [NKeyType: Character] = [.operator: "O", .account: "A", .user: "U", .server: "N", .cluster: "C", .curve: "X"]
        if text.first != letters[type] { fail("public key \(text) of type \(type)") }
        if type != .curve {
            if (try? NKeyPair.verify(publicKey: text, message: input, signature: [UInt8](repeating: 0, count: 63))) != false {
                fail("63-byte signature accepted")
            }
        }
    } catch {
        if NKeyCodec.isValidPublicKey(text) { fail("isValidPublicKey accepts what decodePublic rejects") }
        if text.utf8.count >= 8 && error.description.contains(text) { fail("input shown in \(error)") }
    }
    return 0
}
