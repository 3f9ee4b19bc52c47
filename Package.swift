// swift-tools-version:6.1
import PackageDescription

// Layering: ARCHITECTURE.md's module table says what may import what; Tests/VigilCoreTests/LayeringTests.swift enforces it.
let package = Package(
    name: "vigil",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "vigil", targets: ["vigil"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // Already in the graph through Hummingbird; named here because VigilCollectors' listeners use NIO directly.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
    ],
    targets: [
        // ---- C system libraries (Debian -dev packages, found through pkg-config) ----
        .systemLibrary(name: "CSQLite3", path: "Sources/CSQLite3", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CSnappy", path: "Sources/CSnappy", pkgConfig: "snappy",
                       providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CLibvirt", path: "Sources/CLibvirt", pkgConfig: "libvirt",
                       providers: [.apt(["libvirt-dev"])]),
        .systemLibrary(name: "CNcurses", path: "Sources/CNcurses", pkgConfig: "ncursesw",
                       providers: [.apt(["libncurses-dev"])]),

        // ---- Vigil layers ----
        // Shared vocabulary: labels, matchers, samples, durations, the store's read/append protocols.
        .target(name: "VigilCore"),
        // Chunk codecs (Gorilla family and successors), bit streams. Pure Swift, no I/O.
        .target(name: "VigilChunk", dependencies: ["VigilCore"]),
        // Embedded TSDB: head, write-ahead log, SQLite persistence, retention.
        .target(name: "CVigilPrefetch", path: "Sources/CVigilPrefetch"),
        .target(name: "VigilStore", dependencies: [
            "VigilCore", "VigilChunk", "CSQLite3", "CVigilPrefetch",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Wire formats: remote_write, text exposition, Influx line protocol, OTLP, Graphite, StatsD.
        .target(name: "VigilIngest", dependencies: ["VigilCore", "CSnappy"]),
        // PromQL parser and evaluator over the store's query protocol.
        .target(name: "VigilQuery", dependencies: ["VigilCore"]),
        // Forecasting, anomaly scoring, failure prediction on OpenBLAS/LAPACK.
        .target(name: "VigilForecast", dependencies: ["VigilCore", "CBLAS"]),
        // The one typed configuration (vigil.yml): a strict YAML decoder with file:line:column errors, every section.
        .target(name: "VigilConfig", dependencies: ["VigilCore", .product(name: "Yams", package: "Yams")]),
        // The batch→store path every producer writes through (HTTP routes and collectors alike): limits, the
        // remote_write series-ref cache, the decoders' interface, ingestion counters.
        .target(name: "VigilIngestPath", dependencies: ["VigilCore", "VigilIngest"]),
        // Pull collectors and push listeners as loops: scrape targets, host /proc, libvirt, Graphite, StatsD.
        .target(name: "VigilCollectors", dependencies: [
            "VigilCore", "VigilConfig", "VigilIngest", "VigilIngestPath", "CLibvirt",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The online model loop inside `vigil serve` (forecasts, anomaly scores, failure probabilities written back
        // as series), the config checks that need model files, config reload on SIGHUP.
        .target(name: "VigilOnline", dependencies: [
            "VigilCore", "VigilConfig", "VigilForecast",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // HTTP server (Hummingbird): ingestion endpoints, Prometheus query API, export, connection guard, the one
        // error → status mapping (HTTPFailure), background loops with restart.
        .target(name: "VigilServer", dependencies: [
            "VigilCore", "VigilConfig", "VigilStore", "VigilIngest", "VigilIngestPath", "VigilQuery",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Remediation engine: inventory, policies, predictive/HPA scaling, restarts with fencing, gates, audit, driver
        // protocol.
        .target(name: "VigilEngine", dependencies: ["VigilCore", "VigilForecast"]),
        // Real drivers: local process groups, libvirt hosts, webhook and exec hand-offs (docs/drivers.md).
        .target(name: "CVigilSpawn", path: "Sources/CVigilSpawn"),
        .target(name: "VigilDrivers", dependencies: [
            "VigilCore", "VigilEngine", "VigilConfig", "CLibvirt", "CVigilSpawn",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Trace-driven cluster simulator: the embedded default driver and `vigil sim`'s runner.
        .target(name: "VigilSim", dependencies: ["VigilCore", "VigilEngine"]),
        // Remediation daemon: the engine runner, SQLite audit, metric sources (local store / remote PromQL), actions API.
        .target(name: "VigilDaemon", dependencies: [
            "VigilCore", "VigilEngine", "VigilQuery", "VigilConfig", "VigilSim", "VigilDrivers", "CSQLite3",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // `vigil top`: a pure model -> screen-grid core, an HTTP client of the public API, an ncurses painter.
        .target(name: "VigilTop", dependencies: ["VigilCore", "CNcurses"]),
        .executableTarget(name: "vigil", dependencies: [
            "VigilCore", "VigilChunk", "VigilStore", "VigilIngest", "VigilQuery", "VigilForecast", "VigilServer", "VigilConfig",
            "VigilEngine", "VigilSim", "VigilIngestPath", "VigilCollectors", "VigilOnline", "VigilDaemon", "VigilDrivers", "VigilTop",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // ---- Tests (Swift Testing) ----
        // Helpers the test targets share (finding the built binary); production never links it.
        .target(name: "VigilTestSupport", dependencies: ["VigilCore"], path: "Tests/VigilTestSupport"),
        .testTarget(name: "VigilCoreTests", dependencies: ["VigilCore"]),
        .testTarget(name: "VigilConfigTests", dependencies: ["VigilCore", "VigilConfig"]),
        .testTarget(name: "VigilChunkTests", dependencies: ["VigilCore", "VigilChunk"]),
        .testTarget(name: "VigilStoreTests", dependencies: ["VigilCore", "VigilChunk", "VigilStore", "VigilTestSupport"]),
        .testTarget(name: "VigilIngestTests", dependencies: ["VigilCore", "VigilIngest"]),
        .testTarget(name: "VigilQueryTests", dependencies: [
            "VigilCore", "VigilQuery", "VigilStore", "VigilServer", "VigilTestSupport",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ], exclude: ["corpus"]),  // read from the source tree by OracleTests (#filePath)
        .testTarget(name: "VigilForecastTests", dependencies: ["VigilCore", "VigilForecast", "VigilTestSupport"]),
        .testTarget(name: "VigilEngineTests", dependencies: ["VigilCore", "VigilEngine", "VigilSim"]),
        .testTarget(name: "VigilDriversTests", dependencies: [
            "VigilCore", "VigilConfig", "VigilEngine", "VigilDrivers", "CLibvirt", "VigilTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "VigilSimTests", dependencies: ["VigilCore", "VigilEngine", "VigilSim", "VigilTestSupport"]),
        .testTarget(name: "VigilDaemonTests", dependencies: [
            "VigilCore", "VigilEngine", "VigilSim", "VigilDaemon", "VigilConfig", "VigilStore", "VigilTestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
        .testTarget(name: "VigilTopTests", dependencies: ["VigilCore", "VigilTop", "VigilTestSupport"],
                    exclude: ["Golden"]),  // read from the source tree (#filePath)
        .testTarget(name: "VigilServerTests", dependencies: [
            "VigilCore", "VigilStore", "VigilServer", "VigilIngest", "CLibvirt", "VigilTestSupport",
            "VigilConfig", "VigilIngestPath", "VigilCollectors", "VigilOnline", "VigilForecast", "VigilDaemon",
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
    ]
)

// Fuzzing (docs/fuzzing.md): the libFuzzer executable exists only when VIGIL_FUZZ=1 (`make fuzz`, which builds it
// with -sanitize=fuzzer,address into .build-fuzz), so `swift build` and `make test` never build it.
if Context.environment["VIGIL_FUZZ"] == "1" {
    package.targets.append(.executableTarget(name: "VigilFuzz", dependencies: [
        "VigilCore", "VigilChunk", "VigilStore", "VigilIngest", "VigilQuery", "VigilForecast", "VigilServer",
        .product(name: "Logging", package: "swift-log"), .product(name: "Yams", package: "Yams"),
    ], path: "Fuzz/Sources/VigilFuzz"))
}
