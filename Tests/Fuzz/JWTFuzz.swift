// libFuzzer entry point for JWTClaims(jwt:), Base64URL and JSONValue. Built by
// Tools/fuzz.sh, not by Package.swift.
//
// The input is tried three ways:
// - as JWT text (decoded as UTF-8): on success the description and dump never contain the
//   token or its signature part (unless a claim value holds that text), the accessors and isSignatureValid do not crash, and the
//   header and claims survive jsonText -> parse unchanged;
// - as base64url text: a decoded value re-encodes to the same text without "=" padding
//   (the decoder accepts only canonical input);
// - as raw bytes: encode then decode gives the bytes back.
import NATSAuth

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

private func fail(_ message: String) -> Never {
    fatalError("JWTFuzz: \(message)")
}

private func reparse(_ value: JSONValue) -> JSONValue? {
    let text = value.jsonText
    // A JWT whose claims are this object, to go through the public decoder.
    let token = "e30." + Base64URL.encode(Array(text.utf8)) + "."
    guard let claims = try? JWTClaims(jwt: token) else { return nil }
    return .object(claims.raw)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJWT(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : count)
    let text = String(decoding: input, as: UTF8.self)

    if let claims = try? JWTClaims(jwt: text) {
        var dumped = ""
        dump(claims, to: &dumped)
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        // Claim values are shown on purpose; the secret must not come from elsewhere.
        let claimText = JSONValue.object(claims.raw).jsonText + JSONValue.object(claims.header).jsonText
        for shown in [claims.description, String(reflecting: claims), dumped] {
            if text.utf8.count >= 16 && shown.contains(text) && !claimText.contains(text) {
                fail("token shown in \(shown.debugDescription)")
            }
            if parts.count == 3 && parts[2].utf8.count >= 16 && shown.contains(parts[2]) && !claimText.contains(parts[2]) {
                fail("signature shown in \(shown.debugDescription)")
            }
        }
        _ = (claims.subject, claims.issuer, claims.name, claims.id, claims.issuedAt, claims.expires)
        _ = (claims.expiresAt, claims.issuedAtDate, claims.nats, claims.type, claims.version, claims.algorithm)
        _ = claims.isSignatureValid
        _ = claims.isExpired(at: Date(timeIntervalSince1970: 0))
        let object = JSONValue.object(claims.raw)
        if let again = reparse(object), again != object {
            fail("claims change through jsonText: \(object.jsonText) -> \(again.jsonText)")
        }
        _ = JSONValue.object(claims.header).jsonText
    }

    if let decoded = Base64URL.decode(text) {
        let encoded = Base64URL.encode(decoded)
        let unpadded = String(text.unicodeScalars.filter { $0 != "=" })
        if encoded != unpadded { fail("base64url \(text.debugDescription) decodes to bytes that encode as \(encoded)") }
    }
    let encoded = Base64URL.encode(input)
    guard let back = Base64URL.decode(encoded), back.elementsEqual(input) else {
        fail("base64url round trip of \(Array(input))")
    }
    if encoded.contains("=") || encoded.contains("+") || encoded.contains("/") { fail("not base64url: \(encoded)") }
    return 0
}
