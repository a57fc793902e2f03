// Token (`with_token`), sent as `auth_token` in CONNECT.
// Runs against `Tools/demo.sh`'s servers; environment variables override the defaults.
import Foundation
import NATSClient

let env = ProcessInfo.processInfo.environment

let url = env["NATS_URL"] ?? "nats://127.0.0.1:4223"
let token = env["NATS_TOKEN"] ?? "demo-token"

let client = try await ConnectOptions.withToken(token)
    .connect(url)

// Round trip: subscribe to a fresh inbox, publish to it, receive it back.
let inbox = client.newInbox()
let subscription = try await client.subscribe(to: inbox)
let start = ContinuousClock.now
try await client.publish("hello", to: inbox)
for try await _ in subscription { break }
print("ok rtt=\(ContinuousClock.now - start) tls=\(client.tlsInfo?.version ?? "none") server=\(client.serverInfo?.serverName ?? "?")")
await client.close()
