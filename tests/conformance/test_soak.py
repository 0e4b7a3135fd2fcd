"""The bounded CI version of the soak (soak.py; `scripts/soak` runs the full one): 64 clients
through both SDKs for 8 s once each has done a first cycle. It asserts what must hold however fast the machine is: no error (none
is injected), every client finishes, and the server's memory does not keep growing."""

from soak import run

SECONDS = 8
# A leak shows as growth proportional to requests (the 60 KB nonces of issue 16 grew RSS by
# 330 MB in 3,000 requests); allocator and thread-pool settling stays well under this.
MAX_GROWTH_KIB = 16 * 1024


def test_64_clients_for_8_seconds_get_no_error_and_memory_stays_flat():
    report = run(SECONDS, 64)
    assert report["errors"] == {}, report
    assert report["stuck_clients"] == 0, report
    assert report["cycles"] > 0, report
    assert report["rss_kib_end"] - report["rss_kib_warm"] <= MAX_GROWTH_KIB, report
