import Benchmark
import Foundation
import NATSAuth

// The costs of authentication, no I/O: signing the server's nonce with an NKey (what the
// client does once per connect for NKey and JWT auth), verifying such a signature, and
// parsing a `.creds` file (JWT claims decoded, seed decoded, Ed25519 key pair derived).
//
// Every iteration signs or verifies `signaturesPerIteration` (1000) nonces, or parses
// `parsesPerIteration` (100) `.creds` texts, so divide the per-iteration figures (time,
// mallocCountTotal) by that number for the cost of one. `throughput` is iterations per second.
//
//   swift package --package-path Benchmarks benchmark --target NATSAuthBenchmarks
//
// mallocCountTotal is deterministic; its p90 thresholds are in Thresholds/<swift version>/:
//   swift package --package-path Benchmarks benchmark thresholds check --target NATSAuthBenchmarks \
//       --metric mallocCountTotal --path Benchmarks/Thresholds/6.3

/// Nonces signed (or signatures verified) by one iteration.
let signaturesPerIteration = 1_000

/// `.creds` texts parsed by one iteration.
let parsesPerIteration = 100

let metrics: [BenchmarkMetric] = [.throughput, .wallClock, .mallocCountTotal]

/// A 32-byte nonce, fixed so every run signs the same bytes.
let nonce: [UInt8] = (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }

/// The user key that signs (fixed seed: the same key in every run).
func userKey() throws -> NKeyPair {
    try NKeyPair(seed: "SUANQDPB2RUOE4ETUA26CNX7FUKE5ZZKFCQIIW63OX225F2CO7UEXTM7ZY", expecting: .user)
}

/// The text of a `.creds` file the way `nsc` writes it: a user JWT with publish and
/// subscribe permissions, issued by an account key, and the user's seed.
func credsText(user: NKeyPair) throws -> String {
    let account = NKeyPair.generate(.account)
    let jwt = try JWTIssuer.issue(
        .user,
        subject: user.publicKey,
        name: "bench-user",
        signer: account,
        issuedAt: Date(timeIntervalSince1970: 1_764_000_000),
        expires: Date(timeIntervalSince1970: 1_900_000_000),
        natsFields: [
            "pub": ["allow": ["orders.>", "_INBOX.>"]],
            "sub": ["allow": ["orders.>", "_INBOX.>"], "deny": ["orders.internal.>"]],
        ]
    )
    return Credentials.fileContents(jwt: jwt, seed: user.revealSeed())
}

@inline(never)
func signAll(_ key: NKeyPair) throws -> [UInt8] {
    var last: [UInt8] = []
    for _ in 0..<signaturesPerIteration {
        last = try key.sign(nonce)
    }
    return last
}

@inline(never)
func verifyAll(_ key: NKeyPair, signature: [UInt8]) -> Int {
    var valid = 0
    for _ in 0..<signaturesPerIteration where key.verify(nonce, signature: signature) {
        valid += 1
    }
    return valid
}

@inline(never)
func parseAll(_ text: String) throws -> Int {
    var bytes = 0
    for _ in 0..<parsesPerIteration {
        let credentials = try Credentials(contents: text)
        bytes &+= credentials.jwt.utf8.count
    }
    return bytes
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration.maxDuration = .seconds(2)
    Benchmark.defaultConfiguration.maxIterations = 1_000

    // Made once, outside every measurement.
    let fixtures = Result { () throws -> (key: NKeyPair, signature: [UInt8], creds: String) in
        let key = try userKey()
        return (key, try key.sign(nonce), try credsText(user: key))
    }

    Benchmark(
        "sign_32B_nonce_x1k",
        configuration: .init(metrics: metrics, units: [.mallocCountTotal: .count])
    ) { benchmark in
        let signature = try signAll(try fixtures.get().key)
        if signature.count != 64 { benchmark.error("signature of \(signature.count) bytes") }
    }

    Benchmark(
        "verify_32B_nonce_signature_x1k",
        configuration: .init(metrics: metrics, units: [.mallocCountTotal: .count])
    ) { benchmark in
        let (key, signature, _) = try fixtures.get()
        let valid = verifyAll(key, signature: signature)
        if valid != signaturesPerIteration {
            benchmark.error("\(valid) of \(signaturesPerIteration) signatures verified")
        }
    }

    Benchmark(
        "parse_creds_x100",
        configuration: .init(metrics: metrics, units: [.mallocCountTotal: .count])
    ) { benchmark in
        blackHole(try parseAll(try fixtures.get().creds))
    }
}
