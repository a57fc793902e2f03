// An auth callback (`with_auth_callback`): called with the nonce on every connect and reconnect; it overrides every other method.
// Runs against `Tools/demo.sh`'s servers; environment variables override the defaults.
import Foundation
import NATSClient

let env = ProcessInfo.processInfo.environment

let url = env["NATS_URL"] ?? "nats://127.0.0.1:4222"
let user = env["NATS_USER"] ?? "demo"
let password = env["NATS_PASSWORD"] ?? "demo-pass"

let client = try await ConnectOptions.withAuthCallback { nonce in
    var auth = Auth()
    auth.username = user
    auth.password = password
    // Can also set jwt, nkey, signature or token.
    return auth
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
