"""The multi-host stack: converged hosts stay converged under --check."""

from __future__ import annotations

from lab import assert_check_made_no_changes


def test_converged_hosts_report_zero_changes_under_check():
    assert_check_made_no_changes()
