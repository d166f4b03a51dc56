"""The figures of bench/notifications_bench.py from what it observed: delivery rates, lags
and their stages, the loss/duplicate checks, CPU, and the printed table."""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from bench.intake_bench import _proc_cpu, machine_busy, postgres_pids, process_tree
from bench.notifications_load import Arrival, OrderSent, Receiver, spread
from scripts.local_platform import PROCESSES
from shared.events.received import ReceivedEvent

TOPICS = ("order-registered", "task-created")
Event = tuple[Arrival, ReceivedEvent]
ASSIGNMENT_TOOK = "order-registered@assignment"


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds used so far per process, by group (bench, each platform process, PostgreSQL)."""

    wall: float
    groups: dict[str, dict[int, float]]
    machine: tuple[float, float]

    def since(self, start: CpuUse) -> dict[str, Any]:
        """Cores used by each group between `start` and this snapshot."""
        wall = self.wall - start.wall
        # Per process: one that started meanwhile counts from zero, one that ended is lost.
        used = {
            name: sum(cpu - start.groups.get(name, {}).get(pid, 0.0) for pid, cpu in pids.items())
            for name, pids in self.groups.items()
        }
        ours = sum(used.values())
        used["platform"] = ours - used["bench"] - used["postgres"]
        busy = self.machine[0] - start.machine[0]
        total = self.machine[1] - start.machine[1]
        return {
            **{f"{name}_cores": round(value / wall, 2) for name, value in used.items()},
            "others_cores": round(max(0.0, busy - ours) / wall, 2),
            "machine_busy_pct": round(100 * busy / total, 1) if total else None,
        }


def cpu_snapshot(postgres_port: int | None) -> CpuUse:
    """CPU used so far (see CpuUse); the platform's processes by name."""
    me = os.getpid()
    groups: dict[str, list[int]] = {"bench": [me], "postgres": cluster_pids(postgres_port)}
    for pid in process_tree(me):
        if pid != me:
            groups.setdefault(_process_name(pid), []).append(pid)
    return CpuUse(
        wall=time.monotonic(),
        groups={name: {pid: _proc_cpu(pid) for pid in pids} for name, pids in groups.items()},
        machine=machine_busy(),
    )


def _process_name(pid: int) -> str:
    """ "intake" for `uvicorn --factory services.intake.app:create_app`, else "other"."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            arguments = cmdline.read().decode(errors="replace").split("\0")
    except OSError:
        return "other"
    factory = next((a for a in arguments if a.startswith("services.")), "")
    return factory.split(".")[1] if factory.count(".") >= 2 else "other"


def cluster_pids(port: int | None) -> list[int]:
    """The PostgreSQL processes started with `-p <port>` (the throwaway cluster), else all."""
    everyone = postgres_pids()
    wanted = f"\0-p\0{port}\0".encode()
    for pid in everyone:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if wanted in b"\0" + cmdline.read():
                    return process_tree(pid)
        except OSError:
            continue
    return everyone


# --------------------------------------------------------------------------- figures


def figures(raw: dict[str, Any], receiver: Receiver, args: argparse.Namespace) -> dict[str, Any]:
    """Everything the run reports, from its raw observations."""
    orders: list[OrderSent] = raw["orders"]
    start, end = raw["window"]
    measured = [o for o in orders if start <= o.sent_at < end]
    events = {topic: topic_events(receiver, topic) for topic in TOPICS}
    return {
        "settings": {
            "rate": args.rate,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "radiologists": args.radiologists,
            "postgres": raw["postgres"],
        },
        "orders": order_figures(orders, measured, args.duration),
        "delivery": delivery_rates(events, raw["stream_start"], start, end),
        "latency_ms": latencies(measured, events),
        "stages_ms": stages(measured, events, raw),
        "baseline": raw["baseline"],
        "checks": checks(orders, events, raw["tasks_stored"], receiver),
        "cpu": raw["cpu"],
        "drain_s": round(raw["drain_s"], 2),
    }


def topic_events(receiver: Receiver, topic: str) -> list[Event]:
    """Each event of `topic` delivered to the receiver, with the POST that carried it."""
    return [
        (arrival, event)
        for arrival in receiver.received(f"/events/{topic}")
        if arrival.notification.kind == "event-notification"
        for event in arrival.notification.events
    ]


def order_figures(
    orders: list[OrderSent], measured: list[OrderSent], seconds: float
) -> dict[str, Any]:
    """Orders sent and accepted, and the gateway's answer time in the window."""
    return {
        "sent": len(orders),
        "accepted": sum(1 for o in orders if o.order_id),
        "errors": Counter(o.error for o in orders if o.error),
        "measured": len(measured),
        "measured_rate": round(len(measured) / seconds, 2),
        "post_ms": spread([o.answered_at - o.sent_at for o in measured if o.order_id]),
    }


def delivery_rates(
    events: dict[str, list[Event]], stream_start: float, start: float, end: float
) -> dict[str, Any]:
    """Events and POSTs per second in the window; events/s from stream start to last arrival."""
    # A backlog drains at the platform's own pace: the whole-run rate is its capacity.
    seconds = end - start
    rates: dict[str, Any] = {}
    for topic, delivered in events.items():
        inside = [a for a, _ in delivered if start <= a.received_at < end]
        posts = {id(a) for a in inside}
        streamed = [a.received_at for a, _ in delivered if a.received_at >= stream_start]
        span = streamed[-1] - stream_start if streamed else 0.0
        rates[topic] = {
            "events_per_s": round(len(inside) / seconds, 2),
            "notifications_per_s": round(len(posts) / seconds, 2),
            "events_per_notification": round(len(inside) / len(posts), 2) if posts else None,
            "whole_run_events": len(streamed),
            "whole_run_events_per_s": round(len(streamed) / span, 2) if span else None,
        }
    rates["events_per_s"] = round(sum(r["events_per_s"] for r in rates.values()), 2)
    return rates


def latencies(measured: list[OrderSent], events: dict[str, list[Event]]) -> dict[str, Any]:
    """The two headline lags, for the orders sent in the measured window."""
    sent = {o.order_id: o for o in measured if o.order_id}
    return {
        "commit_to_delivery": spread(
            [
                a.received_at - last_updated(e)
                for a, e in events["order-registered"]
                if e.resource and e.resource["id"] in sent
            ]
        ),
        "post_to_task_delivered": spread(
            [
                a.received_at - sent[order].sent_at
                for a, e in events["task-created"]
                if (order := task_order(e)) in sent
            ]
        ),
    }


def stages(
    measured: list[OrderSent], events: dict[str, list[Event]], raw: dict[str, Any]
) -> dict[str, Any]:
    """Where the time goes, from per-stage timestamps of the measured orders."""
    sent = {o.order_id: o for o in measured if o.order_id}
    orders = {
        e.resource["id"]: (a, e)
        for a, e in events["order-registered"]
        if e.resource and e.resource["id"] in sent
    }
    tasks = {e.resource["id"]: (a, e) for a, e in events["task-created"] if e.resource}
    tasks = {tid: pair for tid, pair in tasks.items() if task_order(pair[1]) in orders}
    taken = raw["consumed"][ASSIGNMENT_TOOK]
    return {
        "order POST sent -> order written": spread(
            [last_updated(e) - sent[order].sent_at for order, (_, e) in orders.items()]
        ),
        **_delivery_stages("order", orders, raw, "ServiceRequest", "order-registered"),
        "order written -> Task written (at assignment)": spread(
            [
                last_updated(t) - last_updated(orders[str(task_order(t))][1])
                for _, t in tasks.values()
            ]
        ),
        "assignment took the order's event -> Task written": spread(
            [
                last_updated(t) - taken[str(task_order(t))]
                for _, t in tasks.values()
                if task_order(t) in taken
            ]
        ),
        **_delivery_stages("Task", tasks, raw, "Task", "task-created"),
    }


def _delivery_stages(
    label: str, delivered: dict[str, Event], raw: dict[str, Any], resource_type: str, topic: str
) -> dict[str, Any]:
    """The stages from written to received of one topic's events, by resource id."""
    dispatched = raw["dispatched"][resource_type]
    relayed = {rid: dispatched[rid] for rid in delivered if rid in dispatched}
    result = {
        f"{label} written -> relay dispatched": spread(
            [relayed[rid] - last_updated(e) for rid, (_, e) in delivered.items() if rid in relayed]
        )
    }
    for key, taken in raw["consumed"].items():
        if key.startswith(f"{topic}@"):
            consumer = key.split("@", 1)[1]
            result[f"{label} relay dispatched -> {consumer} took it"] = spread(
                [taken[rid] - relayed[rid] for rid in relayed if rid in taken]
            )
            # With a backlog, the consumer takes events back to back: the gap is its
            # handling time per event; without one it is the gap between orders.
            moments = sorted(taken[rid] for rid in relayed if rid in taken)
            result[f"{label}: gap between events {consumer} took"] = spread(
                [later - earlier for earlier, later in pairwise(moments)]
            )
    result[f"{label} relay dispatched -> bench notification built"] = spread(
        [instant(a.built_at) - relayed[rid] for rid, (a, _) in delivered.items() if rid in relayed]
    )
    result[f"{label} notification built -> received"] = spread(
        [a.received_at - instant(a.built_at) for a, _ in delivered.values()]
    )
    return result


def checks(
    orders: list[OrderSent], events: dict[str, list[Event]], tasks_stored: int, receiver: Receiver
) -> dict[str, Any]:
    """Nothing lost, nothing duplicated, event numbers contiguous from 1."""
    accepted = {o.order_id for o in orders if o.order_id}
    registered = Counter(e.resource["id"] for _, e in events["order-registered"] if e.resource)
    assigned = Counter(task_order(e) for _, e in events["task-created"])
    numbers = {topic: sorted(e.number for _, e in delivered) for topic, delivered in events.items()}
    result: dict[str, Any] = {
        "orders_accepted": len(accepted),
        "order_registered_missing": len(accepted - registered.keys()),
        "order_registered_duplicated": sum(1 for n in registered.values() if n > 1),
        "order_registered_unexpected": len(registered.keys() - accepted),
        "task_created_missing": len(accepted - assigned.keys()),
        "task_created_duplicated": sum(1 for n in assigned.values() if n > 1),
        "tasks_stored": tasks_stored,
        "numbers_contiguous_from_1": {
            topic: found == list(range(1, len(found) + 1)) for topic, found in numbers.items()
        },
        "rejected_posts": len(receiver.rejected),
        "examples": {
            "order_registered_missing": sorted(accepted - registered.keys())[:5],
            "task_created_missing": sorted(accepted - assigned.keys())[:5],
            "rejected_posts": receiver.rejected[:5],
        },
    }
    result["ok"] = (
        all(
            result[k] == 0
            for k in result
            if k.startswith("order_registered_") or k.startswith("task_created_")
        )
        and tasks_stored == len(accepted)
        and all(result["numbers_contiguous_from_1"].values())
        and result["rejected_posts"] == 0
    )
    return result


def task_order(event: ReceivedEvent) -> str | None:
    """The id of the order a task-created event's Task is for (its focus)."""
    reference = ((event.resource or {}).get("focus") or {}).get("reference", "")
    return reference.rsplit("ServiceRequest/", 1)[-1] if "ServiceRequest/" in reference else None


def last_updated(event: ReceivedEvent) -> float:
    """The event resource's meta.lastUpdated, as a Unix time."""
    return instant((event.resource or {})["meta"]["lastUpdated"])


def instant(text: str) -> float:
    """A FHIR instant as a Unix time."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --------------------------------------------------------------------------- report


def print_report(result: dict[str, Any]) -> None:
    """The figures as a table on stdout."""
    settings, orders, cpu = result["settings"], result["orders"], result["cpu"]
    pg = settings["postgres"]
    print(
        f"Notifications: {settings['rate']:g} orders/s, {settings['duration_s']:g} s measured "
        f"after {settings['warmup_s']:g} s warm-up, {settings['radiologists']} radiologists"
    )
    processes = ", ".join(
        f"{name} {cpu[f'{name}_cores']}" for name in PROCESSES if f"{name}_cores" in cpu
    )
    print(
        f"PostgreSQL {pg['server_version']} (fsync={pg['fsync']}, synchronous_commit="
        f"{pg['synchronous_commit']}); machine busy {cpu['machine_busy_pct']} %, in cores: "
        f"platform {cpu['platform_cores']} ({processes}), PostgreSQL {cpu['postgres_cores']}, "
        f"bench {cpu['bench_cores']}, others {cpu['others_cores']}"
    )
    errors = ", ".join(f"{n} {e}" for e, n in orders["errors"].items()) or "none"
    print(
        f"orders: {orders['sent']} sent ({orders['measured']} measured, "
        f"{orders['measured_rate']:g}/s), {orders['accepted']} accepted, errors: {errors}; "
        f"all delivered {result['drain_s']:g} s after the last answer"
    )
    for topic in TOPICS:
        rate = result["delivery"][topic]
        print(
            f"delivered {topic}: {rate['events_per_s']:g} events/s in "
            f"{rate['notifications_per_s']:g} POSTs/s ({rate['events_per_notification']} each); "
            f"whole run {rate['whole_run_events']} at {rate['whole_run_events_per_s']}/s"
        )
    print(f"delivered in all: {result['delivery']['events_per_s']:g} events/s")
    _print_spreads("latency, ms", _headline_rows(result))
    _print_spreads("stages, ms", list(result["stages_ms"].items()))
    _print_spreads(
        "baseline: signed webhook POSTs to the same receiver, ms", _baseline_rows(result)
    )
    _print_checks(result["checks"])


def _headline_rows(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    latency = result["latency_ms"]
    return [
        ("order POST sent -> gateway answered", result["orders"]["post_ms"]),
        ("order-registered: lastUpdated -> received", latency["commit_to_delivery"]),
        ("order POST sent -> task-created received", latency["post_to_task_delivered"]),
    ]


def _baseline_rows(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    baseline = result["baseline"]
    rate = baseline["paced"]["rate"]
    return [
        (f"at {rate:g}/s: round trip", baseline["paced"]["round_trip_ms"]),
        (f"at {rate:g}/s: sent -> received", baseline["paced"]["one_way_ms"]),
        (
            f"back to back ({baseline['max']['posts_per_s']} POSTs/s): round trip",
            baseline["max"]["round_trip_ms"],
        ),
    ]


def _print_spreads(title: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    print(f"\n{title:<56} {'n':>6} {'p50':>8} {'p99':>8} {'max':>8}")
    for label, values in rows:
        cells = [_cell(values[key]) for key in ("p50", "p99", "max")]
        print(f"  {label:<54} {values['n']:>6} {cells[0]:>8} {cells[1]:>8} {cells[2]:>8}")


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _print_checks(checks: dict[str, Any]) -> None:
    print(f"\nchecks: {'OK' if checks['ok'] else 'FAILED'}")
    for name, value in checks.items():
        if name not in ("ok", "examples") or not checks["ok"]:
            print(f"  {name}: {value}")
