import Foundation
import Logging
import VigilConfig
import VigilCore
import VigilIngestPath

/// A collector or listener as a named loop: `vigil serve` runs each as a service of its one ServiceGroup
/// (`VigilServer.addLoop`), which restarts it with back-off when it throws.
package struct CollectorLoop: Sendable {
    package let name: String
    package let run: @Sendable () async throws -> Void

    package init(name: String, run: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.run = run
    }
}

/// Which collectors run, from the configuration: every one writes through the same `Ingestor` as the HTTP routes.
package enum Collectors {
    /// A loop for the scrape targets (when `config.scrapeConfigs` has any), the Graphite and StatsD listeners
    /// (when given an address), the host collector and the libvirt collector, as configured.
    package static func loops(config: VigilConfig, graphite: ListenAddress?, statsd: ListenAddress?,
                             statsdFlushInterval: Duration, ingestor: Ingestor, decoders: IngestDecoders,
                             logger: Logger, clock: any VigilClock) -> [CollectorLoop] {
        var loops: [CollectorLoop] = []
        if !config.scrapeConfigs.isEmpty {
            let scrapes = ScrapeManager(ingestor: ingestor, decoders: decoders, logger: logger, clock: clock,
                                        configs: config.scrapeConfigs)
            loops.append(CollectorLoop(name: "scrape targets") { await scrapes.run() })
        }
        if let g = graphite {
            let l = GraphiteListener(address: g, ingestor: ingestor, decoders: decoders, logger: logger)
            loops.append(CollectorLoop(name: "graphite listener") { try await l.run() })
        }
        if let s = statsd {
            let l = StatsDListener(address: s, ingestor: ingestor, decoders: decoders, logger: logger,
                                   flushInterval: statsdFlushInterval)
            loops.append(CollectorLoop(name: "statsd listener") { try await l.run() })
        }
        if config.hostCollector {
            let host = HostCollector(ingestor: ingestor, logger: logger, clock: clock)
            let interval = config.hostCollectorInterval ?? config.scrapeInterval
            loops.append(CollectorLoop(name: "host collector") { await host.run(every: interval) })
        }
        if let lv = config.libvirt {
            let collector = LibvirtCollector(config: lv, ingestor: ingestor, logger: logger, clock: clock)
            loops.append(CollectorLoop(name: "libvirt collector \(lv.uri)") { await collector.run() })
        }
        return loops
    }
}
