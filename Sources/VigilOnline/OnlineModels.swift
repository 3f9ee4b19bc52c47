import Foundation
import Logging
import Synchronization
import VigilConfig
import VigilCore
import VigilForecast

// The `forecast:` section (`ForecastConfig`) is decoded by VigilConfig; its selectors and model files are checked by
// `ForecastConfig.onlineConfiguration()` (Config.swift). See docs/configuration.md and docs/models.md §6.

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
        // This loop's metrics, in the process's one registry (rendered with the rest at /metrics).
        for (name, type, help) in [
            ("vigil_forecaster_series_watched", "gauge", "Series the last forecaster tick read."),
            ("vigil_forecaster_series_forecast", "gauge", "Series the last forecaster tick forecast."),
            ("vigil_forecaster_samples_written", "gauge", "Samples the last forecaster tick wrote back."),
            ("vigil_forecaster_fallbacks", "gauge", "Series the last tick forecast naively (too little history)."),
            ("vigil_forecaster_fallbacks_total", "counter", "Naive-forecast fallbacks, all ticks."),
            ("vigil_forecaster_refits_total", "counter", "Models refitted on the pulled history instead of forecast.model."),
            ("vigil_forecaster_fits_on_input_total", "counter", "Models fitted on the pulled history (each is reused for an hour of the clock)."),
            ("vigil_forecaster_resampled_series_total", "counter", "Series resampled to the model's step before forecasting."),
            ("vigil_forecaster_saturation_probabilities", "gauge", "Saturation probabilities the last tick wrote."),
            ("vigil_forecaster_tick_seconds", "gauge", "Processing time of the last forecaster tick."),
        ] { metrics.describe(name, type, help) }
    }

    /// The loop for a `forecast:` section: every `config.interval` of `clock` the watched series are pulled from
    /// `reader` as one matrix, resampled to the model's step, forecast and scored on the BLAS thread, and written
    /// back through `appender` as `vigil_forecast`, `vigil_anomaly_score` (and `vigil_failure_probability`) series.
    /// Run it with `run()` (in `vigil serve`, as a service of the server: `VigilServer.addLoop`); its settings can be
    /// replaced on a config reload.
    package static func make(_ config: ForecastConfig, reader: any SeriesReader, appender: any SampleAppender,
                            clock: any VigilClock, metrics: SelfMetrics, logger: Logger) throws -> OnlineModelLoop {
        let fc = try config.onlineConfiguration()
        let forecaster = OnlineForecaster(reader: reader, appender: appender, config: fc)
        let loop = OnlineModelLoop(forecaster: forecaster, interval: config.interval, clock: clock,
                                   metrics: metrics, logger: logger)
        logger.info("online forecaster on", metadata: [
            "watch": "\(config.selectorTexts.joined(separator: " or "))", "interval": "\(config.interval)",
            "model": "\(config.modelPath ?? "fit per tick")",
            "saturation_model": "\(config.saturationModelPath ?? "none")", "failure_model": "\(config.failureModelPath ?? "none")",
        ])
        return loop
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
            metrics.add("vigil_forecaster_fits_on_input_total", [], Double(r.fitsOnInput))
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
