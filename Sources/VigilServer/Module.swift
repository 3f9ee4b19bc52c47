// VigilServer: see ARCHITECTURE.md. Implementation lands with its roadmap step.
import VigilCore
public enum VigilServerModule { public static let name = "VigilServer" }
