import Testing
import VigilCore

/// The self-metrics registry: several components register into one `SelfMetrics`, and one render gives each family
/// once, with its HELP/TYPE, in the text exposition format.
@Suite struct SelfMetricsTests {
    @Test func componentsShareOneRegistryRenderedOnce() {
        let m = SelfMetrics()
        // Two "modules" registering their own families.
        m.describe("demo_collections_total", "counter", "Collections by result.")
        m.add("demo_collections_total", [Label("result", "success")])
        m.add("demo_collections_total", [Label("result", "success")], 2)
        m.add("demo_collections_total", [Label("result", "failure")])
        m.describe("demo_queue_depth", "gauge", "Items waiting.")
        m.set("demo_queue_depth", [Label("b", "2"), Label("a", "1")], 7)
        m.observe("demo_step_seconds", [], 0.2, buckets: [0.1, 1])
        m.addProvider { "demo_store_series 42\n" }
        let text = m.render()
        #expect(text.components(separatedBy: "# TYPE demo_collections_total counter\n").count == 2)
        #expect(text.contains("# HELP demo_collections_total Collections by result.\n"))
        #expect(text.contains("demo_collections_total{result=\"success\"} 3\n"))
        #expect(text.contains("demo_collections_total{result=\"failure\"} 1\n"))
        // Labels are sorted by name whatever order they were given in.
        #expect(text.contains("demo_queue_depth{a=\"1\",b=\"2\"} 7\n"))
        #expect(text.contains("demo_step_seconds_bucket{le=\"0.1\"} 0\ndemo_step_seconds_bucket{le=\"1\"} 1\n"))
        #expect(text.contains("demo_step_seconds_count 1\n"))
        #expect(text.hasSuffix("demo_store_series 42\n"))
        #expect(m.counter("demo_collections_total", [Label("result", "success")]) == 3)
        #expect(m.gauge("demo_queue_depth", [Label("a", "1"), Label("b", "2")]) == 7)
    }
}
