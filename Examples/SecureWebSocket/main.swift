// Secure WebSocket (`wss://`): TLS below the WebSocket framing, with a private CA.
// Runs against `Tools/demo.sh`'s servers; environment variables override the defaults.
import Foundation
import NATSClient

let env = ProcessInfo.processInfo.environment

let url = env["NATS_URL"] ?? "wss://localhost:8443"
let ca = env["NATS_CA"] ?? "/tmp/nats-swift-demo/ca.pem"

let client = try await ConnectOptions()
    .addRootCertificates(ca)
    .connect(url)

// Round trip: subscribe to a fresh inbox, publish to it, receive it back.
let inbox = client.newInbox()
let subscription = try await client.subscribe(to: inbox)
let start = ContinuousClock.now
try await client.publish("hello", to: inbox)
for try await _ in subscription { break }
print("ok rtt=\(ContinuousClock.now - start) tls=\(client.tlsInfo?.version ?? "none") server=\(client.serverInfo?.serverName ?? "?")")
await client.close()
