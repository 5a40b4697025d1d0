"""The check tests share one bench (tests/support/check_bench.py): its engines score once per
test session."""

from tests.support.check_bench import bench, graded, judge, pairs, store  # noqa: F401
