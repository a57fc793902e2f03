// A user JWT with an async signer (`with_jwt`): the callback signs the nonce, and could call an HSM.
// Runs against `Tools/demo.sh`'s servers; environment variables override the defaults.
import Foundation
import NATSClient

let env = ProcessInfo.processInfo.environment

let url = env["NATS_URL"] ?? "nats://127.0.0.1:4224"
let jwtFile = env["NATS_JWT_FILE"] ?? "/tmp/nats-swift-demo/user.jwt"
let seedFile = env["NATS_SEED_FILE"] ?? "/tmp/nats-swift-demo/user.seed"
let jwt = try String(contentsOfFile: jwtFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
let keyPair = try NKeyPair(seed: String(contentsOfFile: seedFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))

let client = try await ConnectOptions.withJWT(jwt) { nonce in
    try keyPair.sign(nonce)
}
.connect(url)

// Round trip: subscribe to a fresh inbox, publish to it, receive it back.
let inbox = client.newInbox()
let subscription = try await client.subscribe(to: inbox)
let start = ContinuousClock.now
try await client.publish("hello", to: inbox)
for try await _ in subscription { break }
print("ok rtt=\(ContinuousClock.now - start) tls=\(client.tlsInfo?.version ?? "none") server=\(client.serverInfo?.serverName ?? "?")")
await client.close()
