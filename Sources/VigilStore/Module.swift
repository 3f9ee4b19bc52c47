// VigilStore: see ARCHITECTURE.md. Implementation lands with its roadmap step.
import VigilCore
public enum VigilStoreModule { public static let name = "VigilStore" }
