// libFuzzer entry point for Credentials(contents:), the .creds file parser. Built by
// Tools/fuzz.sh, not by Package.swift.
//
// The input is the file text (decoded as UTF-8, invalid bytes replaced), except that each
// NUL byte becomes a valid user seed and each 0x01 byte a well-formed user JWT, so that the
// fuzzer reaches the success paths and the secret is known.
//
// Checks:
// - An error's description, detail, debugDescription and dump never contain the seed (nor
//   its middle 20 characters, the encoded secret bytes).
// - Parsed credentials never show the seed or the JWT in description, debugDescription or
//   dump; fileContents() parses back to the same JWT and key; the key's seed is canonical
//   base32 of what the file held (equal up to the unused bits of the last character).
import NATSAuth

private func fail(_ message: String) -> Never {
    fatalError("CredentialsFuzz: \(message)")
}

private let seed = "SUAACAQDAQCQMBYIBEFAWDANBYHRAEISCMKBKFQXDAMRUGY4DUPB6IC5CQ"
private let jwt =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJBQkMiLCJpYXQiOjE3MDAwMDAwMDAsImlzcyI6IkFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBIiwibmFtZSI6ImZ1enoiLCJzdWIiOiJVQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQkVUNyIsImV4cCI6MTkwMDAwMDAwMCwibmF0cyI6eyJ0eXBlIjoidXNlciIsInZlcnNpb24iOjIsInB1YiI6e30sInN1YiI6e319fQ.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

private func contains(_ text: String, _ secret: some StringProtocol) -> Bool {
    !secret.isEmpty && text.utf8.count >= secret.utf8.count && text.contains(secret)
}

private func shown(_ value: some Any) -> [String] {
    var dumped = ""
    dump(value, to: &dumped)
    return [String(describing: value), String(reflecting: value), dumped]
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCredentials(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : count)
    var text = ""
    var start = 0
    for (i, byte) in input.enumerated() where byte == 0 || byte == 1 {
        text += String(decoding: input[start..<i], as: UTF8.self)
        text += byte == 0 ? seed : jwt
        start = i + 1
    }
    text += String(decoding: input[start...], as: UTF8.self)

    let credentials: Credentials
    do {
        credentials = try Credentials(contents: text)
    } catch {
        let secretPart = seed.dropFirst(20).prefix(20)
        for shownText in shown(error) + [error.detail] where contains(shownText, seed) || contains(shownText, secretPart) {
            fail("seed in error text \(shownText.debugDescription)")
        }
        return 0
    }

    let actualSeed = credentials.keyPair.revealSeed()
    for shownText in shown(credentials) {
        if contains(shownText, actualSeed) { fail("seed in \(shownText.debugDescription)") }
        if credentials.jwt.utf8.count >= 16 && contains(shownText, credentials.jwt) {
            fail("JWT in \(shownText.debugDescription)")
        }
    }
    for shownText in shown(credentials.keyPair) where contains(shownText, actualSeed) {
        fail("seed in key pair text \(shownText.debugDescription)")
    }
    // The seed the file held: canonical up to the unused low bits of the last character.
    if actualSeed.utf8.count != 58 || !actualSeed.hasPrefix("S") { fail("revealSeed \(actualSeed.count) characters") }
    if !text.contains(actualSeed.dropLast()) && !text.filter({ !$0.isWhitespace }).contains(actualSeed.dropLast()) {
        fail("revealed seed is not the one in the file")
    }

    let again: Credentials
    do {
        again = try Credentials(contents: credentials.fileContents())
    } catch {
        fail("fileContents() does not parse: \(error)")
    }
    if again.jwt != credentials.jwt { fail("JWT changed in the round trip") }
    if again.keyPair.publicKey != credentials.keyPair.publicKey { fail("key changed in the round trip") }
    return 0
}
