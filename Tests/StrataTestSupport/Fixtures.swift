@_exported import StrataSeededRandom
import StrataProjections

/// The reference projection as tests use it.
public enum DemoCountsProjectionFixture {
    public static func make() -> DemoCountsProjection { DemoCountsProjection() }
}
