// swift-tools-version:6.1
import PackageDescription

// Benchmarks live in their own package so the library never depends on package-benchmark.
//
//   swift package --package-path Benchmarks benchmark                    # all suites
//   swift build -c release --package-path Benchmarks --product natsbench # peer benchmark tool
//   Tools/soak.sh                                                        # load and soak test

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let benchmark: Target.Dependency = .product(name: "Benchmark", package: "package-benchmark")
let benchmarkPlugin: Target.PluginUsage = .plugin(name: "BenchmarkPlugin", package: "package-benchmark")
let nioCore: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")

let package = Package(
    name: "benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "swift-nats", path: "../"),
        .package(url: "https://github.com/ordo-one/package-benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // MARK: - Suites (package-benchmark)
        .executableTarget(
            name: "NATSWireBenchmarks",
            dependencies: [
                benchmark,
                nioCore,
                .product(name: "NATSWire", package: "swift-nats"),
            ],
            path: "Benchmarks/NATSWireBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [benchmarkPlugin]
        ),
        .executableTarget(
            name: "NATSClientBenchmarks",
            dependencies: [
                benchmark,
                nioCore,
                .product(name: "NATSClient", package: "swift-nats"),
            ],
            path: "Benchmarks/NATSClientBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [benchmarkPlugin]
        ),
        .executableTarget(
            name: "NATSAuthBenchmarks",
            dependencies: [
                benchmark,
                .product(name: "NATSAuth", package: "swift-nats"),
            ],
            path: "Benchmarks/NATSAuthBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [benchmarkPlugin]
        ),
        .executableTarget(
            name: "NATSWebSocketBenchmarks",
            dependencies: [
                benchmark,
                nioCore,
                .product(name: "NATSWebSocket", package: "swift-nats"),
            ],
            path: "Benchmarks/NATSWebSocketBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [benchmarkPlugin]
        ),
        .executableTarget(
            name: "NATSTLSBenchmarks",
            dependencies: [
                benchmark,
                nioCore,
                .product(name: "NATSTLS", package: "swift-nats"),
                .product(name: "NATSTransport", package: "swift-nats"),
            ],
            path: "Benchmarks/NATSTLSBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [benchmarkPlugin]
        ),

        // MARK: - Peer benchmark (same modes and RESULT lines as nats.c / nats.go peers)
        .executableTarget(
            name: "natsbench",
            dependencies: [
                nioCore,
                .product(name: "NATSClient", package: "swift-nats"),
            ],
            path: "Sources/natsbench",
            swiftSettings: swiftSettings
        ),

        // MARK: - Load and soak (Tools/soak.sh): 8 publishers, 8 subscribers, 10M messages, RSS curve
        .executableTarget(
            name: "soak",
            dependencies: [
                nioCore,
                .product(name: "NATSClient", package: "swift-nats"),
            ],
            path: "Sources/soak",
            swiftSettings: swiftSettings
        ),

        // MARK: - Profiling driver (the NATSWire loops without the harness)
        .executableTarget(
            name: "wireprobe",
            dependencies: [
                nioCore,
                .product(name: "NATSWire", package: "swift-nats"),
            ],
            path: "Sources/wireprobe",
            swiftSettings: swiftSettings
        ),
    ]
)
