"""/metrics' text is made at most once per ``metrics_max_age`` seconds, shared by the scrapes
meanwhile, and made for every scrape with 0."""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry, Counter

from beacon.web.prometheus import Exposition


def _line(body: bytes) -> str:
    return next(x for x in body.decode().splitlines() if x.startswith("hits_total "))


def test_the_same_text_within_max_age_then_a_new_one() -> None:
    registry = CollectorRegistry()
    hits = Counter("hits", "test", registry=registry)
    exposition = Exposition(registry, max_age=0.3)
    hits.inc()
    first = exposition.body()
    hits.inc()
    assert exposition.body() is first and _line(first) == "hits_total 1.0"
    time.sleep(0.35)
    assert _line(exposition.body()) == "hits_total 2.0"


def test_max_age_zero_makes_it_every_time() -> None:
    registry = CollectorRegistry()
    hits = Counter("hits", "test", registry=registry)
    exposition = Exposition(registry, max_age=0)
    for n in range(1, 4):
        hits.inc()
        assert _line(exposition.body()) == f"hits_total {n}.0"


def test_concurrent_scrapes_share_one_making() -> None:
    registry = CollectorRegistry()
    made = []

    class Slow:
        def collect(self):  # type: ignore[no-untyped-def]
            made.append(1)
            time.sleep(0.2)
            return iter(())

    registry.register(Slow())  # type: ignore[arg-type]
    exposition = Exposition(registry, max_age=5)
    bodies: list[bytes] = []
    threads = [threading.Thread(target=lambda: bodies.append(exposition.body())) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and len(bodies) == 5 and len(set(map(id, bodies))) == 1


def test_max_age_zero_scrapes_do_not_wait_for_each_other() -> None:
    registry = CollectorRegistry()
    inside = threading.Barrier(2, timeout=2)

    class Meets:
        def collect(self):  # type: ignore[no-untyped-def]
            inside.wait()  # both scrapes are making their text at once, or this times out
            return iter(())

    registry.register(Meets())  # type: ignore[arg-type]
    exposition = Exposition(registry, max_age=0)
    errors: list[BaseException] = []

    def scrape() -> None:
        try:
            exposition.body()
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=scrape) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
