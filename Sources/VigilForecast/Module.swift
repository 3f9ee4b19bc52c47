// VigilForecast: see ARCHITECTURE.md. Implementation lands with its roadmap step.
import VigilCore
public enum VigilForecastModule { public static let name = "VigilForecast" }
