// The Atlas domain: SBOMs, grants, commits and registry data into a dependency graph with metrics.
