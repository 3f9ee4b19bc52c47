// VigilQuery: see ARCHITECTURE.md. Implementation lands with its roadmap step.
import VigilCore
public enum VigilQueryModule { public static let name = "VigilQuery" }
