"""Demo data (演示数据): everything `portal demo` seeds."""
