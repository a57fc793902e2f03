// Credentials in the URL: `nats://user:pass@host` and, for a token, `nats://token@host`.
// Runs against `Tools/demo.sh`'s servers; environment variables override the defaults.
import Foundation
import NATSClient

let env = ProcessInfo.processInfo.environment

let url = env["NATS_URL"] ?? "nats://demo:demo-pass@127.0.0.1:4222"
let tokenURL = env["NATS_TOKEN_URL"] ?? "nats://demo-token@127.0.0.1:4223"

let tokenClient = try await NATSClient.connect(tokenURL)
try await tokenClient.flush()
await tokenClient.close()

let client = try await NATSClient.connect(url)

// Round trip: subscribe to a fresh inbox, publish to it, receive it back.
let inbox = client.newInbox()
let subscription = try await client.subscribe(to: inbox)
let start = ContinuousClock.now
try await client.publish("hello", to: inbox)
for try await _ in subscription { break }
print("ok rtt=\(ContinuousClock.now - start) tls=\(client.tlsInfo?.version ?? "none") server=\(client.serverInfo?.serverName ?? "?")")
await client.close()
