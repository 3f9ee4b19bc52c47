import Foundation
import Logging
import Synchronization
import VigilConfig
import VigilCore
import VigilForecast
import VigilStore

// The `forecast:` section (`ForecastConfig`) is decoded by VigilConfig; its selectors and model files are checked by
// `ForecastConfig.onlineConfiguration()` (Config.swift). See docs/configuration.md and docs/models.md §6.

extension VigilServer {
    /// Runs the online forecaster every `config.interval` of `options.clock` while the server runs: the watched series
    /// are pulled from the store as one matrix, resampled to the model's step, forecast and scored on the BLAS thread,
    /// and written back as `vigil_forecast`, `vigil_anomaly_score` (and `vigil_failure_probability`) series.
    /// Returns the forecaster (its settings can be replaced on a config reload).
    @discardableResult
    public func enableOnlineForecaster(_ config: ForecastConfig, appender: any SampleAppender) throws -> OnlineModelLoop {
        let fc = try config.onlineConfiguration()
        let forecaster = OnlineForecaster(reader: reader, appender: appender, config: fc)
        let loop = OnlineModelLoop(forecaster: forecaster, interval: config.interval, clock: options.clock,
                                   metrics: metrics, logger: logger)
        logger.info("online forecaster on", metadata: [
            "watch": "\(config.selectorTexts.joined(separator: " or "))", "interval": "\(config.interval)",
            "model": "\(config.modelPath ?? "fit per tick")",
            "saturation_model": "\(config.saturationModelPath ?? "none")", "failure_model": "\(config.failureModelPath ?? "none")",
        ])
        addLoop("online forecaster") { await loop.run() }
        return loop
    }
}

/// The loop around an `OnlineForecaster`: one tick every `interval` of its clock, self-metrics after each, and the
/// first fallback or refit logged once (then only counted).
public final class OnlineModelLoop: Sendable {
    public let forecaster: OnlineForecaster
    let clock: any VigilClock
    let metrics: SelfMetrics
    let logger: Logger
    private let state: Mutex<(interval: Duration, warnedFallback: Bool, warnedRefit: Bool)>

    public init(forecaster: OnlineForecaster, interval: Duration, clock: any VigilClock, metrics: SelfMetrics, logger: Logger) {
        self.forecaster = forecaster
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
        state = Mutex((interval, false, false))
    }

    /// Applies a reloaded `forecast:` section: new selectors and models from the next tick on (detector state of
    /// series still watched is kept).
    public func reload(_ config: ForecastConfig) async throws {
        let fc = try config.onlineConfiguration()
        state.withLock { $0.interval = config.interval }
        await forecaster.reconfigure(fc)
    }

    /// Ticks until cancelled.
    public func run() async {
        while !Task.isCancelled {
            let start = clock.nowMillis()
            await tickOnce(now: start)
            let interval = state.withLock { $0.interval }
            let (s, atto) = interval.components
            let next = start + s * 1000 + atto / 1_000_000_000_000_000
            do { try await clock.sleep(untilMillis: next) } catch { return }
        }
    }

    /// One tick at `now` (ms of the loop's clock), with its self-metrics.
    public func tickOnce(now: Int64) async {
        let wall = ContinuousClock.now
        do {
            let r = try await forecaster.tick(now: now)
            metrics.set("vigil_forecaster_series_watched", [], Double(r.seriesRead))
            metrics.set("vigil_forecaster_series_forecast", [], Double(r.seriesForecast))
            metrics.set("vigil_forecaster_samples_written", [], Double(r.samplesWritten))
            metrics.set("vigil_forecaster_fallbacks", [], Double(r.fallbacks))
            metrics.add("vigil_forecaster_fallbacks_total", [], Double(r.fallbacks))
            metrics.add("vigil_forecaster_refits_total", [], Double(r.refits))
            metrics.add("vigil_forecaster_resampled_series_total", [], Double(r.seriesResampled))
            metrics.set("vigil_forecaster_saturation_probabilities", [], Double(r.saturationProbabilities))
            // Processing time, not simulated time: how long the tick kept the BLAS thread and the store busy.
            let took = ContinuousClock.now - wall
            metrics.set("vigil_forecaster_tick_seconds", [],
                        Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18)
            let (logFallback, logRefit) = state.withLock { s -> (Bool, Bool) in
                let f = r.fallbacks > 0 && !s.warnedFallback, rf = r.refits > 0 && !s.warnedRefit
                if f { s.warnedFallback = true }
                if rf { s.warnedRefit = true }
                return (f, rf)
            }
            if logFallback {
                logger.warning("online forecaster fell back to a naive forecast (counted in vigil_forecaster_fallbacks_total; logged once)",
                               metadata: ["series": "\(r.fallbackSeries.prefix(5).joined(separator: ", "))", "count": "\(r.fallbacks)"])
            }
            if logRefit {
                logger.warning("online forecaster refitted a model on the pulled history instead of using forecast.model (counted in vigil_forecaster_refits_total; logged once)",
                               metadata: ["series": "\(r.refitSeries.prefix(5).joined(separator: ", "))", "count": "\(r.refits)"])
            }
            logger.debug("forecast tick", metadata: ["series": "\(r.seriesRead)", "written": "\(r.samplesWritten)"])
        } catch is CancellationError {
            return
        } catch {
            logger.error("forecast tick failed", metadata: ["error": "\(error)"])
        }
    }
}
