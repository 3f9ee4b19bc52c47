// VigilIngest: see ARCHITECTURE.md. Implementation lands with its roadmap step.
import VigilCore
public enum VigilIngestModule { public static let name = "VigilIngest" }
